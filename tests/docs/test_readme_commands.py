"""Every command line the README tells a user to type works as printed (issue 15).

The README's `sh` blocks are read line by line (shell words, comments cut):
- an `autobot` command (`autobot ...`, `.venv/bin/autobot ...`, or an absolute
  `.../bin/autobot ...` after `sudo -u`) must parse with the real argument
  parser, and where it can run offline (`new`, `doctor`, `pairing list`, on
  paths inside the block's scratch directory) it runs, in the block's order,
  with `$EDITOR mybot/.env` standing for a key typed in;
- a `scripts/...` command must exist and be executable, and `scripts/run`'s
  arguments must parse (the script itself answers `ARGS --help` with its usage);
- `. .venv/bin/activate` must put an `autobot` on PATH.
Then the words the README quotes from the program (the configuration error
sample, the troubleshooting symptoms) are checked against what it prints.
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import trio

from autobot.cli import main, parse
from autobot.config.schema import SandboxMode, ToolsConfig
from autobot.doctor.main import doctor
from autobot.doctor.sandbox_check import SandboxProber
from autobot.sandbox.probe import SandboxProbe

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
KEY = "sk-ant-api03-readme-commands-test-0123456789"
RUNNABLE = {("new",), ("doctor",), ("pairing", "list")}


@attrs.frozen
class Line:
    block: int
    text: str
    words: tuple[str, ...]


def _sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, re.DOTALL)


def _lines() -> Iterator[Line]:
    for number, block in enumerate(_sh_blocks()):
        for text in block.replace("\\\n", " ").splitlines():
            words = tuple(shlex.split(text, comments=True))
            if words:
                yield Line(block=number, text=text.strip(), words=words)


def _autobot_args(words: tuple[str, ...]) -> tuple[str, ...] | None:
    """The arguments after the autobot program in `words`, or None if it runs no autobot."""
    at = _program(words)
    program = words[at] if at < len(words) else ""
    if program == "autobot" or program.endswith("/bin/autobot"):
        return words[at + 1 :]
    return None


def _program(words: tuple[str, ...]) -> int:
    """The index of the program `words` runs: the first word, or after `sudo -u USER`."""
    if words[:2] == ("sudo", "-u"):
        return 3
    return 1 if words[:1] == ("sudo",) else 0


def _script(words: tuple[str, ...]) -> str | None:
    """`scripts/NAME` when `words` runs one of the repository's scripts (also by an
    absolute path after `sudo -u`, or with `.venv/bin/python`)."""
    at = _program(words)
    program = words[at : at + 1]
    if program == (".venv/bin/python",):
        program = words[at + 1 : at + 2]
    match = re.fullmatch(r"(?:/.*/)?(scripts/[\w.-]+)", program[0]) if program else None
    return match.group(1) if match else None


AUTOBOT_LINES = [line for line in _lines() if _autobot_args(line.words) is not None]
SCRIPT_LINES = [line for line in _lines() if _script(line.words) is not None]


def test_the_readme_has_the_command_lines_this_test_reads() -> None:
    texts = {" ".join(line.words) for line in AUTOBOT_LINES}
    assert "autobot new mybot --provider anthropic --channel telegram" in texts
    assert "autobot doctor --config mybot/config.yml" in texts
    assert "autobot --config mybot/config.yml agent -m What's in my workspace?" in texts
    assert any(words.startswith("sudo /opt/autobot/bin/autobot --config /srv/") for words in texts)
    assert {_script(line.words) for line in SCRIPT_LINES} >= {
        "scripts/run",
        "scripts/test",
        "scripts/setup",
    }


@pytest.mark.parametrize("line", AUTOBOT_LINES, ids=lambda line: line.text)
def test_every_autobot_line_parses(line: Line) -> None:
    args = _autobot_args(line.words)
    assert args is not None
    parsed = parse(list(args))  # a usage error would exit 2 here
    assert parsed.command


# The blocks that make their bot with `autobot new` (the pairing block continues the
# Telegram steps' bot: tests/docs/test_readme.py runs it on one; Deployment's paths
# are /srv/...).
MAKING_BLOCKS = sorted(
    {line.block for line in AUTOBOT_LINES if line.words[:3] == ("autobot", "new", "mybot")}
)


@pytest.mark.parametrize("block", MAKING_BLOCKS)
def test_each_block_runs_in_order_where_it_can_offline(
    block: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO())  # not a terminal: `new` asks nothing
    for name in ("ANTHROPIC_API_KEY", "TELEGRAM_BOT_TOKEN", "BRAVE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    keyed = False
    ran = []
    for line in (line for line in _lines() if line.block == block):
        if line.words[:1] == ("$EDITOR",):  # "your keys": the user types one in
            with (tmp_path / line.words[1]).open("a") as env:
                env.write(f"ANTHROPIC_API_KEY={KEY}\n")
            keyed = True
            continue
        args = _autobot_args(line.words)
        if args is None or not _runs_offline(parse(list(args)), list(args)):
            continue
        code = main(list(args))
        ran.append(args[0] if args[0] == "new" else "doctor" if "doctor" in args else "pairing")
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err and "unrecognized" not in err, line.text
        if args[0] == "new":
            assert code == 0, (line.text, err)
        elif "doctor" in args:
            assert "Summary: " in out, line.text
            assert code == (0 if keyed else 1), (line.text, out)
        else:
            assert code == 0, (line.text, err)
    # every line of the block that can run did: the bot made first, then checked
    runnable = [line for line in _lines() if line.block == block and _autobot_args(line.words)]
    assert ran[0] == "new" and len(ran) == sum(
        _runs_offline(parse(list(args)), list(args))
        for args in (_autobot_args(line.words) or () for line in runnable)
    )
    assert not keyed or "doctor" in ran  # the keyed bot was checked, and passed


def _runs_offline(parsed: argparse.Namespace, args: list[str]) -> bool:
    """Whether the command talks to no LLM and no network, and every path it names
    is relative (inside the scratch directory, not the README's /srv/...)."""
    command = (parsed.command, getattr(parsed, "pairing_action", None))
    if tuple(word for word in command if word) not in RUNNABLE:
        return False
    return not any(arg.startswith("/") for arg in args)


def test_activating_the_venv_puts_autobot_on_path() -> None:
    activations = [line for line in _lines() if line.words[:1] in ((".",), ("source",))]
    assert [line.words[1:] for line in activations] == [(".venv/bin/activate",)]
    # what scripts/setup makes: the venv running this test, if it is the repository's
    venv_bin = ROOT / ".venv" / "bin"
    if Path(sys.prefix) == ROOT / ".venv":
        assert (venv_bin / "activate").is_file()
        assert os.access(venv_bin / "autobot", os.X_OK)


@pytest.mark.parametrize("line", SCRIPT_LINES, ids=lambda line: line.text)
def test_every_script_line_names_a_script_that_takes_those_arguments(line: Line) -> None:
    script = _script(line.words)
    assert script is not None
    path = ROOT / script
    assert path.is_file(), script
    if script.endswith(".py"):
        return  # a benchmark, run with the venv's python: its options are its own
    assert os.access(path, os.X_OK), script
    at = next(index for index, word in enumerate(line.words) if word.endswith(script))
    args = list(line.words[at + 1 :])
    if script == "scripts/run":
        # the script's own parser: ARGS --help prints the usage only if ARGS parse
        done = subprocess.run(
            [str(path), *args, "--help"], capture_output=True, text=True, timeout=60, check=False
        )
        assert (done.returncode, done.stdout) == (0, "usage: scripts/run [--once] [BOT_DIR]\n")
    else:
        assert args == [], f"{script} takes no arguments in the README"


# -- the program's words, as the README quotes them ---------------------------------


def _probe(available: bool) -> SandboxProber:
    async def probe(tools: ToolsConfig) -> SandboxProbe:
        if available:
            return SandboxProbe(
                backend=SandboxMode.BUBBLEWRAP, available=True, detail="bubblewrap works"
            )
        return SandboxProbe(backend=None, available=False, detail="bwrap not found on PATH")

    return probe


def _doctor(
    bot: Path, *, env: str = f"ANTHROPIC_API_KEY={KEY}\n", sandbox: bool = True, root: bool = False
) -> str:
    """What `autobot doctor` prints for the bot directory `bot` (config.yml written)."""
    (bot / "workspace").mkdir(exist_ok=True, mode=0o700)
    env_file = bot / ".env"
    if not env_file.exists():
        env_file.write_text(env)
        env_file.chmod(0o600)
    (bot / "config.yml").chmod(0o600)
    out = io.StringIO()
    trio.run(
        lambda: doctor(
            bot / "config.yml",
            strict=False,
            as_json=False,
            environ={},
            out=out,
            home=bot.parent,
            probe=_probe(sandbox),
            as_root=root,
        )
    )
    return out.getvalue()


def _bot(tmp_path: Path, name: str, config: str) -> Path:
    bot = tmp_path / name
    bot.mkdir()
    (bot / "config.yml").write_text(config)
    return bot


CLEAN = """\
agents:
  defaults:
    model: anthropic/claude-sonnet-4-5
providers:
  anthropic:
    api_key: "${ANTHROPIC_API_KEY}"
"""


def _symptoms() -> list[str]:
    table = README[README.index("## Troubleshooting") :]
    table = table[: table.index("\n## ")]
    return [
        quoted
        for row in table.splitlines()
        if row.startswith("| ") and not row.startswith(("| symptom", "|---"))
        for quoted in re.findall(r"`([^`]+)`", row.split(" | ")[0])
    ]


def _pattern(quoted: str) -> re.Pattern[str]:
    """The README's words as a pattern: `...` stands for any text on the line."""
    return re.compile(".+?".join(re.escape(part) for part in quoted.split("...")))


def test_the_configuration_error_sample_is_what_the_doctor_prints(tmp_path: Path) -> None:
    at = README.index("  - config.yml cannot be loaded (2 problems):")
    start = README.rindex("```\n", 0, at) + len("```\n")
    indent = README[README.rindex("\n", 0, start - len("```\n")) + 1 : start - len("```\n")]
    text = README[start : README.index(f"{indent}```", at)]
    lines = [line.removeprefix(indent) for line in text.splitlines()]
    bot = _bot(
        tmp_path,
        "mybot",
        CLEAN + "tools:\n  sandbox: firejail\nchannels:\n  telegram:\n    alow_from: []\n",
    )
    printed = _doctor(bot).replace(str(bot), "/srv/mybot")
    assert "\n".join(lines) + "\n" in printed


def test_the_troubleshooting_symptoms_are_the_program_s_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    symptoms = _symptoms()
    printed: list[str] = []
    # the doctor, on bots broken one way each
    printed.append(_doctor(_bot(tmp_path, "keyless", CLEAN), env=""))
    printed.append(
        _doctor(_bot(tmp_path, "bare", "agents:\n  defaults:\n    model: sonnet\n"), env="")
    )
    loose = _bot(tmp_path, "loose", CLEAN)
    (loose / ".env").write_text(f"ANTHROPIC_API_KEY={KEY}\n")
    (loose / ".env").chmod(0o644)
    printed.append(_doctor(loose))
    printed.append(_doctor(_bot(tmp_path, "nosandbox", CLEAN), sandbox=False))
    printed.append(_doctor(_bot(tmp_path, "root", CLEAN), root=True))
    exposed = _bot(tmp_path, "exposed", CLEAN)
    (exposed / "workspace").mkdir(mode=0o700)
    (exposed / "workspace" / ".env.local").write_text("X=1\n")
    printed.append(_doctor(exposed))
    broken = CLEAN + (
        "tools:\n  rate_limit:\n    per_tool:\n      exce:\n        max_calls: 1\n"
        "        window_seconds: 60.0\n  web:\n    ssrf_allowlist: ['10.20.0.1/16']\n"
    )
    printed.append(_doctor(_bot(tmp_path, "broken", broken)))
    # a command outside the doctor says the same problems in one error line
    assert main(["pairing", "list", "--config", str(tmp_path / "broken" / "config.yml")]) == 1
    printed.append(capsys.readouterr().err)
    # what the running gateway logs: its own words, in its source
    # what the running gateway logs, composed as it composes it (channels/stopped.py
    # prefixes "NAME channel stopped: "; the Telegram actor "telegram: " to a conflict)
    logged = [
        (
            "telegram channel stopped: the Bot API rejected the token (401)",
            [
                ("autobot/channels/stopped.py", 'f"{env.name} channel stopped: {reason}"'),
                ("autobot/channels/telegram/actor.py", '"the Bot API rejected the token (401)'),
            ],
        ),
        (
            "telegram: another program is polling with this bot's token",
            [
                ("autobot/channels/telegram/actor.py", 'f"telegram: {cause};'),
                ("autobot/channels/telegram/actor.py", '"another program is polling with'),
            ],
        ),
        (
            "telegram: a webhook is set for this bot",
            [("autobot/channels/telegram/actor.py", '"a webhook is set for this bot"')],
        ),
        (
            "replaying unanswered telegram messages",
            [("autobot/channels/telegram/actor.py", '"replaying unanswered telegram messages"')],
        ),
        (
            "Session journals could not be listed",
            [("autobot/agent/router.py", '"Session journals could not be listed;')],
        ),
        (
            "scripts/setup: could not create .venv",
            [("scripts/setup", '"scripts/setup: could not create .venv with')],
        ),
    ]
    for words, places in logged:
        for path, fragment in places:
            assert fragment in (ROOT / path).read_text(), (words, path, fragment)
        printed.append(words)
    listen = (ROOT / "autobot" / "http" / "actor.py").read_text()
    assert 'f"cannot listen on {host}:{port}: {exc.strerror}"' in listen
    printed.append(f"cannot listen on 127.0.0.1:18790: {os.strerror(errno.EADDRINUSE)}")
    everything = "\n".join(printed)
    # the shell's own words, and the README's example of a provider error's quote
    not_ours = {"autobot: command not found"}
    unmatched = [s for s in symptoms if s not in not_ours and not _pattern(s).search(everything)]
    quoted_by_test = [s for s in symptoms if s not in not_ours]
    assert len(quoted_by_test) >= 15
    assert unmatched == [], everything
