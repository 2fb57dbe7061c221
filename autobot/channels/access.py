"""Who may talk to the bot: a pure decision for every channel (checklist §1).

`decide_access(policy, sender, chat, book, now, draw_code)` says what a
channel actor does with an inbound message, before anything reaches the
journal, the router or the LLM. It reads nothing but its arguments. The
rules, in the order they apply:

1. A sender or chat id that is empty or malformed (see
   `pairing.is_valid_id`) is dropped: it could not be allowed, stored or
   named safely.
2. Groups (`chat.is_group`): `group_policy: disabled` drops every group
   message; `mention` (the default) drops what does not address the bot
   (`chat.addressed`: a mention entity or a reply to the bot) without
   calling it a denial; `open` considers every message, and so does
   `allowlist`, which also refuses `"*"` in `group_allow_from` (every group
   named one by one; checked in `AccessPolicy.from_settings`). Then the group must
   be listed in `group_allow_from`: **an empty `group_allow_from` allows no
   group**, whatever the group policy (deny by default, as for
   `allow_from`); `"*"` allows any group. Then the sender must pass the
   sender check below: being in an allowed group is never enough. A refused
   group message is dropped silently (no reply in a group, no code shown
   there).
3. The sender check: `allow_from` (see `AllowList`: on Zulip an entry with
   `@` names the sender's email), or, only while
   `dm_policy` is `pairing`, an approval in the pairing book. Under
   `dm_policy: allowlist` `allow_from` alone decides, so switching back to
   it locks out every paired sender without editing the book.
4. A refused private chat: with `allowlist`, a short reply naming the
   sender's id (`REPLY_DENIED`); with `pairing`, the sender's live code if
   they have one (`REPLY_PAIRING`, nothing changes), else a new code drawn
   from `draw_code` (`REPLY_PAIRING` with the successor book to store), or,
   when the channel already has 3 live codes, `REPLY_DENIED`.

`now` is wall-clock seconds (codes expire across processes). Replies are
plain text (send them without markup parsing). At most one reply per sender
per hour is `ReplyMemory`'s job, applied after the decision.

A decision that carries a successor `book` must be committed:
`store.transact(partial(decide_access, policy, sender, chat, now=now,
draw_code=draw_code))` re-decides on the fresh book under the store lock and
writes; its result is the decision to carry out.
"""

from __future__ import annotations

import enum
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable

import attrs

from autobot.channels.pairing import (
    PairingBook,
    PairingError,
    check_channel,
    is_valid_id,
    request_code,
)
from autobot.config.schema import DmPolicy, GroupPolicy

REPLY_INTERVAL_SECONDS = 3600.0
REPLY_MEMORY_SIZE = 10_000

ANYONE = "*"
_SHOWN_MALFORMED_ID = 64
# Telegram usernames: 4 to 32 ASCII letters, digits or `_`, starting with a
# letter, so never all digits. User ids are positive integers.
_TELEGRAM_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_TELEGRAM_USER_ID = re.compile(r"[1-9][0-9]{0,19}")
# Zulip: a user id is a positive integer; an email has one `@` with text on
# both sides (its exact form is the server's business).
_ZULIP_USER_ID = _TELEGRAM_USER_ID
_EMAIL = re.compile(r"[^@]+@[^@]+")


class AccessConfigError(ValueError):
    """Entries of `allow_from` / `group_allow_from` that could never match
    (one problem per line, each naming the entry and the list)."""


@attrs.frozen(kw_only=True)
class Sender:
    """Who wrote: the stable platform id and, on Telegram, the username
    (without `@`, as the network reports it; None when there is none); on
    Zulip, the email the server shows for the sender (None when unknown)."""

    id: str
    username: str | None = None
    email: str | None = None


@attrs.frozen(kw_only=True)
class Chat:
    """Where: the chat id, whether it is a group, and whether this message
    addresses the bot (mention entity or reply to the bot)."""

    id: str
    is_group: bool = False
    addressed: bool = False


