"""`autobot demo [--once]`: the whole gateway, talking to a local scripted model.

For a machine with no LLM credentials. `demo` checks the bot like the
gateway does (doctor errors other than the missing provider stop it), then
runs the real tree (log actor, sandbox pool, session router, HTTP actor on
the configured host and port) with one change made in memory only: the
model's far end is the loopback Anthropic fake answering with the demo
brain (`autobot.demo.brain`). The real anthropic SDK, rate limits, tool
registry, bubblewrap sandbox, SSRF guard and redacting log actor all run.

It then plays the user of `demo:local` (`DEMO_MESSAGES`, one at a time),
prints each exchange with the real tool results, fetches /healthz, and
checks logs/autobot.log: this run's ACCESS DENIED count, and that the demo
key (logged once on purpose) appears nowhere in it. With `once` the tree
stops gracefully and 0 is returned; otherwise the gateway keeps serving
until SIGINT/SIGTERM, then 0. Every failure is one line on stderr and 1.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import attrs
import httpx
import trio

from autobot.app import Gateway, build_gateway
from autobot.channels.spec import ChannelSpec
from autobot.config import ConfigError, LoadedConfig, load_config
from autobot.demo.brain import DEMO_MESSAGES, answer
from autobot.demo.channel import DEMO_CHANNEL, DemoChannel
from autobot.demo.conversation import Exchange, NotAConversation, current_turn
from autobot.demo.logcheck import LogCheck, check_log, end_marker, start_marker
from autobot.demo.provider import (
    DEMO_MODEL,
    PROVIDER_FINDINGS,
    blocking_errors,
    demo_key,
    with_demo_provider,
)
from autobot.demo.transcript import Places, exchange_text, where_to_look
from autobot.doctor.render import render_text
from autobot.doctor.run import run_checks
from autobot.doctor.sandbox_check import SandboxProber
from autobot.llm.selection import ProviderConfigError
from autobot.logs.redact import Redactor
from autobot.logs.sinks import LOG_FILE_NAME
from autobot.runtime import ChildStartFailed, SignalOutcome, run_until_signalled
from autobot.sandbox.probe import probe_sandbox
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.llm_script import FakeLLM

# One exchange: a few LLM round trips to the local model and a few sandboxed
# tools (the exec tool's own limit is tools.exec.timeout, 60 s by default).
TURN_TIMEOUT = 150.0
HEALTH_TIMEOUT = 10.0
# The log actor writes within milliseconds; this only bounds a stuck disk.
LOG_WAIT_SECONDS = 10.0
LOG_POLL_SECONDS = 0.05


class DemoFailed(Exception):
    """The demo could not show what it promises (the message says what and where)."""


@attrs.define(kw_only=True, eq=False)
class DemoRun:
    """One demo run of a built gateway: owns the conversation, the checks and
    the printing. `main` runs the tree; `gateway.stop()` ends it."""

    gateway: Gateway
    fake: FakeLLM
    key: str
    run_id: str
    once: bool
    stdout: TextIO
    disk: trio.CapacityLimiter  # blocking reads of the log file, one at a time
    finished: bool = attrs.field(init=False, default=False)

    @property
    def log_file(self) -> Path:
        return self.gateway.loaded.logs_dir / LOG_FILE_NAME

    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    async def main(self) -> None:
        """Start the tree, run the scenario, report; then stop (`once`) or keep
        serving. A tree that stops (signal) cancels whatever is still running."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._run_tree, nursery.cancel_scope)
            # Logged on purpose: the key must come out as [REDACTED] in the log file.
            self.gateway.logger.info(
                start_marker(self.run_id),
                model=DEMO_MODEL,
                api_base=self.fake.base_url,
                api_key=self.key,
            )
            self._say(self._intro())
            await self._converse()
            await self._report()
            self.finished = True
            if self.once:
                self._say("Stopping the gateway (--once).\n")
                self.gateway.stop()
            else:
                self._say(
                    "The gateway keeps running (health and metrics above). Ctrl-C stops it.\n"
                )

    async def _run_tree(
        self, scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
    ) -> None:
        await self.gateway.run(task_status=task_status)
        scope.cancel("the gateway stopped")

    def _intro(self) -> str:
        loaded = self.gateway.loaded
        return (
            f"\nautobot demo: the gateway of {loaded.bot_dir}, with a local scripted model.\n"
            f"  model     {DEMO_MODEL} at {self.fake.base_url} (loopback fake; the rest is real)\n"
            f"  demo key  {self.key} (throwaway; logged once on purpose)\n"
            f"  workspace {loaded.workspace}\n\n"
        )

    async def _converse(self) -> None:
        with (
            self.gateway.inbound() as inbound,
            self.gateway.channel_outbox(DEMO_CHANNEL) as outbox,
        ):
            channel = DemoChannel(inbound=inbound, outbound=outbox)
            for text in DEMO_MESSAGES:
                try:
                    with trio.fail_after(TURN_TIMEOUT):
                        reply = await channel.ask(text)
                except trio.TooSlowError:
                    raise DemoFailed(
                        f"no reply within {TURN_TIMEOUT:g} s to {text!r}; see {self.log_file}"
                    ) from None
                replies = [m.content for m in (*reply.progress, reply.final)]
                self._say(exchange_text(text, self._exchanges(text), replies) + "\n")
                if reply.final.is_error:
                    raise DemoFailed(f"the turn for {text!r} failed; details in {self.log_file}")

    def _exchanges(self, user_text: str) -> tuple[Exchange, ...]:
        """The tool calls of the turn for `user_text`, as the model last saw them
        (the newest request of that turn carries every result)."""
        for body in reversed(self.fake.bodies()):
            if not body.get("tools"):
                continue  # memory consolidation, not a turn
            try:
                turn = current_turn(body)
            except NotAConversation:
                continue
            if turn.user_text == user_text:
                return turn.exchanges
        return ()

    async def _report(self) -> None:
        url = self.gateway.http_url
        if url is None:
            raise DemoFailed("the HTTP actor started without reporting its address")
        health = await _get_health(url)
        self.gateway.logger.info(end_marker(self.run_id))
        check = await self._wait_for_log()
        bodies = [request.body.decode("utf-8", errors="replace") for request in self.fake.requests]
        places = Places(
            http_url=url,
            health=health,
            log_file=str(self.log_file),
            key=self.key,
            model_requests=len(bodies),
            key_in_requests=sum(self.key in body for body in bodies),
        )
        self._say(where_to_look(places, check) + "\n")
        if check.key_found:
            raise DemoFailed(f"the demo key appears in {self.log_file}: redaction failed")
        if places.key_in_requests:
            raise DemoFailed("the demo key reached the model in a request body")

    async def _wait_for_log(self) -> LogCheck:
        """This run's log check, once the log actor has written the end marker."""
        with trio.move_on_after(LOG_WAIT_SECONDS):
            while True:
                text = await trio.to_thread.run_sync(_read_text, self.log_file, limiter=self.disk)
                check = check_log(text, run_id=self.run_id, key=self.key)
                if check.complete:
                    return check
                await trio.sleep(LOG_POLL_SECONDS)
        raise DemoFailed(f"{self.log_file} did not receive this run's records")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


