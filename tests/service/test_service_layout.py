"""Whether the unit can work here: the installation, the bot directory, the sandbox."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import attrs
import pytest

from autobot.config.schema import SandboxMode
from autobot.service.layout import (
    SERVICE_PATH,
    Home,
    Installation,
    LayoutRules,
    bot_dir_problems,
    hidden_by_unit,
    installation_problems,
    outside_state_paths,
    sandbox_problems,
    writable_paths,
)

from .bots import new_bot

NOTHING_HIDDEN: dict[str, str] = {}


def rules(tmp_path: Path, **changes: object) -> LayoutRules:
    """Rules for a bot below `tmp_path`: /tmp is not judged (pytest's directories
    are root's 0700), nothing hidden unless asked."""
    values: dict[str, object] = {"hidden": NOTHING_HIDDEN, "trusted": tmp_path}
    values.update(changes)
    return LayoutRules(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "setting"),
    [
        ("/home/alice/bot", "ProtectHome="),
        ("/home", "ProtectHome="),
        ("/root/.pyenv/versions/3.11/bin/python3.11", "ProtectHome="),
        ("/run/user/1000/x", "ProtectHome="),
        ("/tmp/bot", "PrivateTmp="),
        ("/var/tmp", "PrivateTmp="),
        ("/homes/bot", None),
        ("/srv/autobot/bot", None),
        ("/opt/autobot/bin/python", None),
    ],
)
def test_what_the_unit_hides_from_the_service(path: str, setting: str | None) -> None:
    assert hidden_by_unit(Path(path)) == setting


def test_an_installation_in_a_home_is_one_problem_naming_every_hidden_path(tmp_path: Path) -> None:
    installation = Installation(
        python=Path("/root/.venv/bin/python"),
        paths=(Path("/root/.pyenv/bin/python3.11"), Path("/root/.pyenv"), Path("/tmp/x/site")),
    )
    problems = installation_problems(installation, tmp_path / "bot", LayoutRules())
    assert problems == [
        "autobot's installation uses /root/.pyenv/bin/python3.11, /root/.pyenv, which the "
        "unit's ProtectHome= hides from the service: install autobot outside home directories "
        "and /tmp (e.g. python3 -m venv /opt/autobot && /opt/autobot/bin/pip install autobot) "
        "and run that autobot",
        "autobot's installation uses /tmp/x/site, which the unit's PrivateTmp= hides from the "
        "service: install autobot outside home directories and /tmp (e.g. python3 -m venv "
        "/opt/autobot && /opt/autobot/bin/pip install autobot) and run that autobot",
    ]


def test_an_installation_inside_the_bot_directory_is_refused(tmp_path: Path) -> None:
    bot = new_bot(tmp_path / "srv")
    venv = bot.bot_dir / ".venv"
    venv.mkdir()
    installation = Installation(python=venv / "bin" / "python", paths=(venv,))
    [problem] = installation_problems(installation, bot.bot_dir, rules(tmp_path))
    assert problem.endswith("would let it rewrite its own code")


def test_an_installation_other_accounts_cannot_enter_is_refused(tmp_path: Path) -> None:
    opt = tmp_path / "opt"
    (opt / "autobot").mkdir(parents=True)
    os.chmod(tmp_path, 0o755)
    os.chmod(opt, 0o750)
    installation = Installation(python=opt / "autobot", paths=(opt / "autobot",))
    [problem] = installation_problems(installation, tmp_path / "bot", rules(tmp_path))
    assert problem == (
        "the service account could not use autobot's installation: "
        f"{opt} is mode 0750 (others cannot enter it)"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="judging parents needs root-owned directories")
def test_parents_another_account_could_write_or_others_cannot_enter_are_refused(
    tmp_path: Path,
) -> None:
    bot = new_bot(tmp_path / "srv" / "autobot")
    srv = tmp_path / "srv"
    assert bot_dir_problems(bot, rules(tmp_path)) == []
    os.chmod(srv, 0o775)
    os.chown(srv / "autobot", 1234, 0)
    os.chmod(srv / "autobot", 0o700)
    assert bot_dir_problems(bot, rules(tmp_path)) == [
        f"{srv / 'autobot'} (above the bot directory) is writable by an account other than "
        "root: it could move the bot directory aside and put its own in its place",
        f"{srv / 'autobot'} is mode 0700: the service account could not reach the bot directory",
        f"{srv} (above the bot directory) is writable by an account other than root: it could "
        "move the bot directory aside and put its own in its place",
    ]


