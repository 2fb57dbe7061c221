"""The README stays true: its configuration example is config/config.yml, verbatim,
the commands it promises exist and do what it shows, and the denials it quotes are
the ones access control gives."""

from __future__ import annotations

import functools
import io
import os
import re
import shlex
import time
from pathlib import Path

import pytest

from autobot.channels.access import (
    AccessDecision,
    AccessPolicy,
    Chat,
    ReplyMemory,
    Sender,
    decide_access,
)
from autobot.channels.pairing import PairingBook
from autobot.channels.pairing_store import PairingStore
from autobot.cli import main
from autobot.config import load_config
from autobot.config.schema import DmPolicy, GroupPolicy
from autobot.scaffold.create import create_bot

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_config_example_is_the_shipped_example_file() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README, re.DOTALL)
    example = (ROOT / "config" / "config.yml").read_text()
    assert example in blocks


def test_the_two_setup_commands_exist_and_are_executable() -> None:
    for script in ("scripts/run", "scripts/test", "scripts/setup"):
        assert f"{script}" in README or script == "scripts/setup"
        assert os.access(ROOT / script, os.X_OK), script


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test" in ci and "scripts/test" in README


def test_every_command_in_the_table_is_a_cli_command(capsys: pytest.CaptureFixture[str]) -> None:
    using = README[README.index("## Using autobot") :]
    using = using[: using.index("\n## ")]
    documented = re.findall(r"^\| `autobot (\w+)", using, re.MULTILINE)
    assert documented == ["new", "doctor", "gateway", "agent", "demo", "pairing"]
    for command in documented:
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        assert f"usage: autobot {command}" in capsys.readouterr().out


# -- the Telegram section: denials, pairing, setup ----------------------------------

STRANGER = "6666"
GROUP = "-1001234567890"
README_CODE = "K7M3Q9XA"
EMPTY_BOOK = PairingBook()


def _sh_lines(prefix: str) -> list[str]:
    """Every line of the README's sh blocks that starts with `prefix`, comments cut."""
    blocks = re.findall(r"```sh\n(.*?)```", README, re.DOTALL)
    lines = (line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines())
    return [line for line in lines if line.startswith(prefix)]


def _decide(
    *,
    chat: Chat,
    dm_policy: DmPolicy = DmPolicy.ALLOWLIST,
    group_policy: GroupPolicy = GroupPolicy.MENTION,
    group_allow_from: tuple[str, ...] = (),
    book: PairingBook = EMPTY_BOOK,
) -> AccessDecision:
    policy = AccessPolicy.from_settings(
        "telegram",
        allow_from=["@alice"],
        dm_policy=dm_policy,
        group_policy=group_policy,
        group_allow_from=group_allow_from,
    )
    sender = Sender(id=STRANGER, username="mallory")
    return decide_access(policy, sender, chat, book, now=0.0, draw_code=lambda: README_CODE)


def test_the_readme_shows_each_denial_as_access_control_words_it() -> None:
    private = Chat(id=STRANGER)
    denied = _decide(chat=private)
    paired = _decide(chat=private, dm_policy=DmPolicy.PAIRING)
    assert paired.book is not None and paired.text
    pending = _decide(chat=private, dm_policy=DmPolicy.PAIRING, book=paired.book)
    memory = ReplyMemory()
    memory.gate(denied, now=0.0)
    again = memory.gate(denied, now=60.0)
    mentioned = Chat(id=GROUP, is_group=True, addressed=True)
    other_group = _decide(chat=mentioned)
    in_group = _decide(chat=mentioned, group_allow_from=(GROUP,))
    disabled = _decide(chat=mentioned, group_policy=GroupPolicy.DISABLED)
    silent = _decide(chat=Chat(id=GROUP, is_group=True), group_allow_from=(GROUP,))
    assert f"| `{denied.text}` | `{denied.reason}` |" in README
    assert f"| nothing | `{again.reason}` |" in README
    assert f"| `{paired.text}` | `{paired.reason}`;" in README
    assert pending.reason.endswith("(code pending)") and "`(code pending)`" in README
    assert f"| nothing (the bot never answers refusals in a group) | `{other_group.reason}` |" in (
        README
    )
    assert f"| nothing | `{in_group.reason}` |" in README
    assert f"| nothing | `{disabled.reason}` |" in README
    assert not silent.denied and "| nothing | no record: it was not meant for the bot |" in README
    full = _slots_taken()
    assert f"| the `allowlist` denial above | `{full.reason}` |" in README
    assert full.text == denied.text
    # the step-by-step text quotes the same denial for the owner's own id
    owner = "123456789"
    own = decide_access(
        AccessPolicy.from_settings("telegram", allow_from=[]),
        Sender(id=owner),
        Chat(id=owner),
        EMPTY_BOOK,
        now=0.0,
        draw_code=lambda: pytest.fail("allowlist mode never draws a code"),
    )
    assert owner in own.text and f"`{_unwrapped(own.text)}`" in _unwrapped(README)


