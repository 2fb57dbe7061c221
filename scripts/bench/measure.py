"""Measure one peer's gateway process against fresh fakes: start-up, memory, rounds of messages.

For one peer, `measure_peer`:
1. starts a fresh chat fake with its users (`bench.telegram_users`, or
   `bench.slack_users` for `Plan.channel` slack, a child process), and builds the peer's launch against it and the shared
   model fake;
2. starts the gateway in a new session (its own process group) and takes
   the time from just before the spawn to the fake receiving the first
   getUpdates;
3. lets it settle (`IDLE_SETTLE_SECONDS`) and reads the idle memory of the
   gateway's process tree;
4. plays the rounds while a sampler keeps the tree's peak memory: a warm-up
   (one user, one message: first-use costs, reported apart), the throughput
   round (M users x K messages, zero-latency model), the burst (M users, one
   message each, at the same moment, model latency L);
5. stops the gateway with its graceful signal, bounded by `STOP_SECONDS`,
   then kills what is left of its process group.
The gateway's stdout and stderr go to `<directory>/gateway.log`; if it exits
early the measurement fails with the log's last lines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs
import trio

from bench.children import Child, ChildError, open_child
from bench.launch import Fakes, GatewayLaunch
from bench.proctree import TreeSample, read_tree
from bench.stats import RoundFigures, round_figures

START_SECONDS = 120.0  # spawn to first getUpdates, on a loaded 2-core machine
IDLE_SETTLE_SECONDS = 3.0  # after the first poll, before idle memory: late imports, pool workers
SAMPLE_SECONDS = 0.2  # between two peak-memory samples during the rounds
STOP_SECONDS = 30.0  # graceful stop, then SIGKILL to the process group
ROUND_BASE_SECONDS = 60.0  # a round's bound: this plus ROUND_PER_MESSAGE_SECONDS each
ROUND_PER_MESSAGE_SECONDS = 0.5
LOG_TAIL_LINES = 12
USERS_MODULES = {"telegram": "bench.telegram_users", "slack": "bench.slack_users"}
FIRST_USER_IDS = {"w": 7_000_000, "t": 7_100_000, "b": 7_200_000}  # per round, apart


@attrs.frozen(kw_only=True)
class Plan:
    """The rounds: `users` x `messages` at zero latency, then a burst of
    `users` messages at `latency` seconds, over `channel` (telegram or slack)."""

    users: int
    messages: int
    latency: float
    channel: str = attrs.field(default="telegram", validator=attrs.validators.in_(USERS_MODULES))


@attrs.frozen(kw_only=True)
class RoundResult:
    figures: RoundFigures
    calls: Mapping[str, int]  # the bot's Bot API calls during the round, by method
    unexpected: tuple[str, ...]  # the first few texts the bot sent that answer no message
    unexpected_count: int  # how many such texts it sent during the round


@attrs.frozen(kw_only=True)
class Measured:
    """What the running gateway showed."""

    start_to_first_poll: float
    idle: TreeSample
    peak_rss_kb: int
    peak_pss_kb: int
    warm_up: RoundResult
    throughput: RoundResult
    throughput_cpu_seconds: float  # the gateway tree's CPU during the throughput round
    fakes_cpu_seconds: float  # the fakes' CPU (Bot API + users, model) during that round
    model_calls: int  # during the throughput round
    model_request_bytes: int
    burst: RoundResult


@attrs.frozen(kw_only=True)
class Stopped:
    """How a gateway stopped: seconds from the graceful signal to its exit,
    its exit code (None: not within STOP_SECONDS, so it was killed), and
    whether processes of its group outlived it (they were killed)."""

    seconds: float
    exit_code: int | None
    stragglers: bool


@attrs.frozen(kw_only=True)
class PeerResult:
    """Everything measured for one peer, and how its gateway stopped."""

    measured: Measured
    settings: tuple[str, ...]
    stopped: Stopped
    log: Path


class MeasurementFailed(Exception):
    """The gateway did not start, exited early or left messages unanswered."""


@attrs.define(eq=False)
class PeakSampler:
    """Owns the peak memory of the process tree under `root` while it runs."""

    root: int
    # one /proc reader thread at a time: sampling must not compete with the gateway for CPU
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))
    peak_rss_kb: int = 0
    peak_pss_kb: int = 0

    async def sample(self) -> TreeSample:
        """One reading of the tree (in a worker thread: /proc reads block)."""
        sample = await trio.to_thread.run_sync(read_tree, self.root, limiter=self.limiter)
        self.peak_rss_kb = max(self.peak_rss_kb, sample.rss_kb)
        self.peak_pss_kb = max(self.peak_pss_kb, sample.pss_kb)
        return sample

    async def run(self) -> None:
        """Sample every `SAMPLE_SECONDS` until cancelled or the root exits
        (the exit watcher reports that)."""
        while True:
            try:
                await self.sample()
            except ProcessLookupError:
                return
            await trio.sleep(SAMPLE_SECONDS)


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty log)"


async def _play(
    telegram: Child, name: str, users: int, messages: int, latency: float
) -> RoundResult:
    bound = ROUND_BASE_SECONDS + ROUND_PER_MESSAGE_SECONDS * users * messages + latency * messages
    answer = await telegram.request(
        {
            "op": "round",
            "name": name,
            "users": users,
            "messages": messages,
            "latency": latency,
            "first_user": FIRST_USER_IDS[name],
            "timeout": bound,
        }
    )
    samples = [
        (float(posted), None if reply is None else float(reply))
        for posted, reply in answer["samples"]
    ]
    unexpected = tuple(answer["unexpected"])
    try:
        figures = round_figures(samples, latency)
    except ValueError as error:
        raise MeasurementFailed(f"round {name!r}: {error}; the bot sent {unexpected!r}") from None
    if not figures.complete:
        raise MeasurementFailed(
            f"round {name!r}: {figures.sent - figures.answered} of {figures.sent} messages "
            f"unanswered within {bound:.0f} s; the bot also sent {unexpected!r}"
        )
    return RoundResult(
        figures=figures,
        calls=answer["calls"],
        unexpected=unexpected,
        unexpected_count=int(answer["unexpected_count"]),
    )


async def _cpu_of(limiter: trio.CapacityLimiter, *children: Child) -> float:
    """CPU seconds the `children` have used so far (read in a thread under `limiter`)."""

    def read() -> float:
        return sum(read_tree(child.process.pid).cpu_seconds for child in children)

    return await trio.to_thread.run_sync(read, limiter=limiter)


async def _rounds(
    process: trio.Process, telegram: Child, model: Child, plan: Plan, started: float
) -> Measured:
    first = await telegram.request({"op": "first_poll", "timeout": START_SECONDS})
    start_to_first_poll = float(first["at"]) - started
    await trio.sleep(IDLE_SETTLE_SECONDS)
    sampler = PeakSampler(process.pid)
    idle = await sampler.sample()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sampler.run)
        warm_up = await _play(telegram, "w", 1, 1, 0.0)
        model_before = await model.request({"op": "stats"})
        cpu_before = (await sampler.sample()).cpu_seconds
        fakes_before = await _cpu_of(sampler.limiter, telegram, model)
        throughput = await _play(telegram, "t", plan.users, plan.messages, 0.0)
        cpu = (await sampler.sample()).cpu_seconds - cpu_before
        fakes_cpu = await _cpu_of(sampler.limiter, telegram, model) - fakes_before
        model_after = await model.request({"op": "stats"})
        burst = await _play(telegram, "b", plan.users, 1, plan.latency)
        nursery.cancel_scope.cancel("the rounds are over")
    return Measured(
        start_to_first_poll=start_to_first_poll,
        idle=idle,
        peak_rss_kb=sampler.peak_rss_kb,
        peak_pss_kb=sampler.peak_pss_kb,
        warm_up=warm_up,
        throughput=throughput,
        throughput_cpu_seconds=cpu,
        fakes_cpu_seconds=fakes_cpu,
        model_calls=int(model_after["requests"]) - int(model_before["requests"]),
        model_request_bytes=int(model_after["request_bytes"]) - int(model_before["request_bytes"]),
        burst=burst,
    )


async def _watch_exit(process: trio.Process, log: Path) -> None:
    code = await process.wait()
    raise MeasurementFailed(
        f"the gateway exited early (code {code}); its log ends:\n{_log_tail(log)}"
    )


async def _stop(process: trio.Process, stop_signal: signal.Signals) -> Stopped:
    """Stop gracefully, then SIGKILL whatever is left of the process group we created."""
    started = time.perf_counter()
    code: int | None = process.returncode
    if code is None:
        process.send_signal(stop_signal)
        with trio.move_on_after(STOP_SECONDS):
            code = await process.wait()
    seconds = time.perf_counter() - started
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        stragglers = False  # the whole group is gone, as it should be
    else:
        stragglers = True
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
    return Stopped(seconds=seconds, exit_code=code, stragglers=stragglers)


async def measure_peer(
    directory: Path,
    launch_for: Callable[[Fakes], GatewayLaunch],
    model: Child,
    plan: Plan,
) -> PeerResult:
    """Measure the peer `launch_for` describes (see the module docstring).
    Raises `MeasurementFailed`, or `PeerUnavailable` from `launch_for`."""
    log = directory / "gateway.log"
    async with open_child(USERS_MODULES[plan.channel]) as telegram:
        fakes = Fakes(
            telegram_url=telegram.hello["base_url"],
            telegram_token=telegram.hello["token"],
            model_url=model.hello["base_url"],
            app_token=telegram.hello.get("app_token", ""),
        )
        launch = launch_for(fakes)
        with log.open("wb") as output:
            started = time.perf_counter()
            try:
                process = await trio.lowlevel.open_process(
                    list(launch.argv),
                    env=dict(launch.env),
                    cwd=launch.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=output,
                    start_new_session=True,
                )
            except OSError as error:
                raise MeasurementFailed(f"cannot start {launch.argv[0]}: {error}") from None
        try:
            measured = await _measure_running(process, telegram, model, plan, started, log)
        finally:
            with trio.CancelScope(shield=True):
                stopped = await _stop(process, launch.stop_signal)
    return PeerResult(measured=measured, settings=launch.settings, stopped=stopped, log=log)


async def _measure_running(
    process: trio.Process, telegram: Child, model: Child, plan: Plan, started: float, log: Path
) -> Measured:
    """The rounds, failing as soon as the gateway exits; one `MeasurementFailed`."""
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch_exit, process, log)
            measured = await _rounds(process, telegram, model, plan, started)
            nursery.cancel_scope.cancel("measured")
    except* (MeasurementFailed, ChildError) as failed:
        reasons = "; ".join(str(error) for error in failed.exceptions)
        raise MeasurementFailed(reasons) from None
    return measured
