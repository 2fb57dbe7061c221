"""Ask a running gateway how it is: `GET /healthz` and `GET /metrics` (Trio).

The gateway's HTTP actor (`autobot.http.actor`) answers `/healthz` with
`ok` or 503 and one problem per line, and `/metrics` with Prometheus text
(`autobot.gateway.metrics`: `autobot_channel_up{channel=...}`,
`autobot_sessions_active`, ...). The client goes straight to the configured
address (no proxy from the environment, no redirect), reads each body up to
a cap, and gives up after `PROBE_SECONDS`: a gateway that does not answer
in that time counts as not running. `parse_samples` reads the Prometheus
text (pure).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

import attrs
import httpx
import trio

from autobot.http.body import BodyTooLarge, Overflow, read_capped

PROBE_SECONDS = 2.0  # a local gateway answers in milliseconds; status must stay quick
MAX_HEALTH_BYTES = 64 * 1024
MAX_METRICS_BYTES = 1024 * 1024
# Where to reach a gateway bound to every address.
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}
_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@attrs.frozen
class Sample:
    """One Prometheus sample: its labels and value."""

    labels: Mapping[str, str]
    value: float


@attrs.frozen(kw_only=True)
class GatewayAnswer:
    """What the gateway said: `running` (it answered /healthz), `healthy`
    (200 `ok`), the problem lines of a 503, the metric samples by name, and
    `detail`: why it did not answer, or what went wrong reading it."""

    url: str
    running: bool
    healthy: bool = False
    problems: tuple[str, ...] = ()
    samples: Mapping[str, tuple[Sample, ...]] = attrs.field(factory=dict)
    detail: str = ""


def gateway_url(host: str, port: int) -> str:
    """The URL that reaches a gateway bound to `host:port` from this machine."""
    host = _LOOPBACK.get(host, host)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    return f"http://[{literal}]:{port}" if literal.version == 6 else f"http://{literal}:{port}"


def parse_samples(text: str) -> dict[str, tuple[Sample, ...]]:
    """The samples of Prometheus text, by metric name; comments and lines
    that are not a sample are skipped."""
    found: dict[str, list[Sample]] = {}
    for line in text.splitlines():
        match = _SAMPLE.fullmatch(line.strip())
        if match is None:
            continue
        name, raw_labels, raw_value = match.groups()
        try:
            value = float(raw_value)
        except ValueError:
            continue
        labels = {
            key: re.sub(r"\\.", lambda m: _UNESCAPE.get(m.group(), m.group()), escaped)
            for key, escaped in _LABEL.findall(raw_labels or "")
        }
        found.setdefault(name, []).append(Sample(labels=labels, value=value))
    return {name: tuple(samples) for name, samples in found.items()}


async def _get(client: httpx.AsyncClient, url: str, limit: int) -> tuple[int, str]:
    async with client.stream("GET", url) as response:
        body = await read_capped(response.aiter_bytes(), limit, Overflow.REFUSE)
        return response.status_code, body.data.decode("utf-8", "replace")


async def _ask(client: httpx.AsyncClient, url: str) -> GatewayAnswer:
    try:
        status, health = await _get(client, f"{url}/healthz", MAX_HEALTH_BYTES)
    except (httpx.HTTPError, BodyTooLarge) as exc:
        return GatewayAnswer(url=url, running=False, detail=_reason(exc))
    if status not in (200, 503):
        return GatewayAnswer(url=url, running=False, detail=f"/healthz answered HTTP {status}")
    return GatewayAnswer(
        url=url,
        running=True,
        healthy=status == 200,
        problems=() if status == 200 else tuple(health.splitlines()),
    )


async def _metrics(client: httpx.AsyncClient, answer: GatewayAnswer) -> GatewayAnswer:
    try:
        status, metrics = await _get(client, f"{answer.url}/metrics", MAX_METRICS_BYTES)
    except (httpx.HTTPError, BodyTooLarge) as exc:
        return attrs.evolve(answer, detail=f"/metrics: {_reason(exc)}")
    if status != 200:
        return attrs.evolve(answer, detail=f"/metrics answered HTTP {status}")
    return attrs.evolve(answer, samples=parse_samples(metrics))


async def ask_gateway(host: str, port: int) -> GatewayAnswer:
    """Ask the gateway at `host:port`, within `PROBE_SECONDS` in all; never
    raises for a gateway that is down, slow or answers nonsense (that is in
    the answer)."""
    url = gateway_url(host, port)
    late = f"no answer within {PROBE_SECONDS:g} s"
    answer = GatewayAnswer(url=url, running=False, detail=late)
    with trio.move_on_after(PROBE_SECONDS):
        async with httpx.AsyncClient(trust_env=False, timeout=None) as client:
            answer = await _ask(client, url)
            if answer.running:
                healthz = answer
                answer = attrs.evolve(healthz, detail=f"/metrics: {late}")  # if time runs out
                answer = await _metrics(client, healthz)
    return answer


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "nothing listens there"
    return str(exc) or type(exc).__name__
