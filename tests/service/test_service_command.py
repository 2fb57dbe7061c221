"""`autobot service ...` as the command line will call it: parsing, generate, exit codes."""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import pytest

from autobot.service.arguments import add_service_parser
from autobot.service.command import default_host, service_main
from autobot.service.install import ServiceHost
from autobot.service.layout import Installation, LayoutRules

from .bots import new_bot
from .unitfile import parse_unit


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="autobot")
    add_service_parser(top.add_subparsers(dest="command", required=True))
    return top


def host(tmp_path: Path, **changes: object) -> ServiceHost:
    values: dict[str, object] = {
        "euid": os.geteuid(),
        "installation": Installation(python=Path(sys.executable), paths=()),
        "rules": LayoutRules(hidden={}, trusted=tmp_path),
        "shell": "/usr/sbin/nologin",
        "unit_dir": tmp_path / "units",
    }
    values.update(changes)
    return ServiceHost(**values)  # type: ignore[arg-type]


def run(config: Path, argv: list[str], service_host: ServiceHost) -> tuple[int, str, str]:
    args = parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = service_main(config, args, environ={}, out=out, err=err, host=service_host)
    return code, out.getvalue(), err.getvalue()


def test_the_actions_and_their_options_parse() -> None:
    args = parser().parse_args(["service", "install", "--user", "botuser"])
    assert (args.command, args.service_action, args.user) == ("service", "install", "botuser")
    assert parser().parse_args(["service", "generate"]).user is None
    assert parser().parse_args(["service", "uninstall"]).service_action == "uninstall"


@pytest.mark.parametrize(
    "argv", [["service"], ["service", "start"], ["service", "uninstall", "--user", "x"]]
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(argv)
    assert exited.value.code == 2


def test_generate_prints_the_unit_and_needs_no_root(tmp_path: Path) -> None:
    bot = new_bot(tmp_path / "srv")
    code, out, err = run(
        bot.path, ["service", "generate", "--user", "botuser"], host(tmp_path, euid=1000)
    )
    assert (code, err) == (0, "")
    unit = parse_unit(out)
    assert unit["Service"]["User"] == "botuser"
    assert unit["Service"]["ExecStart"] == (
        f"{sys.executable} -I -m autobot --config {bot.path} gateway"
    )
    assert not (tmp_path / "units").exists()


def test_generate_says_why_the_unit_would_not_work_here(tmp_path: Path) -> None:
    bot = new_bot(tmp_path / "srv", workspace=str(tmp_path / "ws-elsewhere"))
    hidden = Installation(python=Path("/root/.venv/bin/python"), paths=(Path("/root/.venv"),))
    rules = LayoutRules(hidden={"/root": "ProtectHome="}, trusted=tmp_path)
    code, out, err = run(
        bot.path, ["service", "generate"], host(tmp_path, installation=hidden, rules=rules)
    )
    assert code == 0
    assert (
        parse_unit(out)["Service"]["ReadWritePaths"] == f"{bot.bot_dir} {tmp_path / 'ws-elsewhere'}"
    )
    assert err == (
        "autobot: note: this unit would not work on this machine as it is:\n"
        "  - autobot's installation uses /root/.venv, which the unit's ProtectHome= hides "
        "from the service: install autobot outside home directories and /tmp (e.g. python3 -m "
        "venv /opt/autobot && /opt/autobot/bin/pip install autobot) and run that autobot\n"
        f"  - {tmp_path / 'ws-elsewhere'} (from config.yml) is outside the bot directory: the "
        "unit lets the service write it, but `autobot service install` refuses it\n"
    )


def test_a_bot_directory_no_unit_can_name_is_a_clear_error(tmp_path: Path) -> None:
    bot = new_bot(tmp_path / "srv", name="my bot")
    code, out, err = run(bot.path, ["service", "generate"], host(tmp_path))
    assert (code, out) == (1, "")
    assert err == (
        f"autobot: cannot generate the unit: '{bot.bot_dir}' cannot go into a systemd unit: "
        "use only letters, digits and . _ @ + - / in the paths of the bot directory and of "
        "the autobot installation\n"
    )


def test_a_config_that_does_not_load_is_one_line(tmp_path: Path) -> None:
    bot = new_bot(tmp_path / "srv")
    bot.path.write_text("agents: [\n")
    code, out, err = run(bot.path, ["service", "install"], host(tmp_path))
    assert (code, out) == (1, "")
    assert err.startswith(f"autobot: {bot.path}")


def test_install_as_a_normal_user_is_refused(tmp_path: Path) -> None:
    bot = new_bot(tmp_path / "srv")
    code, out, err = run(bot.path, ["service", "install"], host(tmp_path, euid=1000))
    assert (code, out) == (1, "")
    assert err.startswith("autobot: service install must run as root: ")


def test_the_default_host_is_this_machine() -> None:
    this = default_host()
    assert this.euid == os.geteuid()
    assert this.installation.python == Path(os.path.abspath(sys.executable))
    assert Path(os.path.realpath(sys.executable)) in this.installation.paths
