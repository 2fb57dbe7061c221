"""The scheduler with the real job runner, under virtual time: agent turns go through a
real session router (scripted model) and end when their reply is handed on; commands
go to a leased worker (a fake with scripted outcomes) and their output to the owner's
chat. Exact virtual times throughout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from autobot.agent.loop import AgentLoop, LoopSettings
from autobot.agent.router import ROUTER_MAILBOX_SIZE, SessionRouter
from autobot.agent.session import AgentDeps
from autobot.agent.session_store import SessionStore
from autobot.agent.spend import GlobalLimits
from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.outbound import OutboundRouter
from autobot.config.schema import AgentDefaults, Budget, RateLimit, RateLimitConfig
from autobot.cron import book
from autobot.cron.book import Limits
from autobot.cron.jobs import Action, AgentTurn, Command, EverySchedule, Job, RunStatus
from autobot.cron.runner import OUTPUT_CHARS, GatewayRunner
from autobot.cron.scheduler import CronScheduler, open_wake_channel
from autobot.cron.store import CronStore
from autobot.llm.types import LLMRequest
from autobot.logs.records import ACCESS_DENIED
from autobot.runtime.batching import run_inline
from autobot.sandbox.worker import ExecOutcome
from autobot.testing.logs import capture_logger, drain
from autobot.testing.scripted_llm import ScriptedProvider, last_user_text, text_reply
from autobot.tools.registry import ToolRegistry

BASE = 1_767_225_600.0  # 2026-01-01T00:00:00Z: virtual time 0
LIMITS = Limits(min_interval=60, max_jobs_per_owner=20, default_tz="UTC")
OUTBOX = 100  # the test reads replies at its own pace


def wall() -> float:
    return BASE + trio.current_time()


@attrs.define
class Worker:
    """A sandbox worker answering `exec` with `outcome` after `seconds`."""

    outcome: ExecOutcome
    seconds: float = 1.0
    commands: list[tuple[str, str, float]] = attrs.field(factory=list)

    async def exec(self, command: str, *, cwd: str, time_limit: float, max_output: int) -> Any:
        self.commands.append((command, cwd, time_limit))
        await trio.sleep(self.seconds)
        return self.outcome


@attrs.define
class Pool:
    worker: Worker

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Worker]:
        yield self.worker


def outcome(stdout: str = "", *, exit_code: int = 0, timed_out: bool = False) -> ExecOutcome:
    return ExecOutcome(
        stdout=stdout,
        stderr="",
        exit_code=exit_code,
        timed_out=timed_out,
        stdout_dropped=0,
        stderr_dropped=0,
    )


def add(path: Path, owner: str, name: str, action: Action, seconds: int, job_id: str) -> None:
    with CronStore(path) as store:
        store.transact(
            lambda jobs: book.add(
                jobs,
                owner=owner,
                name=name,
                schedule=EverySchedule(seconds=seconds),
                action=action,
                now=BASE,
                limits=LIMITS,
                new_id=job_id,
            )
        )


def stored(path: Path) -> dict[str, Job]:
    with CronStore(path) as store:
        return {job.name: job for job in store.load().jobs}


@asynccontextmanager
async def gateway(
    tmp_path: Path, *, provider: ScriptedProvider, worker: Worker | None = None
) -> AsyncIterator[tuple[trio.MemoryReceiveChannel[OutboundMessage], Any]]:
    """A session router and a scheduler for the store `tmp_path/cron.json`,
    channels "telegram" (replies to the test) and nothing else."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    logger, records = capture_logger("gateway")
    out_send, replies = trio.open_memory_channel[OutboundMessage](OUTBOX)
    outbound = OutboundRouter(mailboxes={"telegram": out_send})
    defaults = AgentDefaults(idle_timeout_seconds=600.0)
    deps = AgentDeps(
        loop=AgentLoop(
            provider=provider,
            registry=ToolRegistry.of([]),
            settings=LoopSettings.from_defaults(defaults, model="m"),
        ),
        journal=SessionStore(tmp_path / "sessions", workspace),
        workspace=workspace,
        defaults=defaults,
        rate_limits=RateLimitConfig(),
        shared=GlobalLimits.from_config(RateLimit(max_calls=1000), Budget(), 0.0),
        outbound=outbound,
        logger=logger,
        disk=run_inline,
        wall_clock=wall,
    )
    inbox_send, inbox = trio.open_memory_channel[InboundMessage](ROUTER_MAILBOX_SIZE)
    router = SessionRouter(deps=deps, inbox=inbox)
    _, wake = open_wake_channel()
    runner = GatewayRunner(
        router=inbox_send,
        outbound=outbound,
        channels=frozenset({"telegram"}),
        pool=Pool(worker or Worker(outcome())),  # type: ignore[arg-type]
        command_timeout=30.0,
        logger=logger,
    )
    scheduler = CronScheduler(
        store_path=tmp_path / "cron.json",
        runner=runner,
        wall_clock=wall,
        default_tz="UTC",
        logger=logger,
        wake=wake,
        disk=run_inline,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(router.run)
        await nursery.start(scheduler.run)
        yield replies, records
        scheduler.stopping.set()
        router.stopping.set()


def drained(replies: trio.MemoryReceiveChannel[OutboundMessage]) -> list[OutboundMessage]:
    found = []
    while True:
        try:
            found.append(replies.receive_nowait())
        except trio.WouldBlock:
            return found


async def test_agent_turns_reach_their_owners_chat_and_are_recorded(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add(
        tmp_path / "cron.json",
        "telegram:1",
        "water",
        AgentTurn(message="Drink water"),
        60,
        "0000000a",
    )
    add(
        tmp_path / "cron.json",
        "telegram:2",
        "walk",
        AgentTurn(message="Take a walk"),
        90,
        "0000000b",
    )

    def remind(request: LLMRequest) -> Any:
        return text_reply("Reminder: " + last_user_text(request.messages).splitlines()[-1])

    provider = ScriptedProvider(responder=remind, latency=2.0)
    async with gateway(tmp_path, provider=provider) as (replies, _):
        await trio.sleep(100)
        sent = [(r.chat_id, r.content, r.final) for r in drained(replies)]
    assert sent == [
        ("1", "Reminder: Drink water", True),
        ("2", "Reminder: Take a walk", True),
    ]
    jobs = stored(tmp_path / "cron.json")
    assert jobs["water"].last_run is not None
    assert (jobs["water"].last_run.at, jobs["water"].last_run.duration) == (BASE + 60, 2.0)
    assert jobs["water"].last_run.status is RunStatus.OK
    assert jobs["walk"].last_run is not None and jobs["walk"].last_run.at == BASE + 90


async def test_an_agent_turn_runs_until_its_reply_so_a_long_one_skips_its_next_fire(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add(
        tmp_path / "cron.json",
        "telegram:1",
        "slow",
        AgentTurn(message="Think hard"),
        60,
        "0000000c",
    )
    provider = ScriptedProvider(latency=100.0)  # the model takes 100 s per call
    async with gateway(tmp_path, provider=provider) as (replies, _):
        await trio.sleep(235)
        # model calls at 60 and 180: the fire at 120 came while the first turn
        # (60 to 160) was still waiting for its reply, and was skipped
        assert len(provider.requests) == 2
        job = stored(tmp_path / "cron.json")["slow"]
        assert (job.skipped, job.runs) == (1, 1)
        assert job.last_run is not None and job.last_run.duration == 100.0
        assert len(drained(replies)) == 1


async def test_a_job_whose_channel_is_not_running_records_an_error_and_sends_nothing(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add(tmp_path / "cron.json", "slack:C1", "elsewhere", AgentTurn(message="hi"), 60, "0000000d")
    provider = ScriptedProvider()
    async with gateway(tmp_path, provider=provider) as (replies, _):
        await trio.sleep(61)
        assert drained(replies) == [] and provider.requests == []
    record = stored(tmp_path / "cron.json")["elsewhere"].last_run
    assert record is not None
    assert (record.status, record.error) == (
        RunStatus.ERROR,
        "channel 'slack' is not enabled in this gateway",
    )


async def test_command_output_goes_to_the_owners_chat_capped(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    worker = Worker(outcome("x" * (2 * OUTPUT_CHARS)), seconds=3.0)
    add(tmp_path / "cron.json", "telegram:5", "disk", Command(command="df -h"), 60, "0000000e")
    async with gateway(tmp_path, provider=ScriptedProvider(), worker=worker) as (replies, _):
        await trio.sleep(64)
        [sent] = drained(replies)
    assert worker.commands == [("df -h", ".", 30.0)]
    assert sent.chat_id == "5" and not sent.final
    assert sent.content.startswith("Scheduled job 'disk' (0000000e):\n" + "x" * 100)
    assert f"[output truncated: showing {OUTPUT_CHARS} of {2 * OUTPUT_CHARS}" in sent.content
    record = stored(tmp_path / "cron.json")["disk"].last_run
    assert record is not None and (record.status, record.duration) == (RunStatus.OK, 3.0)


async def test_a_failing_or_timed_out_command_is_recorded_so(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add(tmp_path / "cron.json", "telegram:5", "fails", Command(command="false"), 60, "0000000f")
    worker = Worker(outcome(exit_code=3))
    async with gateway(tmp_path, provider=ScriptedProvider(), worker=worker) as (replies, _):
        await trio.sleep(62)
        worker.outcome = outcome("partial", timed_out=True)
        await trio.sleep(60)
        first, second = drained(replies)
    assert first.content == "Scheduled job 'fails' (0000000f):\nExit code: 3"
    assert second.content.startswith("Scheduled job 'fails' (0000000f):\nError: command timed out")
    record = stored(tmp_path / "cron.json")["fails"].last_run
    assert record is not None
    assert (record.status, record.error) == (
        RunStatus.TIMEOUT,
        "the command timed out (process group killed)",
    )


async def test_a_command_naming_a_dotenv_file_is_denied_at_run_time(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add(tmp_path / "cron.json", "telegram:5", "sneaky", Command(command="cat .env"), 60, "00000010")
    worker = Worker(outcome("SECRET=1"))
    async with gateway(tmp_path, provider=ScriptedProvider(), worker=worker) as (replies, records):
        await trio.sleep(61)
        assert drained(replies) == []
        denied = [r.message for r in drain(records) if r.message.startswith(ACCESS_DENIED)]
    assert worker.commands == []
    assert denied == [f"{ACCESS_DENIED}: command references dotenv file '.env'"]
    record = stored(tmp_path / "cron.json")["sneaky"].last_run
    assert record is not None and record.status is RunStatus.ERROR
