"""`autobot cron list | show | add | remove | enable | disable | run`: the operator's view of jobs.

The operator sees every owner's jobs; `--owner channel:chat_id` narrows any
action to one owner (another owner's id then answers "not found", as it does
for that owner), and `add` needs it: a job always belongs to a conversation,
whose chat receives what it does. Changes go through `CronStore.transact`,
so they are safe while the gateway runs: its scheduler notices the store's
stamp within `STORE_POLL_SECONDS` and follows, without a restart.

`run` marks the job due now (`book.run_now`): a running gateway starts it
at its next look at the store (within 5 seconds); with no gateway running,
the job runs once when the gateway next starts (a missed run). A job still
running then counts the request as a skipped run. Nothing here runs a job
itself: a job runs in the gateway, in the owner's session and sandbox.

Imports stay light (no gateway, no LLM SDK): this is a quick command.

Exit codes: 0 done; 1 refused (an unknown id, a schedule or text the core
refuses, an unusable store: corrupt, of a newer version, not a regular file)
with one line on stderr and nothing changed; 2 for usage errors (argparse:
unknown action, missing or malformed argument, `add` without `--owner`).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import TextIO

from autobot.config.load import LoadedConfig
from autobot.cron import book
from autobot.cron.book import JobBook, Limits
from autobot.cron.jobs import Action, AgentTurn, Command, CronError, Job
from autobot.cron.render import default_name, job_details, job_line, job_list
from autobot.cron.schedule import parse_schedule
from autobot.cron.settings import cron_limits
from autobot.cron.store import CronStore, CronStoreError


def cron_main(
    loaded: LoadedConfig,
    args: argparse.Namespace,
    *,
    out: TextIO,
    err: TextIO,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
) -> int:
    """Run the action parsed by `add_cron_parser` on the bot's cron store;
    returns the exit code (see the module docstring)."""
    try:
        limits = cron_limits(loaded.config.cron)
        with CronStore(loaded.cron_store) as store:
            out.write(_act(store, args, limits, clock(), rng or random.Random()) + "\n")
    except (CronError, CronStoreError) as error:
        err.write(f"autobot: {error}\n")
        return 1
    except OSError as error:
        err.write(f"autobot: cannot use {loaded.cron_store}: {error.strerror or error}\n")
        return 1
    if args.cron_action in ("add", "enable", "run") and not loaded.config.cron.enabled:
        out.write("Note: cron.enabled is false in config.yml: no job runs until it is true.\n")
    return 0


def _act(
    store: CronStore, args: argparse.Namespace, limits: Limits, now: float, rng: random.Random
) -> str:
    """Do `args` on `store`; the text to print. Raises CronError, CronStoreError, OSError."""
    owner: str | None = args.owner
    tz = limits.default_tz
    action = args.cron_action
    if action == "list":
        return job_list(book.list_jobs(store.load(), owner), tz, with_owner=True)
    if action == "add":
        return _add(store, args, limits, now, rng)
    job_id = args.job_id
    if action == "show":
        return job_details(book.get(store.load(), owner, job_id), tz)
    if action == "remove":
        job = _change(store, lambda jobs: book.remove(jobs, owner, job_id))
        return f"Removed job {job.id} ({job.name}) of {job.owner}."
    if action in ("enable", "disable"):
        enabled = action == "enable"
        job = _change(
            store, lambda jobs: book.set_enabled(jobs, owner, job_id, enabled, now, limits)
        )
        return f"Job {job.id} {action}d.\n{job_line(job, tz, with_owner=True)}"
    job = _change(store, lambda jobs: book.run_now(jobs, owner, job_id, now))
    return (
        f"Job {job.id} ({job.name}) is due now: a running gateway starts it within a few "
        f"seconds; if no gateway runs, it runs when the gateway next starts."
    )


def _add(
    store: CronStore, args: argparse.Namespace, limits: Limits, now: float, rng: random.Random
) -> str:
    schedule = parse_schedule(
        every_seconds=args.every,
        cron_expr=args.cron,
        at=args.at,
        tz=args.tz,
        min_interval=limits.min_interval,
        now=now,
        default_tz=limits.default_tz,
    )
    action: Action = (
        AgentTurn(message=args.message)
        if args.message is not None
        else Command(command=args.job_command)
    )
    name = args.name if args.name is not None else default_name(action)
    job = _change(
        store,
        lambda jobs: book.add(
            jobs,
            owner=args.owner,
            name=name,
            schedule=schedule,
            action=action,
            now=now,
            limits=limits,
            new_id=book.new_job_id(rng, jobs),
        ),
    )
    return f"Added job {job.id}.\n{job_line(job, limits.default_tz, with_owner=True)}"


def _change(store: CronStore, change: Callable[[JobBook], tuple[JobBook, Job]]) -> Job:
    return store.transact(change)