def _unwrapped(text: str) -> str:
    """`text` with every run of whitespace as one space (README paragraphs wrap)."""
    return " ".join(text.split())


def _slots_taken() -> AccessDecision:
    """The decision for the stranger when 3 other senders hold live codes."""
    book = EMPTY_BOOK
    for index, code in enumerate(("AAAAAAAA", "BBBBBBBB", "CCCCCCCC")):
        policy = AccessPolicy.from_settings("telegram", allow_from=[], dm_policy=DmPolicy.PAIRING)
        decision = decide_access(
            policy,
            Sender(id=str(7000 + index)),
            Chat(id=str(7000 + index)),
            book,
            now=0.0,
            draw_code=lambda code=code: code,
        )
        assert decision.book is not None
        book = decision.book
    return _decide(chat=Chat(id=STRANGER), dm_policy=DmPolicy.PAIRING, book=book)


def test_the_readme_pairing_commands_work_as_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = _sh_lines("autobot --config mybot/config.yml pairing")
    assert [shlex.split(line)[4] for line in commands] == ["list", "approve", "revoke"]
    monkeypatch.chdir(tmp_path)
    bot = create_bot(tmp_path / "mybot", interactive=False, channels=("telegram",))
    # the stranger wrote two minutes ago and got the README's code, as the gateway does it
    policy = AccessPolicy.from_settings("telegram", allow_from=[], dm_policy=DmPolicy.PAIRING)
    with PairingStore(bot.config_file.parent) as store:
        store.transact(
            functools.partial(
                decide_access,
                policy,
                Sender(id=STRANGER, username="mallory"),
                Chat(id=STRANGER),
                now=time.time() - 120,
                draw_code=lambda: README_CODE,
            )
        )
    outputs = []
    for line in commands:
        assert main(shlex.split(line)[1:]) == 0, line
        outputs.append(capsys.readouterr().out)
    shown = re.findall(r"`((?:K7M3Q9XA  from|Approved|Revoked) [^`]*)`", README)
    assert len(shown) == 3
    for output, text in zip(outputs, shown, strict=True):
        assert text in output


def test_the_readme_setup_makes_a_bot_with_telegram_enabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (line,) = _sh_lines("autobot new mybot --channel telegram")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO())  # not a terminal: no questions
    assert main(shlex.split(line)[1:]) == 0
    loaded = load_config(tmp_path / "mybot" / "config.yml", {})
    telegram = loaded.config.channels.telegram
    assert telegram.enabled and telegram.allow_from == () and telegram.token is None
    assert "TELEGRAM_BOT_TOKEN=" in (tmp_path / "mybot" / ".env").read_text()
    # the token line shown goes into .env as is and fills channels.telegram.token
    assert _sh_lines("TELEGRAM_BOT_TOKEN=") == ["TELEGRAM_BOT_TOKEN=123456789:AA..."]
    assert 'token: "${TELEGRAM_BOT_TOKEN}"' in (tmp_path / "mybot" / "config.yml").read_text()
