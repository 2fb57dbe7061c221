"""Zulip allow lists: an entry with `@` matches the sender's email, a number the user id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.channels.access import (
    AccessConfigError,
    AccessPolicy,
    Action,
    AllowList,
    Chat,
    Sender,
    decide_access,
    email_key,
)
from autobot.channels.pairing import PairingBook


def decide(policy: AccessPolicy, sender: Sender) -> Action:
    return decide_access(
        policy,
        sender,
        Chat(id=sender.id),
        PairingBook(),
        now=0.0,
        draw_code=lambda: "ABCD2345",
    ).action


def zulip(*allow_from: str) -> AccessPolicy:
    return AccessPolicy.from_settings("zulip", allow_from=allow_from)


def test_an_email_entry_matches_the_senders_email_in_any_ascii_case() -> None:
    policy = zulip("Alice@Example.com")
    for shown in ("alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com"):
        assert decide(policy, Sender(id="8", email=shown)) is Action.ALLOW
    for shown in ("alice@example.co", "bob@example.com", "alice@example.com.evil", None):
        assert decide(policy, Sender(id="8", email=shown)) is Action.REPLY_DENIED


def test_an_email_entry_never_matches_an_id_and_a_number_never_an_email() -> None:
    assert decide(zulip("alice@example.com"), Sender(id="alice@example.com")) is (
        Action.REPLY_DENIED
    )
    policy = zulip("8")
    assert decide(policy, Sender(id="8", email="mallory@example.com")) is Action.ALLOW
    assert decide(policy, Sender(id="80", email="8")) is Action.REPLY_DENIED
    assert decide(policy, Sender(id="08")) is Action.REPLY_DENIED


def test_unicode_case_folding_never_makes_two_addresses_equal() -> None:
    # the Kelvin sign (U+212A), a dotless i (U+0131) and a dotted capital I (U+0130)
    # lower or fold into ASCII letters
    policy = zulip("kim@example.com", "ike@example.com")
    for shown in ("\u212aim@example.com", "\u0131ke@example.com", "\u0130ke@example.com"):
        assert decide(policy, Sender(id="8", email=shown)) is Action.REPLY_DENIED
    assert email_key("Élodie@Example.COM") == "Élodie@example.com"


def test_a_malformed_reported_email_is_never_matched() -> None:
    policy = zulip("alice@example.com")
    for shown in ("alice@example.com\n", "alice@example.com ", "alice@@example.com", ""):
        assert decide(policy, Sender(id="8", email=shown)) is Action.REPLY_DENIED


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("@alice", "neither a Zulip user id"),
        ("alice@", "neither a Zulip user id"),
        ("a@b@c", "neither a Zulip user id"),
        ("alice", "neither a Zulip user id"),
        ("-8", "neither a Zulip user id"),
        ("0", "neither a Zulip user id"),
        ("al ice@example.com", "spaces or control characters"),
    ],
)
def test_entries_that_can_never_match_are_refused(entry: str, complaint: str) -> None:
    with pytest.raises(AccessConfigError) as raised:
        zulip("8", entry)
    assert f"channels.zulip.allow_from: {entry!r}" in str(raised.value)
    assert complaint in str(raised.value)


def test_parsing_for_two_networks_at_once_is_a_bug() -> None:
    with pytest.raises(ValueError, match="not both"):
        AllowList.parse(["8"], telegram=True, zulip=True, name="x")


def test_telegram_and_other_channels_ignore_emails() -> None:
    telegram = AccessPolicy.from_settings("telegram", allow_from=["1001"])
    assert decide(telegram, Sender(id="5", email="1001")) is Action.REPLY_DENIED
    slack = AccessPolicy.from_settings("slack", allow_from=["U1"])
    assert decide(slack, Sender(id="U2", email="U1")) is Action.REPLY_DENIED


@given(
    local=st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N")), min_size=1),
    domain=st.from_regex(r"[a-z]{1,10}\.[a-z]{2,5}", fullmatch=True),
    other=st.text(min_size=1, max_size=40),
)
def test_an_email_is_admitted_only_by_its_own_key(local: str, domain: str, other: str) -> None:
    email = f"{local}@{domain}"
    allow = AllowList.parse([email], telegram=False, zulip=True, name="z")
    assert allow.admits("1", email=email)
    assert allow.admits("1", email=email.upper()) == (email_key(email.upper()) == email_key(email))
    assert allow.admits("1", email=other) == (email_key(other) == email_key(email))
