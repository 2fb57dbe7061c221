"""`kill -9` of the real gateway mid-message: every message answered exactly once after a restart.

The gateway runs as a child process (`python -m autobot --config ... gateway`,
the real command, Zulip enabled in its config) against the loopback Zulip fake and a slow model fake in
this test process. A user writes; the gateway is killed with SIGKILL and
started again. The fake records every message the bot sends: each message
must be answered exactly once. Two moments are killed:

- journaled: the model has the request (the turn runs), the message is in
  the inbound journal and acknowledged to Zulip, which no longer holds it:
  the journal is the only copy, and the restart replays it;
- not yet journaled: the channel is still downloading the message's upload
  (the download stalls), so nothing is journaled or acknowledged: the
  restarted gateway resumes the same event queue (saved in `state/`) and
  Zulip delivers the message again.

In normal operation too, many messages from several users get one reply each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_zulip import serve_fake_zulip
from autobot.testing.gateway_process import (
    POLL_SECONDS,
    STEP_SECONDS,
    free_port,
    gateway_process,
    killed,
    pending_journal_entries,
    slow_first_echo,
    stop_gracefully,
    until,
)
from autobot.testing.llm_script import ScriptedReply
from autobot.testing.telegram_bot import last_user_text
from autobot.testing.zulip.faults import Fault

from .bot import make_zulip_bot


@pytest.mark.parametrize("journaled", [True, False], ids=["journaled", "not-yet-journaled"])
async def test_kill_9_then_restart_answers_the_message_once(
    tmp_path: Path, journaled: bool
) -> None:
    log = tmp_path / "gateway.log"
    async with (
        serve_fake_zulip() as zulip,
        serve_fake_anthropic(handler=slow_first_echo()) as model,
    ):
        alice = zulip.add_user("Alice", "alice@example.com")
        notes = zulip.add_upload(b"milk, eggs", "notes.txt")
        config = make_zulip_bot(
            tmp_path, zulip=zulip, model_url=model.base_url, allow_from=["*"], port=free_port()
        )
        text = "remember the milk" if journaled else f"[notes.txt]({notes}) remember the milk"
        async with gateway_process(config, log) as first:
            await until(lambda: zulip.waiting_polls > 0, first, log)
            if not journaled:
                zulip.fail_next("download", Fault.stall())
            zulip.send_direct(alice, text)
            if journaled:
                await until(lambda: len(model.requests) == 1, first, log)  # the turn runs
                await until(lambda: zulip.pending_events() == 0, first, log)  # acknowledged
            else:
                await until(lambda: bool(zulip.calls_to("download")), first, log)
                assert zulip.pending_events() == 1 and model.requests == []
            await killed(config, first)
        assert zulip.sent == []  # killed before any answer
        async with gateway_process(config, log) as second:
            with trio.fail_after(STEP_SECONDS):
                reply = await zulip.next_direct(alice)
            assert reply.content == f"echo: {text}"
            zulip.send_direct(alice, "and eggs")  # anything still coming comes before it
            with trio.fail_after(STEP_SECONDS):
                later = await zulip.next_direct(alice)
            assert later.content == "echo: and eggs"
            await stop_gracefully(second, log)
    assert [m.content for m in zulip.direct_to(alice)] == [f"echo: {text}", "echo: and eggs"]
    assert zulip.registered == 1  # the restarted gateway resumed the same queue
    assert pending_journal_entries(config, "zulip") == 0
    asked = [last_user_text(r.json()).splitlines()[-1] for r in model.requests]
    killed_turn = [text] if journaled else []  # asked again after the restart
    assert asked == [*killed_turn, text, "and eggs"]
    if not journaled:
        assert (config.parent / "workspace" / "inbox").is_dir()
        [saved] = (config.parent / "workspace" / "inbox").iterdir()
        assert saved.read_bytes() == b"milk, eggs"


async def test_many_messages_are_each_answered_once(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    per_user = 6
    async with (
        serve_fake_zulip() as zulip,
        serve_fake_anthropic(
            handler=lambda body: ScriptedReply(text="echo: " + last_user_text(body))
        ) as model,
    ):
        people = [zulip.add_user(f"U{n}", f"u{n}@example.com") for n in range(4)]
        config = make_zulip_bot(
            tmp_path, zulip=zulip, model_url=model.base_url, allow_from=["*"], port=free_port()
        )
        async with gateway_process(config, log) as process:
            await until(lambda: zulip.waiting_polls > 0, process, log)
            for round_ in range(per_user):  # bursts: several events per poll
                for user in people:
                    zulip.send_direct(user, f"{user.id} says {round_}")
                await trio.sleep(POLL_SECONDS)
            await until(
                lambda: all(len(zulip.direct_to(u)) >= per_user for u in people), process, log
            )
            for user in people:  # one more each: anything still coming comes before it
                zulip.send_direct(user, "last")
            await until(
                lambda: all(len(zulip.direct_to(u)) >= per_user + 1 for u in people),
                process,
                log,
            )
            await stop_gracefully(process, log)
    for user in people:
        assert [m.content for m in zulip.direct_to(user)] == [
            *(f"echo: {user.id} says {n}" for n in range(per_user)),
            "echo: last",
        ]
    assert len(model.requests) == len(people) * (per_user + 1)
    assert pending_journal_entries(config, "zulip") == 0