async def _get_health(base_url: str) -> str:
    """The body of GET /healthz, stripped. Raises DemoFailed."""
    try:
        with trio.fail_after(HEALTH_TIMEOUT):
            async with httpx.AsyncClient(trust_env=False) as client:
                response = await client.get(base_url + "/healthz")
    except (httpx.HTTPError, trio.TooSlowError) as exc:
        raise DemoFailed(f"GET {base_url}/healthz failed: {exc!r}") from None
    if response.status_code != 200:
        raise DemoFailed(f"GET {base_url}/healthz answered {response.status_code}")
    return response.text.strip()


def _describe(exc: BaseException) -> str:
    """One line for a failure, single-exception groups unwrapped."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, DemoFailed | ConfigError | ProviderConfigError):
        return str(exc)
    if isinstance(exc, ChildStartFailed) and exc.error is not None:
        return f"the gateway could not start {exc.child_id!r}: {exc.error}"
    return f"{type(exc).__name__}: {exc}"


async def demo(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    once: bool,
    home: Path,
    as_root: bool = False,
    probe: SandboxProber = probe_sandbox,
    rng: random.Random | None = None,
) -> int:
    """The whole `autobot demo` command under Trio; returns the exit code.

    `environ`, `home` and `as_root` are what the gateway's doctor run takes;
    `probe` checks the sandbox backend; `rng` makes the demo key, the run id
    and the tree's jitter (a fresh `random.Random()` if None).
    """
    chosen_rng = rng or random.Random()
    report = await run_checks(config_path, environ=environ, probe=probe, home=home, as_root=as_root)
    if blocking_errors(report):
        stderr.write(render_text(report))
        stderr.write("autobot: the demo refuses to start until these errors are fixed.\n")
        return 1
    stdout.write(render_text(report))
    if any(f.code in PROVIDER_FINDINGS for f in report.errors):
        stdout.write("(The provider error is expected: the demo brings its own local model.)\n")
    stdout.flush()
    disk = trio.CapacityLimiter(1)
    try:
        loaded = await trio.to_thread.run_sync(load_config, config_path, environ, limiter=disk)
    except ConfigError as exc:  # changed between the check and the load
        stderr.write(f"autobot: {exc}\n")
        return 1
    key = demo_key(chosen_rng)
    redactor = Redactor(loaded.secret_values | {key})
    try:
        async with serve_fake_anthropic(handler=answer) as fake:
            run = DemoRun(
                gateway=_build(loaded, fake, key, chosen_rng),
                fake=fake,
                key=key,
                run_id=f"{chosen_rng.getrandbits(32):08x}",
                once=once,
                stdout=stdout,
                disk=disk,
            )
            outcome = await run_until_signalled(
                run.main, on_first=lambda _signum: run.gateway.stop()
            )
    except Exception as exc:  # noqa: BLE001 -- the command's edge: one line, never a traceback
        stderr.write(f"autobot: demo failed: {redactor.redact(_describe(exc))}\n")
        return 1
    if not run.finished:
        stderr.write(f"autobot: demo interrupted ({outcome.value}).\n")
    elif outcome is not SignalOutcome.FINISHED:
        stderr.write(f"autobot: demo gateway stopped ({outcome.value}).\n")
    else:
        stdout.write("autobot: demo finished.\n")
    return 0


def _build(loaded: LoadedConfig, fake: FakeLLM, key: str, rng: random.Random) -> Gateway:
    """The gateway tree for `loaded` with the demo provider, logging to the file only."""
    demo_loaded = with_demo_provider(loaded, api_base=fake.base_url, key=key)
    return build_gateway(
        demo_loaded, echo=None, rng=rng, channels=[ChannelSpec(name=DEMO_CHANNEL)]
    )


def demo_main(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    once: bool,
    home: Path | None = None,
    as_root: bool = False,
) -> int:
    """Synchronous entry point for the CLI (`autobot demo [--once]`)."""
    return trio.run(
        lambda: demo(
            config_path,
            environ=environ,
            stdout=stdout,
            stderr=stderr,
            once=once,
            home=Path.home() if home is None else home,
            as_root=as_root,
        )
    )