@attrs.frozen(kw_only=True)
class AllowList:
    """A parsed `allow_from` (or `group_allow_from`): `anyone` for `"*"`,
    exact `ids`, lower-cased Telegram `usernames`, and Zulip `emails` (in
    their matching form, `email_key`)."""

    anyone: bool = False
    ids: frozenset[str] = frozenset()
    usernames: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()

    @classmethod
    def parse(
        cls, entries: Iterable[str], *, telegram: bool, name: str, zulip: bool = False
    ) -> AllowList:
        """Parse config entries (`name` labels errors, e.g. `channels.slack.allow_from`).

        Whitespace around an entry is stripped and empty entries are ignored;
        no entries at all allow no one. `"*"` allows anyone. Every other entry
        is exactly one kind, so an id can never match a username or back:

        - with `telegram`: `@name` or a bare `name` shaped like a Telegram
          username (starts with a letter) matches that username in any case;
          a bare positive number matches that user id;
        - with `zulip`: an entry holding `@` (`alice@example.com`, not a
          leading `@`) matches the sender's email, ASCII letters in any case
          (`email_key`); a bare positive number matches that user id;
        - otherwise: the entry matches that stable id exactly (string
          compare); it must not start with `@` (no username matching there).

        Raises `AccessConfigError` listing every entry that could never
        match (a malformed username, a negative id, inner spaces...), or
        ValueError when both `telegram` and `zulip` are asked for.
        """
        if telegram and zulip:
            raise ValueError("an allow list is parsed for Telegram or for Zulip, not both")
        ids: set[str] = set()
        usernames: set[str] = set()
        emails: set[str] = set()
        anyone = False
        problems: list[str] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            if entry == ANYONE:
                anyone = True
            elif not is_valid_id(entry):
                problems.append(f"{name}: {entry!r} contains spaces or control characters")
            elif telegram:
                handle = entry.removeprefix("@")
                if _TELEGRAM_USER_ID.fullmatch(entry):
                    ids.add(entry)
                elif _TELEGRAM_USERNAME.fullmatch(handle):
                    usernames.add(handle.lower())
                else:
                    problems.append(
                        f"{name}: {entry!r} is neither a Telegram user id (a positive number)"
                        " nor a username (4-32 letters, digits or _, starting with a letter)"
                    )
            elif zulip:
                if _ZULIP_USER_ID.fullmatch(entry):
                    ids.add(entry)
                elif _EMAIL.fullmatch(entry):
                    emails.add(email_key(entry))
                else:
                    problems.append(
                        f"{name}: {entry!r} is neither a Zulip user id (a positive number)"
                        " nor an email address (name@domain)"
                    )
            elif entry.startswith("@"):
                problems.append(
                    f"{name}: {entry!r} looks like a username; this list matches stable ids only"
                )
            else:
                ids.add(entry)
        if problems:
            raise AccessConfigError("\n".join(problems))
        return cls(
            anyone=anyone,
            ids=frozenset(ids),
            usernames=frozenset(usernames),
            emails=frozenset(emails),
        )

    def admits(self, sender_id: str, username: str | None = None, email: str | None = None) -> bool:
        """Whether the id (exact), the username (any case, only if it is a
        well-formed Telegram username) or the email (`email_key`, only if it
        is shaped like one) is listed, or the list has `"*"`."""
        if self.anyone or sender_id in self.ids:
            return True
        if (
            email is not None
            and _EMAIL.fullmatch(email)
            and is_valid_id(email)
            and email_key(email) in self.emails
        ):
            return True
        if username is None or not self.usernames:
            return False
        handle = username.removeprefix("@")
        return _TELEGRAM_USERNAME.fullmatch(handle) is not None and handle.lower() in self.usernames


def email_key(email: str) -> str:
    """How an email is compared: ASCII letters lower-cased (Zulip treats
    addresses case-insensitively), every other character as it is, so no
    Unicode case folding can make two different addresses equal."""
    return "".join(char.lower() if char.isascii() else char for char in email)


