"""Pairing codes and approvals: the pure core of `dm_policy: pairing`.

With pairing, a sender nobody listed in `allow_from` who writes to the bot in
a private chat is given a one-time code; the owner approves it on the host
(`autobot pairing approve CHANNEL CODE`) and from then on that sender's
stable id is allowed on that channel, until revoked. This module owns the
rules as plain values and functions of their inputs and of `now` (wall-clock
seconds since the epoch, injected: the store file is shared by the gateway and
the CLI, so monotonic clocks of two processes would not compare):

- a code is `CODE_LENGTH` characters of `CODE_ALPHABET` (no 0/O/1/I), drawn
  with `secrets`; input is accepted in any case with surrounding blanks;
  codes are compared in constant time;
- a code lives `CODE_TTL_SECONDS` (1 h): it is live at `created_at -
  CLOCK_SKEW_SECONDS <= now < created_at + 1 h`. The skew covers a process
  that read its clock, then waited for the store lock while another stamped
  a code a little later; a code from further in the future (the clock was
  set back) is treated as expired, never as living longer;
- at most `MAX_PENDING_PER_CHANNEL` live codes per channel; a sender with a
  live code keeps it (the same code, never a second one);
- every transition drops expired codes and returns a new `PairingBook`.

Reading and writing the book (file, lock, reload) is `pairing_store`'s job.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable

import attrs

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, no 1/I
CODE_LENGTH = 8
CODE_TTL_SECONDS = 3600.0
CLOCK_SKEW_SECONDS = 60.0
MAX_PENDING_PER_CHANNEL = 3
MAX_ID_LENGTH = 256

_CODE = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
_CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,31}")
# A handle shown to the owner next to a sender id (a Telegram username): a
# closed ASCII set, so nothing a sender chooses can carry terminal escapes.
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,32}")


class PairingError(Exception):
    """A pairing operation was refused (malformed or unknown code, expired
    code, sender not approved, bad identifier). The message is one line for
    the owner; nothing was changed."""


def new_pairing_code() -> str:
    """A fresh code: `CODE_LENGTH` characters drawn with `secrets.choice`."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    """The code the owner typed, upper-cased and stripped of surrounding
    blanks. Raises `PairingError` saying what is wrong when it cannot be a
    code (wrong length, characters outside the alphabet)."""
    code = text.strip().upper()
    if _CODE.fullmatch(code):
        return code
    if len(code) != CODE_LENGTH:
        raise PairingError(f"a pairing code has {CODE_LENGTH} characters, got {len(code)}")
    raise PairingError(
        "a pairing code uses only the letters A-Z without I and O and the digits 2-9"
        " (0, O, 1 and I never appear)"
    )


def is_valid_id(value: str) -> bool:
    """Whether `value` can be a platform id (sender or chat): 1 to
    `MAX_ID_LENGTH` printable characters without whitespace. Anything else
    never matches, is never stored and is never echoed."""
    return (
        0 < len(value) <= MAX_ID_LENGTH
        and value.isprintable()
        and not any(char.isspace() for char in value)
    )


def check_channel(channel: str) -> str:
    """`channel` if it is a channel name (lower-case letters, digits, `_`);
    raises `PairingError` otherwise."""
    if not _CHANNEL.fullmatch(channel):
        raise PairingError(f"{channel!r} is not a channel name")
    return channel


def check_sender_id(sender_id: str) -> str:
    """`sender_id` if `is_valid_id`; raises `PairingError` otherwise."""
    if not is_valid_id(sender_id):
        raise PairingError(
            f"{sender_id!r} is not a sender id (1 to {MAX_ID_LENGTH} printable characters, no spaces)"
        )
    return sender_id


def check_username(username: str | None) -> str | None:
    """`username` if it is None or a plain handle (ASCII letters, digits,
    `_`, at most 32); raises `PairingError` otherwise."""
    if username is not None and not _USERNAME.fullmatch(username):
        raise PairingError(f"{username!r} is not a username")
    return username


@attrs.frozen(kw_only=True)
class PendingCode:
    """A code issued at `created_at` to `sender_id` (shown to the owner with
    `username` when the network has one), waiting for the owner's approval."""

    channel: str
    sender_id: str
    code: str
    created_at: float = attrs.field(converter=float)
    username: str | None = None

    @property
    def expires_at(self) -> float:
        return self.created_at + CODE_TTL_SECONDS

    def is_live(self, now: float) -> bool:
        """Issued by `now` (give or take the clock skew) and not yet expired
        (exactly 1 h after `created_at` it is)."""
        return self.created_at - CLOCK_SKEW_SECONDS <= now < self.expires_at


@attrs.frozen(kw_only=True)
class Approval:
    """`sender_id` may talk to the bot on `channel` since `approved_at`."""

    channel: str
    sender_id: str
    approved_at: float = attrs.field(converter=float)
    username: str | None = None


