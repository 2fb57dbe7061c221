"""The doctor on Telegram settings: entries that can never match, webhook without a URL,
channels this version cannot run."""

from __future__ import annotations

import attrs

from autobot.config.schema import Config, TelegramConfig, TelegramMode
from autobot.config.secret import Secret
from autobot.doctor.config_checks import channel_findings

TOKEN = Secret("123456789:AAE" + "x" * 30)


def _codes(telegram: TelegramConfig, **channels: object) -> list[str]:
    config = Config()
    changed = attrs.evolve(config.channels, telegram=telegram, **channels)
    return [finding.code for finding in channel_findings(attrs.evolve(config, channels=changed))]


def test_a_good_telegram_config_has_no_finding() -> None:
    assert _codes(TelegramConfig(enabled=True, token=TOKEN, allow_from=("@alice", "42"))) == []


def test_entries_that_can_never_match_are_errors() -> None:
    codes = _codes(TelegramConfig(enabled=True, token=TOKEN, allow_from=("@a!",)))
    assert codes == ["channel_allow_from_invalid"]
    codes = _codes(
        TelegramConfig(enabled=True, token=TOKEN, allow_from=("42",), group_allow_from=("@team",))
    )
    assert codes == ["channel_allow_from_invalid"]


def test_webhook_mode_needs_a_url() -> None:
    telegram = TelegramConfig(
        enabled=True, token=TOKEN, allow_from=("42",), mode=TelegramMode.WEBHOOK
    )
    assert _codes(telegram) == ["telegram_webhook_url_missing"]
    assert _codes(attrs.evolve(telegram, webhook_url="https://bot.example.com/tg")) == []


def test_pairing_approvals_are_counted_per_channel(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from autobot.channels.pairing import Approval, PairingBook
    from autobot.channels.pairing_store import PairingStore, encode_book
    from autobot.doctor.run import pairing_findings

    assert pairing_findings(tmp_path) == []
    book = PairingBook(
        approved=(
            Approval(channel="telegram", sender_id="1", approved_at=1.0),
            Approval(channel="telegram", sender_id="2", approved_at=2.0),
        )
    )
    path = PairingStore(tmp_path).path
    path.write_bytes(encode_book(book))
    [finding] = pairing_findings(tmp_path)
    assert finding.code == "pairing_approved" and "telegram: 2" in finding.message
    path.write_text("{not json")
    assert [f.code for f in pairing_findings(tmp_path)] == ["pairing_store_unreadable"]
