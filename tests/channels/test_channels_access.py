"""Who may talk to the bot: the pure access decision, exhaustively (no trio, no disk)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.channels.access import (
    AccessConfigError,
    AccessDecision,
    AccessPolicy,
    Action,
    AllowList,
    Chat,
    DmPolicy,
    GroupPolicy,
    ReplyMemory,
    Sender,
    decide_access,
)
from autobot.channels.pairing import (
    CLOCK_SKEW_SECONDS,
    CODE_TTL_SECONDS,
    Approval,
    PairingBook,
    PairingError,
    approve_code,
    revoke_sender,
)

T0 = 1_700_000_000.0  # wall-clock seconds
EMPTY = PairingBook()


def never_draw() -> str:
    raise AssertionError("no code may be drawn here")


def codes(*values: str) -> Callable[[], str]:
    """A `draw_code` that hands out `values` in order, then fails."""
    remaining: Iterator[str] = iter(values)
    return lambda: next(remaining)


def dm(sender_id: str) -> Chat:
    return Chat(id=sender_id)


def decide(
    policy: AccessPolicy,
    sender: Sender,
    chat: Chat | None = None,
    book: PairingBook = EMPTY,
    *,
    now: float = T0,
    draw_code: Callable[[], str] = never_draw,
) -> AccessDecision:
    return decide_access(
        policy, sender, dm(sender.id) if chat is None else chat, book, now=now, draw_code=draw_code
    )


def telegram(*allow_from: str, **settings: object) -> AccessPolicy:
    return AccessPolicy.from_settings("telegram", allow_from=allow_from, **settings)  # type: ignore[arg-type]


# --- allow_from ----------------------------------------------------------------------------

ALICE = Sender(id="111", username="alice")

USERNAME_SPELLINGS = ["alice", "@alice", "ALICE", "@ALICE", "Alice", "@Alice", "aLiCe", " @alice "]
REPORTED_USERNAMES = ["alice", "ALICE", "Alice", "aLIce"]


@pytest.mark.parametrize("entry", USERNAME_SPELLINGS)
@pytest.mark.parametrize("reported", REPORTED_USERNAMES)
def test_telegram_username_matches_in_any_case_with_or_without_at(
    entry: str, reported: str
) -> None:
    decision = decide(telegram(entry), Sender(id="111", username=reported))
    assert decision.action is Action.ALLOW
    assert not decision.denied


@pytest.mark.parametrize("entry", USERNAME_SPELLINGS)
def test_a_username_entry_never_matches_another_username_or_an_id(entry: str) -> None:
    policy = telegram(entry)
    for sender in (
        Sender(id="111", username="alice2"),
        Sender(id="111", username="malice"),
        Sender(id="111", username=None),
        Sender(id="alice", username=None),  # an id spelled like the username
        Sender(id="111", username="al ice"),
    ):
        assert decide(policy, sender).action is Action.REPLY_DENIED, sender


def test_telegram_id_matches_the_exact_id_only() -> None:
    policy = telegram("123456789")
    assert decide(policy, Sender(id="123456789")).action is Action.ALLOW
    assert decide(policy, Sender(id="123456789", username="bob_bob")).action is Action.ALLOW
    for other in ("12345678", "1234567890", "0123456789", "-123456789", "123456789 "):
        assert decide(policy, Sender(id=other)).action is not Action.ALLOW, other


def test_a_numeric_entry_never_matches_a_username() -> None:
    """Telegram usernames cannot be all digits, but a username the network (or a
    fake) reports is never compared with id entries anyway."""
    policy = telegram("123456789")
    assert decide(policy, Sender(id="5", username="123456789")).action is Action.REPLY_DENIED
    assert decide(policy, Sender(id="5", username="@123456789")).action is Action.REPLY_DENIED


def test_a_malformed_reported_username_never_matches() -> None:
    policy = AccessPolicy(channel="telegram", allow=AllowList(usernames=frozenset({"alice"})))
    for reported in ("alice\u200b", "alice ", "\u0430lice", "al", "alice\n"):  # \u0430: Cyrillic a
        assert decide(policy, Sender(id="1", username=reported)).action is Action.REPLY_DENIED


def test_star_allows_anyone_and_empty_denies_everyone() -> None:
    for allow in (["*"], ["  *  "], ["123", "*"]):
        decision = decide(telegram(*allow), Sender(id="987"))
        assert decision.action is Action.ALLOW
    for allow in ([], [""], ["   ", ""]):
        assert decide(telegram(*allow), ALICE).action is Action.REPLY_DENIED
        slack = AccessPolicy.from_settings("slack", allow_from=allow)
        assert decide(slack, Sender(id="U1")).action is Action.REPLY_DENIED


def test_other_channels_compare_stable_ids_exactly_and_never_usernames() -> None:
    policy = AccessPolicy.from_settings("slack", allow_from=["U012AB", " W999 "])
    assert decide(policy, Sender(id="U012AB")).action is Action.ALLOW
    assert decide(policy, Sender(id="W999")).action is Action.ALLOW
    assert decide(policy, Sender(id="u012ab")).action is Action.REPLY_DENIED
    assert decide(policy, Sender(id="U012A")).action is Action.REPLY_DENIED
    # A username is never consulted outside Telegram, even if a channel passes one.
    assert decide(policy, Sender(id="U5", username="U012AB")).action is Action.REPLY_DENIED
    # Zulip: an email entry matches the sender's email (see test_channels_access_zulip.py),
    # never a sender id spelled like it.
    zulip = AccessPolicy.from_settings("zulip", allow_from=["alice@example.com"])
    assert decide(zulip, Sender(id="8", email="alice@example.com")).action is Action.ALLOW
    assert decide(zulip, Sender(id="alice@example.com")).action is Action.REPLY_DENIED


@pytest.mark.parametrize(
    ("channel", "entry", "complaint"),
    [
        ("telegram", "@12345", "neither a Telegram user id"),
        ("telegram", "-1001234", "neither a Telegram user id"),
        ("telegram", "0", "neither a Telegram user id"),
        ("telegram", "abc", "neither a Telegram user id"),  # too short for a username
        ("telegram", "@", "neither a Telegram user id"),
        ("telegram", "@al!ce", "neither a Telegram user id"),
        ("telegram", "ali ce", "spaces or control characters"),
        ("telegram", "alice\x1b[31m", "spaces or control characters"),
        ("slack", "@alice", "matches stable ids only"),
        ("whatsapp", "49 170 1234", "spaces or control characters"),
    ],
)
def test_an_entry_that_could_never_match_is_a_clear_error(
    channel: str, entry: str, complaint: str
) -> None:
    with pytest.raises(AccessConfigError) as raised:
        AccessPolicy.from_settings(channel, allow_from=["123", entry])
    message = str(raised.value)
    assert f"channels.{channel}.allow_from: {entry.strip()!r}" in message
    assert complaint in message


def test_every_bad_entry_of_both_lists_is_reported_at_once() -> None:
    with pytest.raises(AccessConfigError) as raised:
        AccessPolicy.from_settings(
            "telegram", allow_from=["@1", "x y"], group_allow_from=["@mygroup", "-100 5"]
        )
    lines = str(raised.value).splitlines()
    assert len(lines) == 4
    assert sum("channels.telegram.group_allow_from" in line for line in lines) == 2
    assert "looks like a username" in lines[2]


def test_a_channel_name_that_is_not_one_is_refused() -> None:
    with pytest.raises(AccessConfigError, match="not a channel name"):
        AccessPolicy.from_settings("Tele gram", allow_from=["*"])


@pytest.mark.parametrize("bad_id", ["", " ", "1 2", "12\n", "\x00", "1" * 257, "12\u202e"])
def test_malformed_sender_or_chat_ids_are_dropped_as_denials(bad_id: str) -> None:
    policy = telegram("*")
    sender_bad = decide(policy, Sender(id=bad_id), Chat(id="5"))
    assert (sender_bad.action, sender_bad.denied) == (Action.DROP, True)
    assert "sender id is empty or malformed" in sender_bad.reason
    assert sender_bad.sender_id == ascii(bad_id)[:64]  # safe to log as one line
    assert sender_bad.sender_id.isprintable()
    chat_bad = decide(policy, Sender(id="5"), Chat(id=bad_id))
    assert (chat_bad.action, chat_bad.denied) == (Action.DROP, True)
    assert "chat id" in chat_bad.reason


def test_denial_in_a_private_chat_names_the_sender_id() -> None:
    decision = decide(telegram("42"), Sender(id="777", username="mallory"))
    assert decision.action is Action.REPLY_DENIED
    assert decision.denied
    assert (decision.channel, decision.sender_id) == ("telegram", "777")
    assert "777" in decision.text
    assert "telegram" in decision.text
    assert "mallory" not in decision.text + decision.reason  # sender-chosen text stays out
    assert decision.reason == "sender 777 is not in allow_from"
    assert decision.book is None


@given(
    ids=st.lists(st.from_regex(r"[1-9][0-9]{0,12}", fullmatch=True), max_size=5),
    sender_id=st.from_regex(r"[1-9][0-9]{0,12}", fullmatch=True),
    username=st.one_of(st.none(), st.text(max_size=40)),
)
def test_property_numeric_entries_admit_exactly_their_ids(
    ids: list[str], sender_id: str, username: str | None
) -> None:
    allow = AllowList.parse(ids, telegram=True, name="allow_from")
    assert allow.admits(sender_id, username) == (sender_id in ids)


@given(
    names=st.lists(st.from_regex(r"@?[A-Za-z][A-Za-z0-9_]{3,31}", fullmatch=True), max_size=5),
    sender_id=st.text(max_size=40),
)
def test_property_username_entries_never_admit_by_id(names: list[str], sender_id: str) -> None:
    allow = AllowList.parse(names, telegram=True, name="allow_from")
    assert not allow.admits(sender_id, None)
    assert not allow.admits(sender_id, "zz_not_listed_zz")


# --- groups --------------------------------------------------------------------------------

GROUP = "-100200300"
MEMBER = Sender(id="111", username="alice")
STRANGER = Sender(id="999", username="mallory")

# (group_policy, addressed, group listed, sender allowed) -> (action, denied)
GROUP_MATRIX = {
    (GroupPolicy.DISABLED, False, False, False): (Action.DROP, False),
    (GroupPolicy.DISABLED, False, False, True): (Action.DROP, False),
    (GroupPolicy.DISABLED, False, True, False): (Action.DROP, False),
    (GroupPolicy.DISABLED, False, True, True): (Action.DROP, False),
    (GroupPolicy.DISABLED, True, False, False): (Action.DROP, True),
    (GroupPolicy.DISABLED, True, False, True): (Action.DROP, True),
    (GroupPolicy.DISABLED, True, True, False): (Action.DROP, True),
    (GroupPolicy.DISABLED, True, True, True): (Action.DROP, True),
    (GroupPolicy.MENTION, False, False, False): (Action.DROP, False),
    (GroupPolicy.MENTION, False, False, True): (Action.DROP, False),
    (GroupPolicy.MENTION, False, True, False): (Action.DROP, False),
    (GroupPolicy.MENTION, False, True, True): (Action.DROP, False),
    (GroupPolicy.MENTION, True, False, False): (Action.DROP, True),
    (GroupPolicy.MENTION, True, False, True): (Action.DROP, True),
    (GroupPolicy.MENTION, True, True, False): (Action.DROP, True),
    (GroupPolicy.MENTION, True, True, True): (Action.ALLOW, False),
    (GroupPolicy.OPEN, False, False, False): (Action.DROP, True),
    (GroupPolicy.OPEN, False, False, True): (Action.DROP, True),
    (GroupPolicy.OPEN, False, True, False): (Action.DROP, True),
    (GroupPolicy.OPEN, False, True, True): (Action.ALLOW, False),
    (GroupPolicy.OPEN, True, False, False): (Action.DROP, True),
    (GroupPolicy.OPEN, True, False, True): (Action.DROP, True),
    (GroupPolicy.OPEN, True, True, False): (Action.DROP, True),
    (GroupPolicy.OPEN, True, True, True): (Action.ALLOW, False),
}
# allowlist considers every message of a listed group, as open does
GROUP_MATRIX |= {
    (GroupPolicy.ALLOWLIST, *rest): outcome
    for (policy, *rest), outcome in GROUP_MATRIX.items()
    if policy is GroupPolicy.OPEN
}


@pytest.mark.parametrize("dm_policy", list(DmPolicy))
@pytest.mark.parametrize("case", sorted(GROUP_MATRIX, key=str))
def test_group_matrix(case: tuple[GroupPolicy, bool, bool, bool], dm_policy: DmPolicy) -> None:
    group_policy, addressed, listed, sender_allowed = case
    policy = telegram(
        "@alice",
        dm_policy=dm_policy,
        group_policy=group_policy,
        group_allow_from=[GROUP] if listed else ["-100999"],
    )
    sender = MEMBER if sender_allowed else STRANGER
    decision = decide(policy, sender, Chat(id=GROUP, is_group=True, addressed=addressed))
    assert (decision.action, decision.denied) == GROUP_MATRIX[case]
    assert decision.text == ""  # nothing is ever said in a group
    assert decision.book is None  # and no code is issued there


@pytest.mark.parametrize("group_policy", [GroupPolicy.MENTION, GroupPolicy.OPEN])
def test_empty_group_allow_from_allows_no_group_and_star_any(group_policy: GroupPolicy) -> None:
    chat = Chat(id=GROUP, is_group=True, addressed=True)
    closed = telegram("*", group_policy=group_policy)
    decision = decide(closed, MEMBER, chat)
    assert (decision.action, decision.denied) == (Action.DROP, True)
    assert decision.reason == f"group {GROUP} is not in group_allow_from"
    anywhere = telegram("@alice", group_policy=group_policy, group_allow_from=["*"])
    assert decide(anywhere, MEMBER, chat).action is Action.ALLOW
    assert decide(anywhere, STRANGER, chat).action is Action.DROP  # the group is never enough


def test_allowlist_group_policy_refuses_a_star_in_group_allow_from() -> None:
    with pytest.raises(
        AccessConfigError, match=r"'\*' is not allowed with group_policy: allowlist"
    ):
        telegram("@alice", group_policy=GroupPolicy.ALLOWLIST, group_allow_from=["*"])


def test_group_reasons_say_why() -> None:
    policy = telegram("@alice", group_allow_from=[GROUP])
    unaddressed = decide(policy, STRANGER, Chat(id=GROUP, is_group=True))
    assert unaddressed.reason == "group message does not address the bot"
    stranger = decide(policy, STRANGER, Chat(id=GROUP, is_group=True, addressed=True))
    assert stranger.reason == f"sender 999 is not allowed (in group {GROUP})"
    disabled = attrs.evolve(policy, group_policy=GroupPolicy.DISABLED)
    assert decide(disabled, MEMBER, Chat(id=GROUP, is_group=True)).reason == (
        "group chats are disabled"
    )


def test_a_paired_sender_passes_in_groups_but_an_unknown_one_gets_no_code_there() -> None:
    book = PairingBook(approved=(Approval(channel="telegram", sender_id="999", approved_at=T0),))
    policy = telegram(dm_policy=DmPolicy.PAIRING, group_allow_from=[GROUP])
    chat = Chat(id=GROUP, is_group=True, addressed=True)
    assert decide(policy, STRANGER, chat, book).action is Action.ALLOW
    unknown = decide(policy, Sender(id="555"), chat, book)
    assert (unknown.action, unknown.denied, unknown.book) == (Action.DROP, True, None)


# --- pairing -------------------------------------------------------------------------------

PAIRING = AccessPolicy.from_settings("telegram", allow_from=["42"], dm_policy=DmPolicy.PAIRING)


def ask(
    sender_id: str,
    book: PairingBook,
    now: float,
    draw_code: Callable[[], str] = never_draw,
    username: str | None = None,
) -> AccessDecision:
    return decide(
        PAIRING, Sender(id=sender_id, username=username), book=book, now=now, draw_code=draw_code
    )


def test_unknown_sender_gets_a_code_and_the_same_one_until_it_expires() -> None:
    first = ask("7", PairingBook(), T0, codes("ABCD2345"), username="bob_b")
    assert first.action is Action.REPLY_PAIRING
    assert (first.code, first.denied) == ("ABCD2345", True)
    assert "ABCD2345" in first.text
    assert "autobot pairing approve telegram ABCD2345" in first.text
    assert first.reason == "sender 7 is not paired (code issued)"
    assert first.book is not None
    (pending,) = first.book.pending
    assert (pending.sender_id, pending.created_at, pending.username) == ("7", T0, "bob_b")

    for later in (T0 + 1, T0 + 1800, T0 + CODE_TTL_SECONDS - 0.001):
        again = ask("7", first.book, later)  # never_draw: no new code
        assert (again.action, again.code, again.book) == (Action.REPLY_PAIRING, "ABCD2345", None)
        assert again.reason == "sender 7 is not paired (code pending)"

    expired = ask("7", first.book, T0 + CODE_TTL_SECONDS, codes("WXYZ6789"))
    assert (expired.code, expired.book is not None) == ("WXYZ6789", True)
    assert expired.book is not None
    assert [p.code for p in expired.book.pending] == ["WXYZ6789"]  # the old one is pruned


def test_a_code_stamped_by_a_slightly_later_clock_is_live_a_far_future_one_is_not() -> None:
    """Another process may stamp a code just after this one read its clock
    (it waited for the store lock): up to a minute ahead counts as live. A
    clock set back further makes codes expire rather than live longer."""
    issued = ask("7", PairingBook(), T0 + CLOCK_SKEW_SECONDS, codes("ABCD2345"))
    assert issued.book is not None
    assert ask("7", issued.book, T0).code == "ABCD2345"
    assert approve_code(issued.book, channel="telegram", code="ABCD2345", now=T0).book.approved
    reissued = ask("7", issued.book, T0 - 0.001, codes("WXYZ6789"))
    assert reissued.book is not None
    assert [p.code for p in reissued.book.pending] == ["WXYZ6789"]  # the far-future one pruned
    with pytest.raises(PairingError, match="has expired"):
        approve_code(issued.book, channel="telegram", code="ABCD2345", now=T0 - 0.001)


def test_a_sender_chosen_username_is_kept_only_if_well_formed() -> None:
    decision = ask("7", PairingBook(), T0, codes("ABCD2345"), username="\x1b]0;pwned\x07")
    assert decision.book is not None
    assert decision.book.pending[0].username is None


def test_at_most_three_pending_codes_per_channel() -> None:
    book = PairingBook()
    for sender, code in (("1", "AAAA2222"), ("2", "BBBB3333"), ("3", "CCCC4444")):
        decision = ask(sender, book, T0 + int(sender), codes(code))
        assert decision.book is not None
        book = decision.book
    fourth = ask("4", book, T0 + 10)
    assert fourth.action is Action.REPLY_DENIED
    assert fourth.reason == "sender 4 is not paired and telegram has no free pairing slot"
    assert "4" in fourth.text
    assert fourth.book is None
    # Another channel has its own three.
    slack = attrs.evolve(PAIRING, channel="slack")
    other = decide(slack, Sender(id="4"), book=book, now=T0 + 10, draw_code=codes("DDDD5555"))
    assert other.action is Action.REPLY_PAIRING
    # The first code expires exactly 1 h after it was issued: a slot frees.
    still_full = ask("4", book, T0 + 1 + CODE_TTL_SECONDS - 0.001)
    assert still_full.action is Action.REPLY_DENIED
    freed = ask("4", book, T0 + 1 + CODE_TTL_SECONDS, codes("EEEE6666"))
    assert (freed.action, freed.code) == (Action.REPLY_PAIRING, "EEEE6666")


def test_a_drawn_code_that_collides_with_a_live_one_is_drawn_again() -> None:
    first = ask("1", PairingBook(), T0, codes("AAAA2222"))
    assert first.book is not None
    second = ask("2", first.book, T0, codes("AAAA2222", "AAAA2222", "BBBB3333"))
    assert second.code == "BBBB3333"


def test_approval_lets_the_sender_in_and_revoke_takes_it_back() -> None:
    issued = ask("7", PairingBook(), T0, codes("ABCD2345"))
    assert issued.book is not None
    change = approve_code(issued.book, channel="telegram", code=" abcd2345\n", now=T0 + 60)
    assert change.approval == Approval(channel="telegram", sender_id="7", approved_at=T0 + 60)
    assert change.book.pending == ()
    admitted = ask("7", change.book, T0 + 61)
    assert (admitted.action, admitted.denied) == (Action.ALLOW, False)

    revoked = revoke_sender(change.book, channel="telegram", sender_id="7", now=T0 + 120)
    assert revoked.book.approved == ()
    back = ask("7", revoked.book, T0 + 121, codes("QRST7777"))
    assert (back.action, back.code) == (Action.REPLY_PAIRING, "QRST7777")


def test_approvals_count_only_while_dm_policy_is_pairing() -> None:
    book = PairingBook(approved=(Approval(channel="telegram", sender_id="7", approved_at=T0),))
    assert ask("7", book, T0).action is Action.ALLOW
    allowlist = attrs.evolve(PAIRING, dm_policy=DmPolicy.ALLOWLIST)
    assert decide(allowlist, Sender(id="7"), book=book).action is Action.REPLY_DENIED
    slack = attrs.evolve(PAIRING, channel="slack")  # approvals belong to one channel
    assert decide(slack, Sender(id="7"), book=book, draw_code=codes("ABCD2345")).code == "ABCD2345"


def test_allowlist_policy_never_issues_codes() -> None:
    policy = attrs.evolve(PAIRING, dm_policy=DmPolicy.ALLOWLIST)
    decision = decide(policy, Sender(id="7"))  # never_draw
    assert (decision.action, decision.book) == (Action.REPLY_DENIED, None)


# --- once-per-hour replies -----------------------------------------------------------------


def denied_reply(sender_id: str) -> AccessDecision:
    return decide(telegram("42"), Sender(id=sender_id))


def test_a_denied_sender_gets_one_reply_per_hour() -> None:
    memory = ReplyMemory()
    assert memory.gate(denied_reply("7"), T0).action is Action.REPLY_DENIED
    for later in (T0, T0 + 1, T0 + 3599.999):
        quiet = memory.gate(denied_reply("7"), later)
        assert quiet.action is Action.DROP
        assert quiet.denied
        assert quiet.text == ""
        assert quiet.reason == "sender 7 is not in allow_from; reply suppressed (one per hour)"
    assert memory.gate(denied_reply("8"), T0 + 1).action is Action.REPLY_DENIED  # per sender
    assert memory.gate(denied_reply("7"), T0 + 3600).action is Action.REPLY_DENIED
    assert memory.gate(denied_reply("7"), T0 + 3601).action is Action.DROP


def test_allow_and_drop_pass_the_memory_untouched() -> None:
    memory = ReplyMemory()
    allowed = decide(telegram("42"), Sender(id="42"))
    assert memory.gate(allowed, T0) is allowed
    dropped = decide(telegram("42"), Sender(id=""))
    assert memory.gate(dropped, T0) is dropped
    assert len(memory) == 0


def test_a_pending_code_is_not_resent_but_a_freshly_issued_one_always_is() -> None:
    memory = ReplyMemory()
    issued = ask("7", PairingBook(), T0, codes("ABCD2345"))
    assert memory.gate(issued, T0).action is Action.REPLY_PAIRING
    assert issued.book is not None
    reused = ask("7", issued.book, T0 + 5)
    assert memory.gate(reused, T0 + 5).action is Action.DROP
    # Full channel: the denial is the one reply of the hour...
    full = PairingBook(
        pending=tuple(
            attrs.evolve(issued.book.pending[0], sender_id=s, code=c)
            for s, c in (("1", "AAAA2222"), ("2", "BBBB3333"), ("3", "CCCC4444"))
        )
    )
    memory = ReplyMemory()
    assert memory.gate(ask("9", full, T0), T0).action is Action.REPLY_DENIED
    # ...but when a slot frees within it, the new code must still reach the sender.
    freed = attrs.evolve(full, pending=full.pending[1:])
    fresh = ask("9", freed, T0 + 60, codes("DDDD5555"))
    assert memory.gate(fresh, T0 + 60).action is Action.REPLY_PAIRING


def test_the_memory_is_bounded_and_forgets_the_least_recently_seen() -> None:
    memory = ReplyMemory(capacity=3)
    for sender in ("1", "2", "3"):
        memory.gate(denied_reply(sender), T0)
    assert memory.gate(denied_reply("1"), T0 + 1).action is Action.DROP  # "1" seen again
    memory.gate(denied_reply("4"), T0 + 2)  # evicts "2", the least recently seen
    assert len(memory) == 3
    assert memory.gate(denied_reply("1"), T0 + 3).action is Action.DROP
    assert memory.gate(denied_reply("3"), T0 + 3).action is Action.DROP
    assert memory.gate(denied_reply("2"), T0 + 3).action is Action.REPLY_DENIED


def test_the_default_memory_holds_ten_thousand_senders() -> None:
    memory = ReplyMemory()
    decision = denied_reply("0")
    for index in range(10_001):
        memory.gate(attrs.evolve(decision, sender_id=str(index)), T0)
    assert len(memory) == 10_000
    assert memory.gate(attrs.evolve(decision, sender_id="0"), T0).action is Action.REPLY_DENIED
    assert memory.gate(attrs.evolve(decision, sender_id="2"), T0).action is Action.DROP


def test_a_clock_set_back_lets_a_reply_through_rather_than_silencing_for_long() -> None:
    memory = ReplyMemory()
    memory.gate(denied_reply("7"), T0)
    assert memory.gate(denied_reply("7"), T0 - 86_400).action is Action.REPLY_DENIED


@pytest.mark.parametrize(("capacity", "interval"), [(0, 3600.0), (10, 0.0), (10, -1.0)])
def test_a_memory_that_could_not_work_is_refused(capacity: int, interval: float) -> None:
    with pytest.raises(ValueError, match="ReplyMemory needs"):
        ReplyMemory(capacity=capacity, interval=interval)


def test_decisions_are_pure_functions_of_their_inputs() -> None:
    book = PairingBook()
    make = functools.partial(ask, "7", book, T0)
    assert make(codes("ABCD2345")) == make(codes("ABCD2345"))
    assert book == PairingBook()  # the input book is never modified