@attrs.frozen(kw_only=True)
class PairingBook:
    """Every pending code and approval of one bot, all channels.

    Lookups are linear scans: a book holds at most a few pending codes per
    channel and the owner's approvals (tens, not thousands).
    """

    pending: tuple[PendingCode, ...] = ()
    approved: tuple[Approval, ...] = ()

    def is_approved(self, channel: str, sender_id: str) -> bool:
        return any(a.channel == channel and a.sender_id == sender_id for a in self.approved)

    def approvals(self, channel: str) -> tuple[Approval, ...]:
        return tuple(a for a in self.approved if a.channel == channel)

    def live_pending(self, channel: str, now: float) -> tuple[PendingCode, ...]:
        return tuple(p for p in self.pending if p.channel == channel and p.is_live(now))

    def pending_for(self, channel: str, sender_id: str, now: float) -> PendingCode | None:
        """The live code of `sender_id` on `channel`, if any."""
        for pending in self.live_pending(channel, now):
            if pending.sender_id == sender_id:
                return pending
        return None

    def pruned(self, now: float) -> PairingBook:
        """This book without expired codes."""
        return attrs.evolve(self, pending=tuple(p for p in self.pending if p.is_live(now)))


@attrs.frozen(kw_only=True)
class PairingRequest:
    """The answer to an unknown sender asking for a code: `code` is theirs
    (None when the channel already has `MAX_PENDING_PER_CHANNEL` live codes);
    `book` is the successor to store when the code was issued just now (None
    when nothing changed: an existing code was reused, or none was issued)."""

    code: PendingCode | None
    book: PairingBook | None


@attrs.frozen(kw_only=True)
class PairingChange:
    """An owner's change (approve, revoke): the successor `book` and the
    `approval` it granted or withdrew."""

    book: PairingBook
    approval: Approval


def request_code(
    book: PairingBook,
    *,
    channel: str,
    sender_id: str,
    username: str | None,
    now: float,
    draw_code: Callable[[], str],
) -> PairingRequest:
    """A code for `sender_id`: their live one if they have it, else a new one
    from `draw_code` (unless the channel is full). A drawn code that collides
    with a live one is drawn again. Raises `PairingError` for a malformed
    channel, sender id or username, or when `draw_code` returns a non-code."""
    check_channel(channel)
    check_sender_id(sender_id)
    check_username(username)
    existing = book.pending_for(channel, sender_id, now)
    if existing is not None:
        return PairingRequest(code=existing, book=None)
    live = book.pruned(now)
    if len(live.live_pending(channel, now)) >= MAX_PENDING_PER_CHANNEL:
        return PairingRequest(code=None, book=None)
    taken = {p.code for p in live.pending}
    code = normalize_code(draw_code())
    while code in taken:
        code = normalize_code(draw_code())
    issued = PendingCode(
        channel=channel, sender_id=sender_id, code=code, created_at=now, username=username
    )
    return PairingRequest(code=issued, book=attrs.evolve(live, pending=(*live.pending, issued)))


def approve_code(book: PairingBook, *, channel: str, code: str, now: float) -> PairingChange:
    """Approve the sender holding `code` (as typed: any case, blanks around)
    on `channel`. Every pending code is compared in constant time.

    Raises `PairingError` when the code is malformed, unknown, expired, or
    was issued on another channel (the message says which); the book is
    unchanged then. Approving a sender drops their pending code and any
    expired ones.
    """
    check_channel(channel)
    wanted = normalize_code(code).encode("ascii")
    matches = [p for p in book.pending if hmac.compare_digest(p.code.encode("ascii"), wanted)]
    here = [p for p in matches if p.channel == channel]
    if not here:
        elsewhere = sorted({p.channel for p in matches})
        hint = f" (it was issued on {', '.join(elsewhere)})" if elsewhere else ""
        raise PairingError(f"no pending pairing code {wanted.decode()} on {channel}{hint}")
    pending = here[0]
    if not pending.is_live(now):
        raise PairingError(
            f"pairing code {pending.code} on {channel} has expired (codes live 1 hour);"
            " the sender gets a new one by writing to the bot again"
        )
    approval = Approval(
        channel=channel,
        sender_id=pending.sender_id,
        approved_at=now,
        username=pending.username,
    )
    live = book.pruned(now)
    return PairingChange(
        book=PairingBook(
            pending=tuple(
                p
                for p in live.pending
                if not (p.channel == channel and p.sender_id == pending.sender_id)
            ),
            approved=(
                *(
                    a
                    for a in book.approved
                    if not (a.channel == channel and a.sender_id == pending.sender_id)
                ),
                approval,
            ),
        ),
        approval=approval,
    )


def revoke_sender(book: PairingBook, *, channel: str, sender_id: str, now: float) -> PairingChange:
    """Withdraw the approval of `sender_id` on `channel` (exact id). Raises
    `PairingError` when that sender is not approved there; the book is
    unchanged then. Expired codes are dropped too."""
    check_channel(channel)
    for approval in book.approved:
        if approval.channel == channel and approval.sender_id == sender_id:
            remaining = tuple(a for a in book.approved if a is not approval)
            return PairingChange(
                book=attrs.evolve(book.pruned(now), approved=remaining), approval=approval
            )
    count = len(book.approvals(channel))
    raise PairingError(
        f"{sender_id!r} is not an approved sender on {channel}"
        f" ({count} approved: see `autobot pairing list`)"
    )