@attrs.frozen(kw_only=True)
class AccessPolicy:
    """One channel's access settings, parsed (build with `from_settings`)."""

    channel: str
    allow: AllowList
    dm_policy: DmPolicy = DmPolicy.ALLOWLIST
    group_policy: GroupPolicy = GroupPolicy.MENTION
    groups: AllowList = AllowList()

    @classmethod
    def from_settings(
        cls,
        channel: str,
        *,
        allow_from: Iterable[str],
        dm_policy: DmPolicy = DmPolicy.ALLOWLIST,
        group_policy: GroupPolicy = GroupPolicy.MENTION,
        group_allow_from: Iterable[str] = (),
    ) -> AccessPolicy:
        """The policy of `channel` from its config values. Usernames are
        matched only on `telegram`, emails only on `zulip`;
        `group_allow_from` lists chat ids on every channel. Raises
        `AccessConfigError` listing every bad entry of both lists, or naming
        a channel that is not a channel name."""
        try:
            check_channel(channel)
        except PairingError as error:
            raise AccessConfigError(str(error)) from error
        problems: list[str] = []
        allow = groups = AllowList()
        try:
            allow = AllowList.parse(
                allow_from,
                telegram=channel == "telegram",
                zulip=channel == "zulip",
                name=f"channels.{channel}.allow_from",
            )
        except AccessConfigError as error:
            problems.append(str(error))
        try:
            groups = AllowList.parse(
                group_allow_from, telegram=False, name=f"channels.{channel}.group_allow_from"
            )
        except AccessConfigError as error:
            problems.append(str(error))
        if group_policy is GroupPolicy.ALLOWLIST and groups.anyone:
            problems.append(
                f"channels.{channel}.group_allow_from: '*' is not allowed with "
                "group_policy: allowlist (name each group)"
            )
        if problems:
            raise AccessConfigError("\n".join(problems))
        return cls(
            channel=channel,
            allow=allow,
            dm_policy=dm_policy,
            group_policy=group_policy,
            groups=groups,
        )


class Action(enum.Enum):
    """What the channel actor does with the message."""

    ALLOW = "allow"  # journal it and hand it to the router
    DROP = "drop"  # ignore it (no reply)
    REPLY_DENIED = "reply_denied"  # send `text` (a denial naming the sender's id)
    REPLY_PAIRING = "reply_pairing"  # send `text` (the sender's pairing code)


@attrs.frozen(kw_only=True)
class AccessDecision:
    """The outcome for one message.

    `reason` says why in a log-safe line (ids are validated; usernames and
    message text never appear). `sender_id` is the sender's id, or for a
    malformed one its `ascii()` form cut to 64 characters: always one
    printable line. `denied` is true when the message was meant
    for the bot and refused: the actor logs WARN `ACCESS DENIED` with
    `channel`, `sender_id` and `reason` (a group message that does not
    address the bot is dropped without being a denial). `text` is the reply
    for the REPLY actions, `code` the pairing code for REPLY_PAIRING. `book`
    is the pairing book to store when a code was issued (then the reply must
    be sent); None otherwise.
    """

    action: Action
    channel: str
    sender_id: str
    reason: str
    denied: bool
    text: str = ""
    code: str | None = None
    book: PairingBook | None = None


