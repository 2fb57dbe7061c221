"""The `cron` tool through the registry: every action, owner isolation, argument
errors, refusals during a scheduled run, limits, dotenv commands, a bad store."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from autobot.config.schema import RateLimit, RateLimitConfig
from autobot.cron.book import Limits
from autobot.cron.jobs import AgentTurn, Command, CronSchedule, EverySchedule
from autobot.cron.scheduler import open_wake_channel
from autobot.cron.store import CronStore
from autobot.cron.tool import CronTool
from autobot.limits.buckets import SessionLimits
from autobot.llm.types import ToolCall
from autobot.logs.records import ACCESS_DENIED, LogRecord
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.registry import ToolRegistry

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
LIMITS = Limits(min_interval=120, max_jobs_per_owner=3, default_tz="Europe/Paris")
ALICE = "1001"
BOB = "1002"
MISSING = "0badf00d"


@attrs.define
class Bench:
    registry: ToolRegistry
    path: Path
    wakes: trio.MemoryReceiveChannel[None]
    records: trio.MemoryReceiveChannel[LogRecord]
    logger: Any

    def ctx(self, chat: str, *, scheduled_job: str | None = None) -> ToolContext:
        return ToolContext(
            session_key=f"telegram:{chat}",
            channel="telegram",
            chat_id=chat,
            workspace=self.path.parent,
            logger=self.logger,
            scheduled_job=scheduled_job,
        )

    async def call(
        self, chat: str, args: Mapping[str, Any], *, scheduled_job: str | None = None
    ) -> ToolResult:
        limits = SessionLimits.from_config(
            RateLimitConfig(tools=RateLimit(max_calls=1000)), now=trio.current_time()
        )
        call = ToolCall(id="c1", name="cron", arguments=dict(args))
        return await self.registry.call(call, self.ctx(chat, scheduled_job=scheduled_job), limits)

    async def added(self, chat: str, **args: Any) -> str:
        result = await self.call(chat, {"action": "add", **args})
        assert not result.is_error, result.text
        return result.text.split()[2]  # "Added job <id> (...)"

    def pokes(self) -> int:
        count = 0
        while True:
            try:
                self.wakes.receive_nowait()
            except trio.WouldBlock:
                return count
            count += 1

    def denied(self) -> list[str]:
        return [r.message for r in drain(self.records) if r.message.startswith(ACCESS_DENIED)]

    def jobs(self) -> dict[str, Any]:
        with CronStore(self.path) as store:
            return {job.id: job for job in store.load().jobs}

    def raw(self) -> bytes:
        return self.path.read_bytes() if self.path.exists() else b""


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    logger, records = capture_logger("agent")
    wake, wakes = open_wake_channel()
    tool = CronTool(
        store_path=tmp_path / "cron.json",
        limits=LIMITS,
        wall_clock=lambda: NOW,
        rng=random.Random(7),
        wake=wake,
    )
    return Bench(ToolRegistry.of([tool]), tmp_path / "cron.json", wakes, records, logger)


async def test_every_action_on_the_callers_own_job(bench: Bench) -> None:
    job_id = await bench.added(
        ALICE, message="Remind me to drink water", every_seconds=3600, name="water"
    )
    assert bench.pokes() == 1
    [job] = bench.jobs().values()
    assert (job.id, job.owner, job.name) == (job_id, f"telegram:{ALICE}", "water")
    assert job.action == AgentTurn(message="Remind me to drink water")
    assert job.schedule == EverySchedule(seconds=3600) and job.next_run_at == NOW + 3600

    listed = await bench.call(ALICE, {"action": "list"})
    assert job_id in listed.text and "'water'" in listed.text and "every 3600 s" in listed.text
    shown = await bench.call(ALICE, {"action": "show", "job_id": job_id})
    assert "owner: telegram:1001" in shown.text and "Remind me to drink water" in shown.text
    assert "next run: 2026-01-01T02:00:00+01:00" in shown.text  # in the bot's zone
    assert bench.pokes() == 0  # reading wakes nobody

    updated = await bench.call(
        ALICE,
        {"action": "update", "job_id": job_id, "cron_expr": "0 9 * * mon-fri", "tz": "UTC"},
    )
    assert not updated.is_error, updated.text
    assert bench.jobs()[job_id].schedule == CronSchedule(expr="0 9 * * mon-fri", tz="UTC")
    assert bench.jobs()[job_id].next_run_at == NOW + 9 * 3600  # Thursday 09:00 UTC

    disabled = await bench.call(ALICE, {"action": "disable", "job_id": job_id})
    assert disabled.text.startswith(f"Job {job_id} disabled.")
    assert bench.jobs()[job_id].next_run_at is None
    refused = await bench.call(ALICE, {"action": "run", "job_id": job_id})
    assert refused.is_error and "disabled" in refused.text
    await bench.call(ALICE, {"action": "enable", "job_id": job_id})
    ran = await bench.call(ALICE, {"action": "run", "job_id": job_id})
    assert not ran.is_error and bench.jobs()[job_id].next_run_at == NOW
    removed = await bench.call(ALICE, {"action": "remove", "job_id": job_id})
    assert removed.text == f"Removed job {job_id} (water)."
    assert bench.jobs() == {}
    assert bench.pokes() == 1  # pokes pending are one wake-up
    assert (await bench.call(ALICE, {"action": "list"})).text == "No scheduled jobs."


async def test_another_owners_job_answers_exactly_like_a_missing_one(bench: Bench) -> None:
    alices = await bench.added(ALICE, message="secret plan", every_seconds=1200)
    before = bench.raw()
    attempts: list[dict[str, Any]] = [
        {"action": "show"},
        {"action": "update", "name": "mine now"},
        {"action": "update", "message": "do my bidding"},
        {"action": "update", "every_seconds": 120},
        {"action": "enable"},
        {"action": "disable"},
        {"action": "remove"},
        {"action": "run"},
    ]
    for attempt in attempts:
        theirs = await bench.call(BOB, {**attempt, "job_id": alices})
        missing = await bench.call(BOB, {**attempt, "job_id": MISSING})
        assert theirs.is_error and missing.is_error
        assert theirs.text == missing.text.replace(MISSING, alices) == f"Error: no job '{alices}'"
    assert bench.raw() == before  # nothing changed
    assert (await bench.call(BOB, {"action": "list"})).text == "No scheduled jobs."
    assert "secret plan" in (await bench.call(ALICE, {"action": "list"})).text


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"action": "explode"}, "Invalid arguments for cron: 'action' must be one of"),
        ({"action": "list", "owner": "telegram:1002"}, "unexpected argument 'owner'"),
        ({"action": "list", "job_id": "0badf00d"}, "Error: action 'list' takes no 'job_id'."),
        ({"action": "show"}, "Error: action 'show' needs 'job_id' (see action 'list')."),
        ({"action": "add", "every_seconds": 120}, "needs either 'message' (an agent turn)"),
        (
            {"action": "add", "message": "a", "command": "b", "every_seconds": 120},
            "needs either 'message' (an agent turn) or 'command', not both",
        ),
        (
            {"action": "add", "message": "hi"},
            "Error: action 'add' needs a schedule: every_seconds, cron_expr or at",
        ),
        (
            {"action": "add", "message": "hi", "every_seconds": 120, "at": "2026-02-01T09:00"},
            "Error: give exactly one of every_seconds, cron_expr or at",
        ),
        ({"action": "add", "message": "hi", "every_seconds": 119}, "at least 120"),
        ({"action": "add", "message": "hi", "every_seconds": "120"}, "must be an integer"),
        (
            {"action": "add", "message": "hi", "cron_expr": "* * * * *"},
            "can fire 60 s apart; the minimum interval is 120 s",
        ),
        ({"action": "add", "message": "hi", "cron_expr": "61 * * * *"}, "cron"),
        ({"action": "add", "message": "hi", "at": "2025-12-31T23:00"}, "is in the past"),
        ({"action": "add", "message": "hi", "at": "tomorrow"}, "is not an ISO-8601 time"),
        (
            {"action": "add", "message": "hi", "cron_expr": "@daily", "tz": "Mars/Olympus"},
            "is not a known time zone",
        ),
        (
            {"action": "add", "message": "hi", "every_seconds": 120, "tz": "UTC"},
            "Error: 'tz' goes with 'cron_expr' or 'at'.",
        ),
        ({"action": "update", "job_id": "0badf00d"}, "needs something to change"),
        ({"action": "remove", "job_id": "../../etc"}, "is not a job id"),
        ({"action": "add", "message": "", "every_seconds": 120}, "at least 1 characters"),
        ({"action": "add", "message": "x" * 4001, "every_seconds": 120}, "at most 4000"),
        (
            {"action": "add", "message": "hi", "every_seconds": 120, "name": "a\nb"},
            "name must not contain line breaks",
        ),
    ],
)
async def test_bad_arguments_are_a_clear_error_and_change_nothing(
    bench: Bench, args: dict[str, Any], error: str
) -> None:
    result = await bench.call(ALICE, args)
    assert result.is_error and error in result.text, result.text
    assert bench.raw() == b"" and bench.pokes() == 0


async def test_a_scheduled_run_may_look_but_not_change_jobs(bench: Bench) -> None:
    job_id = await bench.added(ALICE, message="check the news", every_seconds=3600)
    bench.pokes()
    before = bench.raw()
    changes: list[dict[str, Any]] = [
        {"action": "add", "message": "spawn more", "every_seconds": 120},
        {"action": "update", "job_id": job_id, "every_seconds": 120},
        {"action": "disable", "job_id": job_id},
        {"action": "enable", "job_id": job_id},
        {"action": "remove", "job_id": job_id},
        {"action": "run", "job_id": job_id},
    ]
    for args in changes:
        refused = await bench.call(ALICE, args, scheduled_job=job_id)
        assert refused.is_error
        assert refused.text.startswith(f"Not done: this turn is a scheduled run of job {job_id}")
    assert len(bench.denied()) == len(changes)
    assert bench.raw() == before and bench.pokes() == 0
    listed = await bench.call(ALICE, {"action": "list"}, scheduled_job=job_id)
    shown = await bench.call(ALICE, {"action": "show", "job_id": job_id}, scheduled_job=job_id)
    assert job_id in listed.text and not shown.is_error


async def test_limits_jobs_per_owner_and_minimum_interval(bench: Bench) -> None:
    for n in range(3):
        await bench.added(ALICE, message=f"job {n}", every_seconds=120)
    fourth = await bench.call(ALICE, {"action": "add", "message": "one more", "every_seconds": 120})
    assert fourth.is_error and "already has 3 scheduled jobs" in fourth.text
    assert "cron.max_jobs_per_owner = 3" in fourth.text
    bobs = await bench.added(BOB, message="bob's own", every_seconds=120)  # per owner
    often = await bench.call(BOB, {"action": "update", "job_id": bobs, "every_seconds": 60})
    assert often.is_error and "every_seconds must be at least 120" in often.text
    assert len(bench.jobs()) == 4


async def test_commands_naming_a_dotenv_file_are_denied(bench: Bench) -> None:
    result = await bench.call(ALICE, {"action": "add", "command": "cat .env", "every_seconds": 120})
    assert result.is_error and "dotenv" in result.text
    assert bench.denied() == [f"{ACCESS_DENIED}: Error: command references dotenv file '.env'"]
    assert bench.raw() == b""
    job_id = await bench.added(ALICE, command="df -h", every_seconds=300, name="disk")
    assert bench.jobs()[job_id].action == Command(command="df -h")
    sneaky = await bench.call(
        ALICE, {"action": "update", "job_id": job_id, "command": "cat ../.env.local"}
    )
    assert sneaky.is_error and bench.jobs()[job_id].action == Command(command="df -h")


async def test_without_a_sandbox_commands_are_refused(tmp_path: Path) -> None:
    logger, _ = capture_logger("agent")
    wake, _wakes = open_wake_channel()
    tool = CronTool(
        store_path=tmp_path / "cron.json",
        limits=LIMITS,
        wall_clock=lambda: NOW,
        rng=random.Random(1),
        wake=wake,
        commands=False,
    )
    ctx = ToolContext(
        session_key="telegram:1", channel="telegram", chat_id="1", workspace=tmp_path, logger=logger
    )
    result = await tool.run({"action": "add", "command": "ls", "every_seconds": 120}, ctx)
    assert result.is_error and "need the sandbox" in result.text
    assert not (tmp_path / "cron.json").exists()


async def test_a_corrupt_store_is_an_error_and_left_untouched(bench: Bench) -> None:
    bench.path.write_text('{"version": 2, "jobs": []}')
    for args in ({"action": "list"}, {"action": "add", "message": "hi", "every_seconds": 120}):
        result = await bench.call(ALICE, args)
        assert result.is_error
        assert result.text == (
            "Error: the job store cannot be used right now (the bot's owner has to fix it); "
            "nothing was changed."
        )
    assert bench.path.read_text() == '{"version": 2, "jobs": []}'
    assert bench.pokes() == 0


async def test_a_job_name_defaults_to_the_start_of_its_message(bench: Bench) -> None:
    job_id = await bench.added(
        ALICE, message="Water the plants\nand the garden", at="2026-01-02T08:00"
    )
    job = bench.jobs()[job_id]
    assert job.name == "Water the plants"
    assert job.next_run_at == NOW + 86400 + 7 * 3600  # 08:00 Paris = 07:00 UTC
