"""`autobot pairing list | approve | revoke` through the command line entry."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from autobot.channels.pairing import Approval, PairingBook, PendingCode
from autobot.channels.pairing_store import PairingStore, encode_book
from autobot.cli import main

APPROVED_AT = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


@pytest.fixture
def bot(tmp_path: Path) -> Path:
    (tmp_path / "config.yml").write_text("channels:\n  telegram:\n    allow_from: ['@carol_c']\n")
    return tmp_path


def seed(bot: Path) -> bytes:
    now = time.time()
    book = PairingBook(
        pending=(
            PendingCode(
                channel="telegram",
                sender_id="7",
                code="ABCD2345",
                created_at=now - 60,
                username="bob_b",
            ),
            PendingCode(channel="slack", sender_id="U1", code="WXYZ6789", created_at=now - 7200),
            PendingCode(channel="slack", sender_id="U2", code="QRST7777", created_at=now - 600),
        ),
        approved=(
            Approval(channel="telegram", sender_id="9", approved_at=APPROVED_AT),
            Approval(
                channel="telegram", sender_id="33", approved_at=APPROVED_AT, username="carol_c"
            ),
        ),
    )
    data = encode_book(book)
    (bot / "pairing.json").write_bytes(data)
    return data


def run(bot: Path, *args: str) -> int:
    return main(["--config", str(bot / "config.yml"), "pairing", *args])


def test_list_with_nothing_paired(bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(bot, "list") == 0
    assert capsys.readouterr().out == "No pending pairing codes and no approved senders.\n"
    assert os.listdir(bot) == ["config.yml"]  # listing writes nothing


def test_list_shows_live_codes_and_approvals_per_channel(
    bot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(bot)
    assert run(bot, "list") == 0
    assert capsys.readouterr().out == (
        "slack:\n"
        "  pending codes:\n"
        "    QRST7777  from U2, expires in 50 min\n"
        "telegram:\n"
        "  pending codes:\n"
        "    ABCD2345  from 7 (@bob_b), expires in 59 min\n"
        "  approved senders:\n"
        "    9, approved 2023-11-14 22:13 UTC\n"
        "    33 (@carol_c), approved 2023-11-14 22:13 UTC\n"
    )  # the expired slack code is not shown


def test_approve_in_any_case_then_the_sender_is_listed_as_approved(
    bot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(bot)
    assert run(bot, "approve", "telegram", " abcd2345 ") == 0
    assert capsys.readouterr().out == "Approved 7 (@bob_b) on telegram.\n"
    book = PairingStore(bot).current()
    assert book.is_approved("telegram", "7")
    assert [p.code for p in book.pending] == ["QRST7777"]  # used and expired codes are gone
    assert (bot / "pairing.json").stat().st_mode & 0o777 == 0o600


REFUSALS = {
    "unknown code": (["telegram", "ABCD2346"], "no pending pairing code ABCD2346 on telegram"),
    "wrong channel": (
        ["slack", "ABCD2345"],
        "no pending pairing code ABCD2345 on slack (it was issued on telegram)",
    ),
    "expired code": (["slack", "wxyz6789"], "pairing code WXYZ6789 on slack has expired"),
    "O for zero": (["telegram", "ABCD234O"], "(0, O, 1 and I never appear)"),
    "too short": (["telegram", "ABCD"], "a pairing code has 8 characters, got 4"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_refused_approval_says_why_exits_1_and_changes_nothing(
    bot: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    before = seed(bot)
    args, expected = REFUSALS[case]
    assert run(bot, "approve", *args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("autobot: ")
    assert expected in captured.err
    assert "Traceback" not in captured.err
    assert (bot / "pairing.json").read_bytes() == before
    assert sorted(os.listdir(bot)) == ["config.yml", "pairing.json"]  # not even a lock file


def test_revoke_withdraws_an_approval_once(bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(bot)
    assert run(bot, "revoke", "telegram", "9") == 0
    assert capsys.readouterr().out == "Revoked 9 on telegram.\n"
    assert not PairingStore(bot).current().is_approved("telegram", "9")
    after = (bot / "pairing.json").read_bytes()
    assert run(bot, "revoke", "telegram", "9") == 1
    assert capsys.readouterr().err == (
        "autobot: '9' is not an approved sender on telegram (1 approved: see `autobot pairing list`)\n"
    )
    assert run(bot, "revoke", "slack", "33") == 1  # approvals belong to one channel
    assert "'33' is not an approved sender on slack" in capsys.readouterr().err
    assert (bot / "pairing.json").read_bytes() == after


def test_revoke_says_when_allow_from_still_lets_the_sender_in(
    bot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(bot)
    assert run(bot, "revoke", "telegram", "33") == 0
    assert capsys.readouterr().out == (
        "Revoked 33 (@carol_c) on telegram.\nNote: channels.telegram.allow_from still allows this sender.\n"
    )


def test_a_corrupt_store_is_reported_and_left_untouched(
    bot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bot / "pairing.json").write_text('{"version": 1, "pending": []')
    for args in (["list"], ["approve", "telegram", "ABCD2345"], ["revoke", "telegram", "9"]):
        assert run(bot, *args) == 1
        err = capsys.readouterr().err
        assert f"pairing store {bot / 'pairing.json'} is unusable: it is not JSON" in err
        assert "left untouched" in err
    assert (bot / "pairing.json").read_text() == '{"version": 1, "pending": []'


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["approve", "telgram", "ABCD2345"], "invalid choice: 'telgram'"),
        (["approve", "telegram"], "the following arguments are required: CODE"),
        (["revoke", "telegram"], "the following arguments are required: ID"),
        (["forget"], "invalid choice: 'forget'"),
        ([], "the following arguments are required: ACTION"),
    ],
)
def test_usage_errors_exit_2(
    bot: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        run(bot, *args)
    assert exited.value.code == 2
    assert expected in capsys.readouterr().err
    assert os.listdir(bot) == ["config.yml"]


def test_a_missing_config_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "nope.yml"), "pairing", "list"]) == 1
    assert "nope.yml" in capsys.readouterr().err