def decide_access(
    policy: AccessPolicy,
    sender: Sender,
    chat: Chat,
    book: PairingBook,
    *,
    now: float,
    draw_code: Callable[[], str],
) -> AccessDecision:
    """What to do with a message from `sender` in `chat` (see module docstring).

    Pure: `draw_code` (e.g. `pairing.new_pairing_code`) is called only when
    a new code is issued. Never raises for any sender or chat (`PairingError`
    only if `draw_code` returns something that is not a code).
    """
    channel = policy.channel

    def decision(action: Action, reason: str, *, denied: bool) -> AccessDecision:
        return AccessDecision(
            action=action, channel=channel, sender_id=sender.id, reason=reason, denied=denied
        )

    if not is_valid_id(sender.id):
        return AccessDecision(
            action=Action.DROP,
            channel=channel,
            sender_id=ascii(sender.id)[:_SHOWN_MALFORMED_ID],
            reason="the sender id is empty or malformed",
            denied=True,
        )
    if not is_valid_id(chat.id):
        return decision(Action.DROP, "the chat id is empty or malformed", denied=True)
    pairing = policy.dm_policy is DmPolicy.PAIRING
    allowed = policy.allow.admits(sender.id, sender.username, sender.email) or (
        pairing and book.is_approved(channel, sender.id)
    )
    if chat.is_group:
        if policy.group_policy is GroupPolicy.DISABLED:
            return decision(Action.DROP, "group chats are disabled", denied=chat.addressed)
        if policy.group_policy is GroupPolicy.MENTION and not chat.addressed:
            return decision(Action.DROP, "group message does not address the bot", denied=False)
        if not policy.groups.admits(chat.id):
            return decision(Action.DROP, f"group {chat.id} is not in group_allow_from", denied=True)
        if not allowed:
            return decision(
                Action.DROP, f"sender {sender.id} is not allowed (in group {chat.id})", denied=True
            )
        return decision(
            Action.ALLOW, f"sender {sender.id} is allowed in group {chat.id}", denied=False
        )
    if allowed:
        return decision(Action.ALLOW, f"sender {sender.id} is allowed", denied=False)
    if not pairing:
        return _denied(channel, sender.id, f"sender {sender.id} is not in allow_from")
    request = request_code(
        book,
        channel=channel,
        sender_id=sender.id,
        username=_shown_username(sender.username),
        now=now,
        draw_code=draw_code,
    )
    if request.code is None:
        return _denied(
            channel,
            sender.id,
            f"sender {sender.id} is not paired and {channel} has no free pairing slot",
        )
    code = request.code.code
    return AccessDecision(
        action=Action.REPLY_PAIRING,
        channel=channel,
        sender_id=sender.id,
        reason=f"sender {sender.id} is not paired ({'code issued' if request.book else 'code pending'})",
        denied=True,
        text=(
            f"Your pairing code is {code} (valid for 1 hour). To let you in, the owner of this"
            f" bot runs: autobot pairing approve {channel} {code}"
        ),
        code=code,
        book=request.book,
    )


def _denied(channel: str, sender_id: str, reason: str) -> AccessDecision:
    return AccessDecision(
        action=Action.REPLY_DENIED,
        channel=channel,
        sender_id=sender_id,
        reason=reason,
        denied=True,
        text=(
            f"Sorry, this bot does not talk to you. Your {channel} id is {sender_id}:"
            " its owner can add it to allow_from."
        ),
    )


def _shown_username(username: str | None) -> str | None:
    """The sender's username kept with a pairing code (for `pairing list`),
    only when it is a well-formed Telegram username."""
    if username is None:
        return None
    handle = username.removeprefix("@")
    return handle if _TELEGRAM_USERNAME.fullmatch(handle) else None


@attrs.define
class ReplyMemory:
    """When each sender was last answered, so a refused sender gets at most
    one reply per `interval` (one memory per channel actor; pure: `now` is
    passed in, any clock that does not jump, in seconds).

    Holds at most `capacity` senders, forgetting the least recently seen
    first (a flood of new senders cannot grow it). Forgetting a sender can
    only allow one more reply to them, never one less.
    """

    capacity: int = REPLY_MEMORY_SIZE
    interval: float = REPLY_INTERVAL_SECONDS
    _last: OrderedDict[str, float] = attrs.field(factory=OrderedDict, init=False)

    def __attrs_post_init__(self) -> None:
        if self.capacity < 1 or self.interval <= 0:
            raise ValueError(
                f"ReplyMemory needs capacity >= 1 and interval > 0, got {self.capacity}, {self.interval}"
            )

    def __len__(self) -> int:
        return len(self._last)

    def gate(self, decision: AccessDecision, now: float) -> AccessDecision:
        """`decision` as it may be carried out: a REPLY that comes within
        `interval` of the last reply to that sender becomes DROP (same
        reason and `denied`, plus `reply suppressed`). A freshly issued code
        (`book` set) is always sent: the sender must learn it. Every reply
        let through is remembered at `now`; ALLOW and DROP pass unchanged.
        A `now` earlier than the last reply (clock set back) lets it through.
        """
        if decision.action not in (Action.REPLY_DENIED, Action.REPLY_PAIRING):
            return decision
        key = decision.sender_id
        last = self._last.get(key)
        recent = last is not None and 0 <= now - last < self.interval
        if recent and decision.book is None:
            self._last.move_to_end(key)
            return attrs.evolve(
                decision,
                action=Action.DROP,
                reason=f"{decision.reason}; reply suppressed (one per hour)",
                text="",
            )
        self._last[key] = now
        self._last.move_to_end(key)
        while len(self._last) > self.capacity:
            self._last.popitem(last=False)
        return decision
