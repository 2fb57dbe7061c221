"""`autobot demo [--once]`: the whole gateway, Telegram included, against loopback stand-ins.

For a machine with no LLM credentials and no Telegram bot yet. `demo` checks
the bot like the gateway does (doctor errors other than the missing provider
stop it), then runs the real tree (log actor, sandbox pool, the channel
supervisor with the real Telegram channel, session router, HTTP actor on the
configured host and port) with three changes made in memory only, never
written to the bot's files:

- the model's far end is the loopback Anthropic fake answering with the demo
  brain (`autobot.demo.brain`), with a throwaway key;
- Telegram is the loopback Bot API stand-in (`autobot.testing.fake_telegram`)
  with a throwaway token and the scenario's access lists; the bot's own
  Telegram settings and token are not used;
- the Telegram channel's state (inbound journal, pairing book) and the
  session journals live in a directory of the run's own, removed at the
  end, so nothing of the demo mixes with the bot's real conversations.

The real anthropic SDK, Telegram client, access control, inbound journal,
rate limits, tool registry, bubblewrap sandbox, SSRF guard and redacting log
actor all run. The demo plays the scenario (`autobot.demo.scenario`)
through the stand-in, one step at a time, prints each chat as its users see
it, fetches /healthz and /metrics, and checks logs/autobot.log: this run's
ACCESS DENIED count, and that neither the key nor the token (each logged
once on purpose) appears anywhere in it. With `once` the tree stops
gracefully and 0 is returned; otherwise the gateway keeps serving until
SIGINT/SIGTERM, then 0. Every failure is one line on stderr and 1.

Signals are handled like the gateway's, by the same lifetime
(`autobot.runtime.lifetime`): a first SIGINT/SIGTERM abandons the start-up
(exit 0, nothing started) or stops the tree gracefully (exit 0, the run's
state directory removed); a second one stops at once (exit 128 + N).
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

import attrs
import httpx
import trio

from autobot.app import Gateway, build_gateway, chat_channels
from autobot.channels.telegram.launch import CHANNEL as TELEGRAM
from autobot.config import ConfigError, LoadedConfig, load_config
from autobot.demo.errors import DemoFailed
from autobot.demo.logcheck import LogCheck, check_log, end_marker, start_marker
from autobot.demo.play import ModelLog, Player
from autobot.demo.provider import (
    DEMO_MODEL,
    PROVIDER_FINDINGS,
    blocking_errors,
    demo_key,
    with_demo_provider,
)
from autobot.demo.scenario import ALLOW_FROM, GROUP_ALLOW_FROM, SCENARIO, demo_bot, demo_token
from autobot.demo.telegram import with_demo_telegram
from autobot.demo.transcript import Places, chat_heading, outcome_text, where_to_look
from autobot.doctor.render import render_text
from autobot.doctor.run import run_checks
from autobot.doctor.sandbox_check import SandboxProber
from autobot.llm.selection import ProviderConfigError
from autobot.logs.redact import Redactor
from autobot.logs.sinks import LOG_FILE_NAME
from autobot.runtime import ChildStartFailed
from autobot.runtime.lifetime import (
    FirstSignal,
    Lifetime,
    Refused,
    live,
    run_command,
    signal_name,
)
from autobot.sandbox.probe import probe_configured
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.llm_script import FakeLLM

# One step: a few LLM round trips to the local model and a few sandboxed
# tools (the exec tool's own limit is tools.exec.timeout, 60 s by default).
TURN_TIMEOUT = 150.0
HTTP_TIMEOUT = 10.0
# The log actor writes within milliseconds; this only bounds a stuck disk.
LOG_WAIT_SECONDS = 10.0
LOG_POLL_SECONDS = 0.05
# Removing the run's state directory (a few small files).
CLEANUP_SECONDS = 10.0
STATE_PREFIX = "autobot-demo-"
CHANNEL_METRIC = 'channel="telegram"'


@attrs.define(kw_only=True, eq=False)
class DemoRun:
    """One demo run of a built gateway: owns the conversation, the checks and
    the printing. `main` runs the tree; `gateway.stop()` ends it."""

    gateway: Gateway
    model: FakeLLM
    telegram: FakeTelegram
    model_log: ModelLog
    key: str
    token: str
    run_id: str
    once: bool
    stdout: TextIO
    own_token_set: bool  # the bot's config has a Telegram token (unused here)
    disk: trio.CapacityLimiter  # blocking reads of the log file, one at a time
    finished: bool = attrs.field(init=False, default=False)

    @property
    def log_file(self) -> Path:
        return self.gateway.loaded.logs_dir / LOG_FILE_NAME

    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    async def main(self) -> None:
        """Start the tree, play the scenario, report; then stop (`once`) or keep
        serving. A tree that stops (signal) cancels whatever is still running."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._run_tree, nursery.cancel_scope)
            # Logged on purpose: both must come out as [REDACTED] in the log file.
            self.gateway.logger.info(
                start_marker(self.run_id),
                model=DEMO_MODEL,
                api_base=self.model.base_url,
                api_key=self.key,
                telegram_api=self.telegram.base_url,
                telegram_token=self.token,
            )
            self._say(self._intro())
            await self._converse()
            await self._report()
            self.finished = True
            if self.once:
                self._say("Stopping the gateway (--once).\n")
                self.gateway.stop()
            else:
                self._say(self._keep_running())

    async def _run_tree(
        self, scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
    ) -> None:
        await self.gateway.run(task_status=task_status)
        scope.cancel("the gateway stopped")

    def _intro(self) -> str:
        loaded = self.gateway.loaded
        bot = self.telegram.bot
        lines = [
            "",
            f"autobot demo: the real gateway of {loaded.bot_dir}, Telegram channel included.",
            "  DEMO      Telegram and the model are local stand-ins on 127.0.0.1: nothing here",
            "            reaches Telegram or a real model; everything else is the real gateway",
            f"  telegram  Bot API stand-in at {self.telegram.base_url}, bot @{bot.username}",
            f"  model     {DEMO_MODEL} at {self.model.base_url} (a scripted brain)",
            f"  secrets   key {self.key}, token {self.token}",
            "            (throwaway; each logged once on purpose, to show the redaction)",
            f"  access    allow_from {list(ALLOW_FROM)}, group_allow_from {list(GROUP_ALLOW_FROM)},"
            " group_policy mention",
            f"  workspace {loaded.workspace}",
        ]
        if self.own_token_set:
            lines.append("  (the bot's own Telegram token is set, and unused by the demo)")
        return "\n".join([*lines, "", ""])

    def _keep_running(self) -> str:
        loaded = self.gateway.loaded
        return (
            "The gateway keeps running (health and metrics above), polling the stand-in; no one\n"
            "else can write to it. To talk to autobot on Telegram for real: create a bot with\n"
            f"@BotFather, put TELEGRAM_BOT_TOKEN=... and ANTHROPIC_API_KEY=... in {loaded.env_file},\n"
            f"enable channels.telegram in {loaded.path} with your id in allow_from, and run\n"
            "scripts/run again (README: Telegram). Ctrl-C stops the demo.\n"
        )

    async def _converse(self) -> None:
        health = self.gateway.board[TELEGRAM]
        player = Player(
            telegram=self.telegram,
            model=self.model,
            log=self.model_log,
            journaled=lambda: health.messages_in,
        )
        chat, why = None, None
        for step in SCENARIO:
            if step.where != chat:
                chat, why = step.where, None
                self._say(chat_heading(chat, step.sender) + "\n")
            try:
                with trio.fail_after(TURN_TIMEOUT):
                    outcome = await player.play(step)
            except trio.TooSlowError:
                raise DemoFailed(
                    f"no outcome within {TURN_TIMEOUT:g} s for {step.text!r}; see {self.log_file}"
                ) from None
            except DemoFailed as failed:
                raise DemoFailed(f"{failed}; see {self.log_file}") from None
            self._say(outcome_text(outcome, why=step.why != why) + "\n")
            why = step.why

    async def _report(self) -> None:
        url = self.gateway.http_url
        if url is None:
            raise DemoFailed("the HTTP actor started without reporting its address")
        health = await _get_text(url + "/healthz")
        metrics = await _get_text(url + "/metrics")
        self.gateway.logger.info(end_marker(self.run_id))
        secrets = (("demo model key", self.key), ("demo bot token", self.token))
        check = await self._wait_for_log([value for _what, value in secrets])
        bodies = [request.body.decode("utf-8", errors="replace") for request in self.model.requests]
        places = Places(
            http_url=url,
            health=health,
            channel_metrics=tuple(
                line
                for line in metrics.splitlines()
                if CHANNEL_METRIC in line and not line.startswith("#")
            ),
            log_file=str(self.log_file),
            secrets=secrets,
            model_requests=len(bodies),
            requests_with_secrets=sum(
                any(value in body for _what, value in secrets) for body in bodies
            ),
        )
        self._say(where_to_look(places, check) + "\n")
        if check.leaked:
            raise DemoFailed(f"a demo secret appears in {self.log_file}: redaction failed")
        if places.requests_with_secrets:
            raise DemoFailed("a demo secret reached the model in a request body")

    async def _wait_for_log(self, secrets: list[str]) -> LogCheck:
        """This run's log check, once the log actor has written the end marker."""
        with trio.move_on_after(LOG_WAIT_SECONDS):
            while True:
                text = await trio.to_thread.run_sync(_read_text, self.log_file, limiter=self.disk)
                check = check_log(text, run_id=self.run_id, secrets=secrets)
                if check.complete:
                    return check
                await trio.sleep(LOG_POLL_SECONDS)
        raise DemoFailed(f"{self.log_file} did not receive this run's records")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


