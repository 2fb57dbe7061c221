"""LogActor under Trio: redaction before sinks, level filter, drops, drain, shutdown."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pytest
import trio
import trio.lowlevel
import trio.testing

from autobot.config.schema import LoggingConfig, LogLevel
from autobot.logs.actor import (
    CLOSE_GRACE_SECONDS,
    LOG_MAILBOX_SIZE,
    LogActor,
    level_from_config,
    open_log_mailbox,
)
from autobot.logs.records import Level, Logger
from autobot.logs.redact import Redactor
from autobot.logs.sinks import Sink, rotating_file_sink, sinks_from_config, stderr_sink

T = 1_795_593_181.123  # 2026-11-25T07:53:01.123Z
STAMP = "2026-11-25T07:53:01.123Z"
SECRET = "hunter2-but-longer"


@attrs.define
class MemorySink:
    """A sink that records lines; `gate`, when set, holds the next write until released."""

    lines: list[str] = attrs.field(factory=list)
    events: list[str] = attrs.field(factory=list)
    gate: trio.Event | None = None
    hang_on_close: bool = False
    fail_on_write: bool = False

    async def open(self) -> None:
        self.events.append("open")

    async def write_lines(self, lines: Sequence[str]) -> None:
        if self.fail_on_write:
            raise OSError(28, "No space left on device")
        if self.gate is not None:
            gate, self.gate = self.gate, None
            await gate.wait()
        self.lines.extend(lines)

    async def aclose(self) -> None:
        self.events.append("close")
        if self.hang_on_close:
            await trio.sleep_forever()


def make_actor(
    sinks: Sequence[Sink], min_level: Level = Level.DEBUG, secrets: Sequence[str] = (SECRET,)
) -> tuple[Logger, LogActor]:
    logger, receive = open_log_mailbox(wall_clock=lambda: T)
    actor = LogActor(
        receive_channel=receive,
        drops=logger.drops,
        redactor=Redactor(secrets),
        sinks=sinks,
        min_level=min_level,
        wall_clock=lambda: T,
    )
    return logger, actor


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


async def test_records_reach_the_file_redacted_and_0600(
    tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / "logs" / "autobot.log"
    stream = io.StringIO()
    sinks = [rotating_file_sink(path, max_bytes=1_000_000, backups=2), stderr_sink(stream)]
    logger, actor = make_actor(sinks)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # open before started()
        logger.child("agent:telegram:42").access_denied("read outside workspace", path="../x")
        logger.info(f"connecting with {SECRET}", api_key="plain", url="https://u:pw@h/")
        try:
            raise RuntimeError(f"auth failed: Bearer abcdefghijklmnopqrstuvwx {SECRET}")
        except RuntimeError as exc:
            logger.error("turn failed", exc=exc)
        logger.send_channel.close()
    content = path.read_text()
    assert SECRET not in content and "abcdefghijklmnopqrstuvwx" not in content
    lines = content.splitlines()
    assert lines[0] == (
        f"{STAMP} WARN  [agent:telegram:42] ACCESS DENIED: read outside workspace path=../x"
    )
    assert lines[1] == (
        f"{STAMP} INFO  [gateway] connecting with [REDACTED] api_key=[REDACTED] "
        "url=https://u:[REDACTED]@h/"
    )
    assert lines[2] == f"{STAMP} ERROR [gateway] turn failed"
    assert lines[-1] == "    RuntimeError: auth failed: Bearer [REDACTED] [REDACTED]"
    assert stream.getvalue() == content
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


@pytest.mark.parametrize(
    ("config_level", "expected"),
    [
        (LogLevel.DEBUG, ["d", "i", "w", "e"]),
        (LogLevel.INFO, ["i", "w", "e"]),
        (LogLevel.WARN, ["w", "e"]),
        (LogLevel.ERROR, ["e"]),
    ],
)
async def test_level_filter(config_level: LogLevel, expected: list[str]) -> None:
    sink = MemorySink()
    logger, actor = make_actor([sink], min_level=level_from_config(config_level))
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        logger.debug("d")
        logger.info("i")
        logger.warn("w")
        logger.error("e")
        logger.send_channel.close()
    assert [line.rsplit(" ", 1)[1] for line in sink.lines] == expected


async def test_drains_everything_queued_before_close_then_closes_sinks() -> None:
    sink = MemorySink()
    logger, actor = make_actor([sink])
    for index in range(600):  # more than one batch
        logger.info(f"m{index}")
    logger.send_channel.close()
    await actor.run()
    assert [line.rsplit(" ", 1)[1] for line in sink.lines] == [f"m{i}" for i in range(600)]
    assert sink.events == ["open", "close"]


async def test_full_mailbox_drops_are_counted_and_reported_once_per_new_drops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sink = MemorySink(gate=trio.Event())
    logger, actor = make_actor([sink])
    first_gate = sink.gate
    assert first_gate is not None
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        logger.info("first")  # the actor takes it and blocks in the sink
        await trio.testing.wait_all_tasks_blocked()
        for index in range(LOG_MAILBOX_SIZE + 7):
            logger.info(f"r{index}")  # never blocks the sender
        assert logger.drops.dropped == 7
        first_gate.set()
        await trio.testing.wait_all_tasks_blocked()

        second_gate = sink.gate = trio.Event()
        logger.info("second")
        await trio.testing.wait_all_tasks_blocked()
        for index in range(LOG_MAILBOX_SIZE + 3):
            logger.info(f"s{index}")
        second_gate.set()
        await trio.testing.wait_all_tasks_blocked()
        logger.send_channel.close()
    reports = [line for line in sink.lines if "log mailbox full" in line]
    assert reports == [
        f"{STAMP} WARN  [logs] log mailbox full: 7 records dropped total_dropped=7",
        f"{STAMP} WARN  [logs] log mailbox full: 3 records dropped total_dropped=10",
    ]
    assert sink.lines.index(reports[0]) == 1  # right after the batch that followed the drops
    assert len(sink.lines) == 2 + 2 * LOG_MAILBOX_SIZE + 2
    assert trio.current_time() == 0  # nothing waited on a timer


async def test_drops_after_the_last_batch_are_reported_at_shutdown() -> None:
    sink = MemorySink()
    logger, actor = make_actor([sink], min_level=Level.ERROR)  # the report bypasses the filter
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        logger.send_channel.close()
        logger.error("too late")  # closed mailbox: counted as dropped
    assert sink.lines == [
        f"{STAMP} WARN  [logs] log mailbox full: 1 records dropped total_dropped=1"
    ]


async def test_cancel_writes_what_is_waiting_then_closes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sink = MemorySink(gate=trio.Event())
    logger, actor = make_actor([sink])
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        logger.info("stuck")  # held in the sink forever
        await trio.testing.wait_all_tasks_blocked()
        logger.info(f"waiting {SECRET}")
        logger.info("waiting two")
        nursery.cancel_scope.cancel("test: supervisor shutdown")
    assert sink.lines == [
        f"{STAMP} INFO  [gateway] waiting [REDACTED]",
        f"{STAMP} INFO  [gateway] waiting two",
    ]
    assert sink.events == ["open", "close"]
    assert trio.current_time() == CLOSE_GRACE_SECONDS  # the batch in flight had its grace


async def test_a_batch_in_flight_when_cancelled_is_written_whole(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The tree's last stop events reach the log: the record being written when the
    log actor is cancelled (it stops last, with no grace) is not lost."""
    gate = trio.Event()
    sink = MemorySink(gate=gate)
    logger, actor = make_actor([sink])
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        logger.info("root: channels stopped")  # being written when the cancel comes
        await trio.testing.wait_all_tasks_blocked()
        logger.info("after it")
        nursery.cancel_scope.cancel("test: supervisor shutdown")
        nursery.start_soon(_release_after, gate, 1.0)
    assert sink.lines == [
        f"{STAMP} INFO  [gateway] root: channels stopped",
        f"{STAMP} INFO  [gateway] after it",
    ]
    assert trio.current_time() == 1.0


