"""The `cron` tool: the model schedules, lists and changes the conversation's own jobs.

`cron {action: add|list|show|update|enable|disable|remove|run, name?,
message?, command?, every_seconds?, cron_expr?, at?, tz?, job_id?}`.

Owner isolation: the owner is always the calling session (`ctx.session_key`,
`channel:chat_id`); the tool has no argument to name another. Every
operation goes through the owner-scoped functions of `autobot.cron.book`, so
another conversation's job id is answered exactly as a missing id is
(`no job '<id>'`): the model cannot learn that it exists, let alone change it.

A job is an agent turn (`message`: what the assistant should do at each run,
in this chat, counted against this conversation's rate limits and budgets)
or a `command` (run in the sandbox like `exec`; its output is sent to this
chat). Schedules: `every_seconds`, a 5-field `cron_expr` or an `at` ISO-8601
time (once), `tz` an IANA zone for the last two (default: `cron.timezone`,
else the host's). The bot's limits (`cron.min_interval_seconds`,
`cron.max_jobs_per_owner`) are the core's checks.

During a scheduled run (`ctx.scheduled_job` set) only `list` and `show` are
allowed: a job cannot add, change, remove or trigger jobs (ACCESS DENIED).
A command naming a dotenv file is refused with ACCESS DENIED, as `exec`
refuses it. `run` marks the job due now; the scheduler, poked through `wake`,
starts it at once. Every change is a `CronStore.transact` in a worker thread
(`limiter`), safe alongside the scheduler and the `autobot cron` CLI.
Argument problems are errors the model can act on; nothing is changed then.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import trio

from autobot.cron import book
from autobot.cron.book import JobBook, Limits
from autobot.cron.jobs import (
    MAX_COMMAND_CHARS,
    MAX_EXPR_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    Action,
    AgentTurn,
    Command,
    CronError,
    Job,
    Schedule,
    parse_owner,
)
from autobot.cron.render import default_name, job_details, job_line, job_list, job_zone, moment
from autobot.cron.schedule import describe, parse_schedule
from autobot.cron.scheduler import poke
from autobot.cron.store import CronStore, CronStoreError
from autobot.sandbox.mapping import dotenv_token
from autobot.tools.base import ToolContext, ToolResult, access_denied

ACTIONS = ("add", "list", "show", "update", "enable", "disable", "remove", "run")
CHANGES = frozenset({"add", "update", "enable", "disable", "remove", "run"})
_SCHEDULE_ARGS = ("every_seconds", "cron_expr", "at", "tz")
_WHAT_ARGS = ("name", "message", "command")
# The arguments each action takes (besides `action`), and the ones it needs.
ALLOWED = {
    "add": frozenset({*_WHAT_ARGS, *_SCHEDULE_ARGS}),
    "list": frozenset(),
    "update": frozenset({"job_id", *_WHAT_ARGS, *_SCHEDULE_ARGS}),
    **{action: frozenset({"job_id"}) for action in ("show", "enable", "disable", "remove", "run")},
}

CRON_PARAMETERS: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": list(ACTIONS)},
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_NAME_CHARS,
            "description": "A short name for the job (default: the start of its message or command).",
        },
        "message": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_MESSAGE_CHARS,
            "description": (
                "What you should do at each run, as an instruction to yourself "
                "(e.g. 'Remind the user to drink water'); your reply goes to this chat."
            ),
        },
        "command": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_COMMAND_CHARS,
            "description": "A shell command run in the sandbox; its output is sent to this chat.",
        },
        "every_seconds": {"type": "integer", "minimum": 1, "description": "Repeat interval."},
        "cron_expr": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_EXPR_CHARS,
            "description": "5-field cron expression ('0 9 * * mon-fri') or @daily, @hourly...",
        },
        "at": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "description": (
                "Run once at this ISO-8601 time (2026-12-24T09:00 or 2026-12-24T09:00+01:00)."
            ),
        },
        "tz": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "description": "IANA time zone for cron_expr, or for an `at` without an offset.",
        },
        "job_id": {"type": "string", "minLength": 1, "maxLength": 64},
    },
    "required": ["action"],
    "additionalProperties": False,
}


def argument_problem(args: Mapping[str, Any]) -> str | None:
    """What is wrong with the combination of `args` for its action (the
    schema checked the types), or None."""
    action = args["action"]
    given = set(args) - {"action"}
    extra = sorted(given - ALLOWED[action])
    if extra:
        return f"action {action!r} takes no {', '.join(repr(name) for name in extra)}"
    if "job_id" in ALLOWED[action] and "job_id" not in given:
        return f"action {action!r} needs 'job_id' (see action 'list')"
    if action == "add" and ("message" in given) == ("command" in given):
        return "action 'add' needs either 'message' (an agent turn) or 'command', not both"
    if action == "update" and given == {"job_id"}:
        return "action 'update' needs something to change: name, message, command or a schedule"
    if "tz" in given and not {"cron_expr", "at"} & given:
        return "'tz' goes with 'cron_expr' or 'at'"
    return None


@attrs.frozen(kw_only=True)
class CronSetup:
    """What the composition root gives the `cron` tool: the store file, the
    bot's limits (with the default zone the scheduler uses too), the wall
    clock, the source of job ids and the scheduler's wake-up channel."""

    store_path: Path
    limits: Limits
    wall_clock: Callable[[], float]
    rng: random.Random
    wake: trio.MemorySendChannel[None]