async def _get_text(url: str) -> str:
    """The body of GET `url` (which must answer 200), stripped. Raises DemoFailed."""
    try:
        with trio.fail_after(HTTP_TIMEOUT):
            async with httpx.AsyncClient(trust_env=False) as client:
                response = await client.get(url)
    except (httpx.HTTPError, trio.TooSlowError) as exc:
        raise DemoFailed(f"GET {url} failed: {exc!r}") from None
    if response.status_code != 200:
        raise DemoFailed(f"GET {url} answered {response.status_code}: {response.text.strip()}")
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


@attrs.frozen(kw_only=True)
class DemoStartup:
    """What the demo's start-up found: the bot's configuration as loaded, and
    the limiter for the run's blocking file work (one at a time)."""

    loaded: LoadedConfig
    disk: trio.CapacityLimiter


@attrs.frozen(kw_only=True)
class DemoCommand:
    """`autobot demo` for its lifetime (`autobot.runtime.lifetime`): start-up
    is the doctor's checks and the configuration; running is the stand-ins,
    the tree and the scenario. A first signal is a graceful stop (exit 0),
    a second one immediate (128 + N). `rng` makes the demo key, the bot
    token, the run id and the tree's jitter, in that order."""

    config_path: Path
    environ: Mapping[str, str]
    stdout: TextIO
    stderr: TextIO
    once: bool
    home: Path
    as_root: bool
    probe: SandboxProber
    rng: random.Random

    @property
    def first_signal(self) -> FirstSignal:
        return FirstSignal.STOPS

    async def start(self) -> DemoStartup | Refused:
        report = await run_checks(
            self.config_path,
            environ=self.environ,
            probe=self.probe,
            home=self.home,
            as_root=self.as_root,
        )
        if blocking_errors(report):
            self.stderr.write(render_text(report))
            self.stderr.write("autobot: the demo refuses to start until these errors are fixed.\n")
            return Refused(1)
        self.stdout.write(render_text(report))
        if any(f.code in PROVIDER_FINDINGS for f in report.errors):
            self.stdout.write(
                "(The provider error is expected: the demo brings its own local model.)\n"
            )
        self.stdout.flush()
        disk = trio.CapacityLimiter(1)
        try:
            loaded = await trio.to_thread.run_sync(
                load_config, self.config_path, self.environ, limiter=disk
            )
        except ConfigError as exc:  # changed between the check and the load
            self.stderr.write(f"autobot: {exc}\n")
            return Refused(1)
        return DemoStartup(loaded=loaded, disk=disk)

    async def abandon(self, started: DemoStartup | None, signum: int) -> None:
        self.stderr.write(
            f"autobot: demo stopped during start-up ({signal_name(signum)}); nothing was started.\n"
        )

    async def run(self, started: DemoStartup, life: Lifetime) -> int:
        loaded, disk = started.loaded, started.disk
        key, token = demo_key(self.rng), demo_token(self.rng)
        run_id = f"{self.rng.getrandbits(32):08x}"
        redactor = Redactor(loaded.secret_values | {key, token})
        try:
            state = Path(await trio.to_thread.run_sync(_make_state_dir, limiter=disk))
        except OSError as exc:
            self.stderr.write(f"autobot: demo failed: cannot create its state directory: {exc}\n")
            return 1
        try:
            model_log = ModelLog()
            async with (
                serve_fake_anthropic(handler=model_log.answer) as model,
                serve_fake_telegram(token=token, bot=demo_bot(token)) as telegram,
            ):
                gateway = _build(
                    loaded,
                    model_url=model.base_url,
                    telegram_url=telegram.base_url,
                    key=key,
                    token=token,
                    state=state,
                    rng=self.rng,
                )
                run = DemoRun(
                    gateway=gateway,
                    model=model,
                    telegram=telegram,
                    model_log=model_log,
                    key=key,
                    token=token,
                    run_id=run_id,
                    once=self.once,
                    stdout=self.stdout,
                    own_token_set=loaded.config.channels.telegram.token is not None,
                    disk=disk,
                )
                life.running(gateway.stop)
                await run.main()
        except Exception as exc:  # noqa: BLE001 -- the command's edge: one line, never a traceback
            self.stderr.write(f"autobot: demo failed: {redactor.redact(_describe(exc))}\n")
            return 1
        finally:
            problem: str | None = f"still removing after {CLEANUP_SECONDS:g} s"
            with trio.move_on_after(CLEANUP_SECONDS, shield=True):
                problem = await trio.to_thread.run_sync(
                    _remove_state_dir, state, limiter=disk, abandon_on_cancel=True
                )
            if problem:
                self.stderr.write(
                    f"autobot: could not remove the demo's state {state}: {problem}\n"
                )
        how = "finished" if life.first_signal is None else "graceful"
        if not run.finished:
            self.stderr.write(f"autobot: demo interrupted ({how}).\n")
        elif life.first_signal is not None:
            self.stderr.write(f"autobot: demo gateway stopped ({how}).\n")
        else:
            self.stdout.write("autobot: demo finished.\n")
        return 0

    def stopped_immediately(self, signum: int, *, first_acted_on: bool) -> None:
        self.stderr.write(f"autobot: demo stopped immediately ({signal_name(signum)}).\n")