async def _release_after(gate: trio.Event, seconds: float) -> None:
    with trio.CancelScope(shield=True):
        await trio.sleep(seconds)
        gate.set()


async def test_a_hanging_sink_close_is_bounded_by_the_grace_period(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sink = MemorySink(hang_on_close=True)
    logger, actor = make_actor([sink])
    logger.info("bye")
    logger.send_channel.close()
    await actor.run()
    assert sink.lines == [f"{STAMP} INFO  [gateway] bye"]
    assert trio.current_time() == CLOSE_GRACE_SECONDS


async def test_a_failing_sink_crashes_the_actor_but_keeps_the_mailbox() -> None:
    broken = MemorySink(fail_on_write=True)
    logger, actor = make_actor([broken])
    logger.info("one")
    logger.info("two")
    with pytest.raises(OSError, match="No space left"):
        await actor.run()
    assert broken.events == ["open", "close"]
    # the failed batch is lost (at-most-once), but a restarted incarnation reads
    # on from the same, still-open mailbox
    logger.info("three")
    healthy = MemorySink()
    restarted = attrs.evolve(actor, sinks=[healthy])
    logger.send_channel.close()
    await restarted.run()
    assert healthy.lines == [f"{STAMP} INFO  [gateway] three"]


async def test_started_is_signalled_only_after_every_sink_opened() -> None:
    order: list[str] = []

    @attrs.define
    class SlowOpen(MemorySink):
        async def open(self) -> None:
            await trio.lowlevel.checkpoint()
            order.append("opened")

    logger, actor = make_actor([SlowOpen(), SlowOpen()])
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        order.append("started")
        logger.send_channel.close()
    assert order == ["opened", "opened", "started"]


def test_mailbox_has_the_named_size() -> None:
    logger, receive = open_log_mailbox()
    assert receive.statistics().max_buffer_size == LOG_MAILBOX_SIZE
    assert logger.source == "gateway"
    assert logger.drops.dropped == 0


async def test_sinks_from_config_write_the_logs_dir_and_echo(tmp_path: Path) -> None:
    stream = io.StringIO()
    config = LoggingConfig(max_bytes=200, backups=1)
    logger, actor = make_actor(sinks_from_config(config, logs_dir=tmp_path / "logs", echo=stream))
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        for index in range(6):  # ~46 bytes each: 4 fit in 200, then one rotation
            logger.info(f"line {index}")
        logger.send_channel.close()
    live = (tmp_path / "logs" / "autobot.log").read_text()
    rotated = (tmp_path / "logs" / "autobot.log.1").read_text()
    assert stream.getvalue() == rotated + live
    assert live.endswith(f"{STAMP} INFO  [gateway] line 5\n")


async def test_sinks_from_config_without_echo_write_only_the_file(tmp_path: Path) -> None:
    sinks = sinks_from_config(LoggingConfig(), logs_dir=tmp_path, echo=None)
    logger, actor = make_actor(sinks)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        logger.info("only in the file")
        logger.send_channel.close()
    assert len(sinks) == 1
    assert (tmp_path / "autobot.log").read_text().endswith("only in the file\n")