def test_a_bot_inside_or_around_a_home_is_refused(tmp_path: Path) -> None:
    bot = new_bot(tmp_path / "srv")
    around = Home("alice", tmp_path / "srv")
    inside = Home("bob", bot.bot_dir / "workspace" / "bob")
    (bot.bot_dir / "workspace" / "bob").mkdir()
    problems = bot_dir_problems(bot, rules(tmp_path, homes=(around, inside)))
    assert problems == [
        f"the bot directory is inside the home directory of alice ({tmp_path / 'srv'}): the "
        "service would need a way into it; move the bot to e.g. /srv/autobot/NAME",
        f"the bot directory contains the home directory of bob ({inside.path}): handing it "
        "over would give that home away",
    ]


def test_a_bot_directory_the_unit_hides_or_at_the_top_is_refused(tmp_path: Path) -> None:
    bot = new_bot(tmp_path / "srv")
    [hidden] = bot_dir_problems(bot, LayoutRules())
    assert hidden == (
        f"the bot directory {bot.bot_dir} is hidden from the service by the unit's PrivateTmp=: "
        "move it to e.g. /srv/autobot/NAME"
    )
    top = attrs.evolve(bot, bot_dir=Path("/srv"))
    assert bot_dir_problems(top, rules(tmp_path)) == [
        "the bot directory /srv is a top-level directory: use e.g. /srv/autobot/NAME"
    ]


def test_config_and_env_linked_from_elsewhere_are_refused(tmp_path: Path) -> None:
    bot = new_bot(tmp_path / "srv")
    elsewhere = tmp_path / "etc-autobot"
    elsewhere.mkdir()
    os.rename(bot.env_file, elsewhere / ".env")
    bot.env_file.symlink_to(elsewhere / ".env")
    assert bot_dir_problems(bot, rules(tmp_path)) == [
        f"{bot.env_file} is a symbolic link: the service account gets only the bot directory, "
        "put the file itself there"
    ]


def test_state_paths_outside_the_bot_directory_are_listed_and_made_writable(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "var-log-bot"
    bot = new_bot(
        tmp_path / "srv",
        workspace=str(tmp_path / "data" / "ws"),
        config_tail=f"logging:\n  dir: {logs}\ncron:\n  store: {tmp_path / 'state' / 'cron.json'}\n",
    )
    expected = (tmp_path / "data" / "ws", logs, tmp_path / "state")
    assert outside_state_paths(bot) == expected
    assert [str(p) for p in writable_paths(bot)] == [str(bot.bot_dir), *map(str, expected)]
    inside = new_bot(tmp_path / "srv2")
    assert outside_state_paths(inside) == ()


def test_sandbox_docker_cannot_run_as_an_unprivileged_account(tmp_path: Path) -> None:
    bot = new_bot(tmp_path / "srv")
    tools = attrs.evolve(bot.config.tools, sandbox=SandboxMode.DOCKER)
    docker = attrs.evolve(bot, config=attrs.evolve(bot.config, tools=tools))
    [problem] = sandbox_problems(docker, rules(tmp_path))
    assert "root in all but name" in problem
    none = attrs.evolve(
        bot, config=attrs.evolve(bot.config, tools=attrs.evolve(tools, sandbox=SandboxMode.NONE))
    )
    assert sandbox_problems(none, rules(tmp_path)) == []


def test_a_missing_or_setuid_bwrap_and_disabled_user_namespaces_are_refused(
    tmp_path: Path,
) -> None:
    bot = new_bot(tmp_path / "srv")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    assert sandbox_problems(bot, rules(tmp_path, search_path=str(empty))) == [
        f"bwrap is not on the service's PATH ({empty}): install bubblewrap"
    ]
    setuid = tmp_path / "setuid-bin"
    setuid.mkdir()
    fake = setuid / "bwrap"
    fake.write_text("#!/bin/sh\n")
    os.chmod(fake, 0o4755)
    switch = tmp_path / "unprivileged_userns_clone"
    switch.write_text("0\n")
    assert sandbox_problems(
        bot,
        rules(tmp_path, search_path=str(setuid), userns_switches=((str(switch), "kernel.x"),)),
    ) == [
        f"{fake} is setuid: under the unit's NoNewPrivileges=yes it cannot start; use a "
        "bubblewrap without the setuid bit (it then uses unprivileged user namespaces)",
        "unprivileged user namespaces are turned off (kernel.x = 0): the sandbox cannot start "
        "as an unprivileged account; set it to 1 (sysctl.d)",
    ]
    assert stat.S_IMODE(os.stat(fake).st_mode) == 0o4755


@pytest.mark.skipif(
    not any(os.access(f"{d}/bwrap", os.X_OK) for d in SERVICE_PATH.split(":")),
    reason="bubblewrap is not installed",
)
def test_this_machines_bubblewrap_suits_the_unit(tmp_path: Path) -> None:
    bot = new_bot(tmp_path / "srv")
    assert sandbox_problems(bot, LayoutRules()) == []
