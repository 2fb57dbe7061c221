"""`autobot pairing list | approve CHANNEL CODE | revoke CHANNEL ID`.

The owner's side of `dm_policy: pairing`: list the live codes and the
approved senders of every channel, approve the sender holding a code, or
withdraw an approval. Changes go through `PairingStore.transact`, so they
are safe while the gateway runs (it picks them up without a restart).

Exit codes: 0 done; 1 refused (unknown, expired or malformed code, sender
not approved, unusable store) with one line on stderr and nothing changed;
2 for usage errors (argparse: unknown action or channel, missing argument).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from autobot.channels.access import AccessConfigError, AllowList
from autobot.channels.pairing import (
    Approval,
    PairingBook,
    PairingChange,
    PairingError,
    PendingCode,
    approve_code,
    revoke_sender,
)
from autobot.channels.pairing_store import PairingStore, PairingStoreError
from autobot.config.load import LoadedConfig
from autobot.config.schema import CHANNEL_NAMES


def add_pairing_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `pairing` and its actions to the `autobot` subcommands."""
    pairing = commands.add_parser(
        "pairing", help="list, approve or revoke senders paired through dm_policy: pairing"
    )
    actions = pairing.add_subparsers(dest="pairing_action", metavar="ACTION", required=True)
    actions.add_parser("list", help="pending codes and approved senders per channel")
    approve = actions.add_parser("approve", help="let the sender holding CODE talk to the bot")
    approve.add_argument("channel", metavar="CHANNEL", choices=CHANNEL_NAMES)
    approve.add_argument("code", metavar="CODE", help="the code the sender received")
    revoke = actions.add_parser("revoke", help="withdraw the approval of sender ID")
    revoke.add_argument("channel", metavar="CHANNEL", choices=CHANNEL_NAMES)
    revoke.add_argument("sender_id", metavar="ID", help="the sender's id, as `list` shows it")


def pairing_main(
    loaded: LoadedConfig,
    args: argparse.Namespace,
    *,
    out: TextIO,
    err: TextIO,
    clock: Callable[[], float] = time.time,
) -> int:
    """Run the action parsed by `add_pairing_parser` on the store in the bot
    directory of `loaded`; returns the exit code (see module docstring)."""
    now = clock()
    try:
        with PairingStore(loaded.bot_dir) as store:
            if args.pairing_action == "list":
                out.write(render_book(store.current(), now))
                return 0
            if args.pairing_action == "approve":
                change = store.transact(
                    lambda book: approve_code(book, channel=args.channel, code=args.code, now=now)
                )
                out.write(f"Approved {_who(change.approval)} on {args.channel}.\n")
                return 0
            change = store.transact(
                lambda book: revoke_sender(
                    book, channel=args.channel, sender_id=args.sender_id, now=now
                )
            )
    except (PairingError, PairingStoreError) as error:
        err.write(f"autobot: {error}\n")
        return 1
    except OSError as error:
        err.write(f"autobot: cannot write {loaded.bot_dir}: {error.strerror or error}\n")
        return 1
    out.write(f"Revoked {_who(change.approval)} on {args.channel}.\n")
    _note_still_allowed(loaded, change, out)
    return 0


def _note_still_allowed(loaded: LoadedConfig, change: PairingChange, out: TextIO) -> None:
    """Say so when the config still lets the revoked sender in."""
    channel = change.approval.channel
    name = f"channels.{channel}.allow_from"
    try:
        allow = AllowList.parse(
            getattr(loaded.config.channels, channel).allow_from,
            telegram=channel == "telegram",
            name=name,
        )
    except AccessConfigError:
        return  # the gateway refuses this config anyway
    if allow.admits(change.approval.sender_id, change.approval.username):
        out.write(f"Note: {name} still allows this sender.\n")


def render_book(book: PairingBook, now: float) -> str:
    """The `list` text: per channel, live codes then approved senders."""
    lines: list[str] = []
    channels = sorted({p.channel for p in book.pending} | {a.channel for a in book.approved})
    for channel in channels:
        live = book.live_pending(channel, now)
        approved = book.approvals(channel)
        if not live and not approved:
            continue
        lines.append(f"{channel}:")
        if live:
            lines.append("  pending codes:")
            lines.extend(f"    {_pending_line(p, now)}" for p in live)
        if approved:
            lines.append("  approved senders:")
            lines.extend(f"    {_who(a)}, approved {_utc(a.approved_at)}" for a in approved)
    if not lines:
        return "No pending pairing codes and no approved senders.\n"
    return "\n".join(lines) + "\n"


def _pending_line(pending: PendingCode, now: float) -> str:
    minutes = max(1, int((pending.expires_at - now + 59) // 60))
    return f"{pending.code}  from {_who(pending)}, expires in {minutes} min"


def _who(entry: PendingCode | Approval) -> str:
    # Ids and usernames were validated when loaded: printable, no spaces.
    return f"{entry.sender_id} (@{entry.username})" if entry.username else entry.sender_id


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