@attrs.define(kw_only=True, eq=False)
class CronTool:
    """The `cron` tool over the store at `store_path` (see the module docstring).

    `limits` are the bot's (`cron.*`, with the default zone); `wall_clock`
    gives seconds since the epoch; `rng` draws job ids; `wake` pokes the
    scheduler; `commands` is False when there is no sandbox to run commands
    in (command jobs are then refused).
    """

    store_path: Path
    limits: Limits
    wall_clock: Callable[[], float]
    rng: random.Random
    wake: trio.MemorySendChannel[None]
    commands: bool = True
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))
    name: str = "cron"
    description: str = (
        "Schedule jobs for this conversation: reminders and recurring tasks you will "
        "do (message) or shell commands run in the sandbox (command), every N seconds, "
        "on a cron expression or once at a time. Actions: add, list, show, update, "
        "enable, disable, remove, run (now). Only this conversation's jobs are visible."
    )
    parameters: Mapping[str, Any] = CRON_PARAMETERS

    @classmethod
    def from_setup(cls, setup: CronSetup, *, commands: bool) -> CronTool:
        return cls(
            store_path=setup.store_path,
            limits=setup.limits,
            wall_clock=setup.wall_clock,
            rng=setup.rng,
            wake=setup.wake,
            commands=commands,
        )

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        action = args["action"]
        problem = argument_problem(args)
        if problem is not None:
            return ToolResult.error(f"Error: {problem}.")
        if action in CHANGES and ctx.scheduled_job is not None:
            return access_denied(
                ctx,
                self.name,
                f"Not done: this turn is a scheduled run of job {ctx.scheduled_job}; jobs "
                f"cannot be added, changed, removed or run from a scheduled run. Only "
                f"'list' and 'show' work here; do not retry.",
            )
        command = args.get("command")
        if command is not None:
            if not self.commands:
                return ToolResult.error(
                    "Error: command jobs need the sandbox, which this bot does not run; "
                    "schedule a message instead."
                )
            token = dotenv_token(command)
            if token is not None:
                return access_denied(
                    ctx, self.name, f"Error: command references dotenv file '{token}'"
                )
        now = self.wall_clock()
        apply = functools.partial(self._apply, args, ctx.session_key, now)
        try:
            text = await trio.to_thread.run_sync(apply, limiter=self.limiter)
        except CronError as exc:
            return ToolResult.error(f"Error: {exc}")
        except (CronStoreError, OSError) as exc:
            ctx.logger.error("Cron store unusable", error=exc, session=ctx.session_key)
            return ToolResult.error(
                "Error: the job store cannot be used right now (the bot's owner has to "
                "fix it); nothing was changed."
            )
        if action in CHANGES:
            poke(self.wake)
        return ToolResult.ok(text)

    # ---- in a worker thread ---------------------------------------------------------

    def _apply(self, args: Mapping[str, Any], session: str, now: float) -> str:
        """Do `args` for the owner `session` (blocking: the store); the text
        for the model. Raises CronError, CronStoreError, OSError."""
        owner = parse_owner(session)
        action = args["action"]
        tz = self.limits.default_tz
        with CronStore(self.store_path) as store:
            if action == "list":
                return job_list(book.list_jobs(store.load(), owner), tz)
            if action == "add":
                return self._add(store, owner, args, now)
            job_id = args["job_id"]
            if action == "show":
                return job_details(book.get(store.load(), owner, job_id), tz)
            if action == "update":
                schedule = self._schedule(args, now)
                changed = self._transact(
                    store,
                    lambda jobs: book.update(
                        jobs,
                        owner,
                        job_id,
                        name=args.get("name"),
                        message=args.get("message"),
                        command=args.get("command"),
                        schedule=schedule,
                        now=now,
                        limits=self.limits,
                    ),
                )
                return f"Updated job {changed.id}:\n{job_line(changed, tz)}"
            if action in ("enable", "disable"):
                enabled = action == "enable"
                changed = self._transact(
                    store,
                    lambda jobs: book.set_enabled(jobs, owner, job_id, enabled, now, self.limits),
                )
                return f"Job {changed.id} {action}d.\n{job_line(changed, tz)}"
            if action == "remove":
                changed = self._transact(store, lambda jobs: book.remove(jobs, owner, job_id))
                return f"Removed job {changed.id} ({changed.name})."
            changed = self._transact(store, lambda jobs: book.run_now(jobs, owner, job_id, now))
            return (
                f"Job {changed.id} ({changed.name}) is due now and starts within seconds "
                f"(if its previous run is still going, this one is skipped and counted)."
            )

    def _add(self, store: CronStore, owner: str, args: Mapping[str, Any], now: float) -> str:
        action: Action = (
            AgentTurn(message=args["message"])
            if "message" in args
            else Command(command=args["command"])
        )
        schedule = self._schedule(args, now)
        if schedule is None:
            raise CronError("action 'add' needs a schedule: every_seconds, cron_expr or at")
        name = args.get("name") or default_name(action)
        job = self._transact(
            store,
            lambda jobs: book.add(
                jobs,
                owner=owner,
                name=name,
                schedule=schedule,
                action=action,
                now=now,
                limits=self.limits,
                new_id=book.new_job_id(self.rng, jobs),
            ),
        )
        tz = job_zone(job, self.limits.default_tz)
        first = "never" if job.next_run_at is None else moment(job.next_run_at, tz)
        kind = "an agent turn in this chat" if "message" in args else "a command in the sandbox"
        return (
            f"Added job {job.id} ({job.name}): {describe(job.schedule, self.limits.default_tz)}, "
            f"{kind}; first run {first}."
        )

    def _schedule(self, args: Mapping[str, Any], now: float) -> Schedule | None:
        """The schedule `args` give, or None when they give none."""
        if not {"every_seconds", "cron_expr", "at"} & set(args):
            return None
        return parse_schedule(
            every_seconds=args.get("every_seconds"),
            cron_expr=args.get("cron_expr"),
            at=args.get("at"),
            tz=args.get("tz"),
            min_interval=self.limits.min_interval,
            now=now,
            default_tz=self.limits.default_tz,
        )

    @staticmethod
    def _transact(store: CronStore, change: Callable[[JobBook], tuple[JobBook, Job]]) -> Job:
        return store.transact(change)
