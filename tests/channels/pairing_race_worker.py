"""A separate process that writes the pairing store, for the concurrency tests.

python pairing_race_worker.py BOT_DIR approve CHANNEL:CODE...
    waits for a line on stdin ("go"), then approves each code in its own
    transaction, as `autobot pairing approve` run in a loop does;
python pairing_race_worker.py BOT_DIR issue CHANNEL:SENDER...
    waits for "go", then asks a pairing code for each sender in its own
    transaction, as the gateway does for an unknown sender;
python pairing_race_worker.py BOT_DIR hold
    in one transaction, with the lock held and the book read, prints
    "inside" and waits for a line on stdin before adding the approval
    zulip/held and committing.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

from autobot.channels.access import AccessPolicy, Chat, DmPolicy, Sender, decide_access
from autobot.channels.pairing import Approval, PairingBook, PairingChange, approve_code
from autobot.channels.pairing_store import PairingStore

HELD = Approval(channel="zulip", sender_id="held", approved_at=1.0)


def hold(store: PairingStore) -> None:
    dry_run_done = False

    def change(book: PairingBook) -> PairingChange:
        nonlocal dry_run_done
        if dry_run_done:  # the second run: under the lock
            print("inside", flush=True)
            sys.stdin.readline()
        dry_run_done = True
        return PairingChange(book=with_approval(book, HELD), approval=HELD)

    store.transact(change)


def with_approval(book: PairingBook, approval: Approval) -> PairingBook:
    return PairingBook(pending=book.pending, approved=(*book.approved, approval))


def main(bot_dir: str, mode: str, *items: str) -> None:
    with PairingStore(Path(bot_dir)) as store:
        if mode == "hold":
            hold(store)
            return
        sys.stdin.readline()
        for item in items:
            channel, value, *drawn = item.split(":")
            if mode == "approve":
                store.transact(
                    functools.partial(approve_code, channel=channel, code=value, now=time.time())
                )
                continue
            policy = AccessPolicy.from_settings(channel, allow_from=(), dm_policy=DmPolicy.PAIRING)
            store.transact(
                functools.partial(
                    decide_access,
                    policy,
                    Sender(id=value),
                    Chat(id=value),
                    now=time.time(),
                    draw_code=functools.partial(str, drawn[0]),
                )
            )


if __name__ == "__main__":
    main(*sys.argv[1:])
