"""Child process: the loopback Anthropic Messages API fake both peers talk to.

    python -m bench.fake_model        (from scripts/; see bench.children)

Hello: `{"base_url": ...}`. Each user message the benchmark posts reads
`bench <tag> latency=<seconds>`; the model answers it with `ok <tag>` after
that many seconds (streamed or not, as the client asks), so the Telegram
side can tell which message a reply answers, and one fake serves rounds of
different latencies. The tag is looked for in the request's messages, last
occurrence first (earlier turns of the conversation come before it); a
request without one (a peer's housekeeping call) is answered `ok` at once.

Request `{"op": "stats"}` answers `{"requests": n, "request_bytes": n}`: how
many model calls arrived so far and their body bytes (what a peer sends the
model per message is one of the things that limits it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import trio

from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.llm_script import ScriptedReply
from bench.children import Answer, RequestRefused, serve_requests

MARKER = re.compile(r"bench ([a-z]+\.[0-9]+\.[0-9]+) latency=([0-9]+(?:\.[0-9]+)?)")
MAX_LATENCY = 60.0  # seconds; a larger value is a benchmark bug, refused at the CLI


def user_message_text(tag: str, latency: float) -> str:
    """What a benchmark user writes: the tag the reply must carry and the
    latency the model is to take. Raises `ValueError` for a bad latency."""
    if not 0 <= latency <= MAX_LATENCY:
        raise ValueError(f"latency must be within 0-{MAX_LATENCY:.0f} s, got {latency}")
    return f"bench {tag} latency={latency:.3f}"


def reply_text(tag: str) -> str:
    """The model's answer to the message tagged `tag`."""
    return f"ok {tag}"


def answer(body: Mapping[str, Any]) -> ScriptedReply:
    """The reply to one Messages API request body (see the module docstring)."""
    found = MARKER.findall(json.dumps(body.get("messages", [])))
    if not found:
        return ScriptedReply(text="ok")
    tag, latency = found[-1]
    return ScriptedReply(text=reply_text(tag), latency=min(float(latency), MAX_LATENCY))


async def serve() -> None:
    async with serve_fake_anthropic(handler=answer) as fake:

        async def handle(request: dict[str, Any]) -> Answer:
            if request.get("op") != "stats":
                raise RequestRefused(f"unknown request {request!r}")
            calls = [r for r in fake.requests if r.path.endswith("/v1/messages")]
            return {"requests": len(calls), "request_bytes": sum(len(r.body) for r in calls)}

        await serve_requests({"base_url": fake.base_url}, handle)


if __name__ == "__main__":
    trio.run(serve)
