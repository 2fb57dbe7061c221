"""A separate process that writes the cron store, for the store's concurrency tests.

python cron_store_worker.py STORE add OWNER JOB_ID...
    waits for a line on stdin ("go"), then adds each job for OWNER in its own
    transaction, as `autobot cron add` run in a loop (or the gateway) does;
python cron_store_worker.py STORE crash JOB_ID
    adds the job, but stops inside the atomic write with the new content
    written and synced and not yet renamed over the store: prints "renaming"
    and waits forever, for the test to kill it there (SIGKILL: a crash).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from autobot.cron.book import JobBook, Limits, add
from autobot.cron.jobs import AgentTurn, EverySchedule, Job
from autobot.cron.store import CronStore

NOW = 1_800_000_000.0
LIMITS = Limits(min_interval=60, max_jobs_per_owner=1000, default_tz="UTC")


def adding(owner: str, job_id: str) -> functools.partial[tuple[JobBook, Job]]:
    return functools.partial(
        add,
        owner=owner,
        name=f"job {job_id}",
        schedule=EverySchedule(seconds=3600),
        action=AgentTurn(message=f"from {owner}"),
        now=NOW,
        limits=LIMITS,
        new_id=job_id,
    )


def hang_before_rename(source: object, target: object) -> None:
    print("renaming", flush=True)
    while True:
        sys.stdin.readline()


def main(store_path: str, mode: str, *args: str) -> None:
    with CronStore(Path(store_path)) as store:
        if mode == "crash":
            os.replace = hang_before_rename  # type: ignore[assignment]
            store.transact(adding("cli:crash", args[0]))
            return
        owner, *job_ids = args
        sys.stdin.readline()
        for job_id in job_ids:
            store.transact(adding(owner, job_id))


if __name__ == "__main__":
    main(*sys.argv[1:])