def _command(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    once: bool,
    home: Path,
    as_root: bool = False,
    probe: SandboxProber = probe_configured,
    rng: random.Random | None = None,
) -> DemoCommand:
    return DemoCommand(
        config_path=config_path,
        environ=environ,
        stdout=stdout,
        stderr=stderr,
        once=once,
        home=home,
        as_root=as_root,
        probe=probe,
        rng=rng or random.Random(),
    )


async def demo(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    once: bool,
    home: Path,
    as_root: bool = False,
    probe: SandboxProber = probe_configured,
    rng: random.Random | None = None,
    early_signals: Sequence[int] = (),
) -> int:
    """The whole `autobot demo` command under Trio; returns the exit code.

    `environ`, `home` and `as_root` are what the gateway's doctor run takes;
    `probe` checks the sandbox backend; `rng` makes the demo key, the bot
    token, the run id and the tree's jitter, in that order (a fresh
    `random.Random()` if None). Must run in the main thread (it watches
    SIGINT/SIGTERM); `early_signals` arrived before Trio started.
    """
    command = _command(
        config_path,
        environ=environ,
        stdout=stdout,
        stderr=stderr,
        once=once,
        home=home,
        as_root=as_root,
        probe=probe,
        rng=rng,
    )
    return await live(command, early_signals=early_signals)


def _make_state_dir() -> str:
    """A new 0700 directory for the run's Telegram state and session journals."""
    return tempfile.mkdtemp(prefix=STATE_PREFIX)


def _remove_state_dir(state: Path) -> str | None:
    """Remove the run's state directory; why not, or None when it is gone."""
    try:
        shutil.rmtree(state)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _build(
    loaded: LoadedConfig,
    *,
    model_url: str,
    telegram_url: str,
    key: str,
    token: str,
    state: Path,
    rng: random.Random,
) -> Gateway:
    """The gateway tree for `loaded` with the demo's model and Telegram, logging
    to the file only."""
    demo_loaded = with_demo_telegram(
        with_demo_provider(loaded, api_base=model_url, key=key),
        api_base=telegram_url,
        token=token,
        state_dir=state,
    )
    # The channel keeps its inbound journal and pairing book under the run's
    # state directory too, never beside the bot's real Telegram state.
    channels = chat_channels(attrs.evolve(demo_loaded, bot_dir=state))
    # No cron: the demo must not run (or record runs of) the bot's real jobs.
    return build_gateway(demo_loaded, echo=None, rng=rng, channels=channels, run_cron=False)


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
    """Synchronous entry point for the CLI (`autobot demo [--once]`), through
    `autobot.runtime.lifetime.run_command` like every command."""
    return run_command(
        _command(
            config_path,
            environ=environ,
            stdout=stdout,
            stderr=stderr,
            once=once,
            home=Path.home() if home is None else home,
            as_root=as_root,
        )
    )
