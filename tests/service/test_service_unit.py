"""The unit text: what it sets, why, and that systemd (or our strict reader) accepts it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.sandbox.policy import ResourceLimits
from autobot.service.unit import (
    GATEWAY_MEMORY_BYTES,
    GATEWAY_TASKS,
    MARKER,
    UnitError,
    UnitSpec,
    check_unit_path,
    check_user_name,
    render_unit,
    resource_budget,
    unit_name_for,
)

from .unitfile import UnitFileError, parse_unit

BOT = PurePosixPath("/srv/autobot/mybot")
MIB = 1024 * 1024


def spec(**changes: object) -> UnitSpec:
    values: dict[str, object] = {
        "name": "autobot-mybot",
        "user": "autobot-mybot",
        "bot_dir": BOT,
        "config_file": BOT / "config.yml",
        "python": PurePosixPath("/opt/autobot/bin/python"),
        "writable": (BOT,),
        "memory_max": 2688 * MIB,
        "tasks_max": 644,
    }
    values.update(changes)
    return UnitSpec(**values)  # type: ignore[arg-type]


def test_the_unit_runs_the_gateway_of_the_bot_as_its_account() -> None:
    unit = parse_unit(render_unit(spec()))
    service = unit["Service"]
    assert service["ExecStart"] == (
        "/opt/autobot/bin/python -I -m autobot --config /srv/autobot/mybot/config.yml gateway"
    )
    assert (service["User"], service["Group"]) == ("autobot-mybot", "autobot-mybot")
    assert service["WorkingDirectory"] == "/srv/autobot/mybot"
    assert service["Type"] == "exec"
    assert unit["Install"] == {"WantedBy": "multi-user.target"}
    assert unit["Unit"]["Description"] == "autobot gateway for /srv/autobot/mybot"


def test_the_unit_is_hardened_as_the_issue_asks() -> None:
    service = parse_unit(render_unit(spec())).sections["Service"]
    assert {key: service[key] for key in (
        "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "LockPersonality",
        "Restart", "MemoryMax", "ReadWritePaths", "CapabilityBoundingSet", "UMask",
    )} == {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "LockPersonality": "yes", "Restart": "on-failure",
        "MemoryMax": "2688M", "ReadWritePaths": "/srv/autobot/mybot",
        "CapabilityBoundingSet": "", "UMask": "0077",
    }  # fmt: skip
    # bubblewrap needs netlink (loopback in its network namespace) and these namespaces
    assert service["RestrictAddressFamilies"].split() == [
        "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"
    ]  # fmt: skip
    assert service["RestrictNamespaces"].split() == [
        "user", "mnt", "pid", "ipc", "uts", "net", "cgroup"
    ]  # fmt: skip
    # a deny list without @mount, @privileged or @resources (bwrap and the worker use them)
    denied = service["SystemCallFilter"].removeprefix("~").split()
    assert not {"@mount", "@privileged", "@resources"} & set(denied)
    unit = parse_unit(render_unit(spec()))["Unit"]
    assert (unit["StartLimitIntervalSec"], unit["StartLimitBurst"]) == ("600", "5")


def test_settings_that_break_the_sandbox_or_leak_secrets_are_left_out_and_explained() -> None:
    text = render_unit(spec())
    unit = parse_unit(text)
    left_out = (
        "EnvironmentFile", "ProtectKernelTunables", "ProtectKernelLogs", "ProcSubset",
        "PrivateUsers", "MemoryDenyWriteExecute", "PrivateNetwork", "DynamicUser",
    )  # fmt: skip
    for key in left_out:
        assert key not in unit["Service"]
        assert any(f"{key}=" in comment for comment in unit.comments), key


def test_every_setting_says_why_it_is_there() -> None:
    lines = render_unit(spec()).splitlines()
    # settings that complete the one just above share its comment
    companions = {"Group", "AmbientCapabilities", "TimeoutStopSec", "RestartSec",
                  "StartLimitBurst", "After", "Description", "WantedBy"}  # fmt: skip
    for index, line in enumerate(lines):
        if "=" not in line or line.startswith("#"):
            continue
        key = line.partition("=")[0]
        if key not in companions:
            assert lines[index - 1].startswith("# "), f"{key} has no comment"


def test_the_unit_starts_with_the_marker_install_and_uninstall_look_for() -> None:
    assert render_unit(spec()).startswith(MARKER + "\n")


def test_state_paths_outside_the_bot_directory_are_writable_too() -> None:
    outside = PurePosixPath("/var/lib/autobot-logs")
    service = parse_unit(render_unit(spec(writable=(BOT, outside))))["Service"]
    assert service["ReadWritePaths"] == "/srv/autobot/mybot /var/lib/autobot-logs"


def test_the_budget_is_what_root_gateway_cgroups_give_each_worker_plus_the_gateway() -> None:
    limits = ResourceLimits()
    memory, tasks = resource_budget(3, limits)
    assert memory == 3 * (limits.memory_bytes + 64 * MIB) + GATEWAY_MEMORY_BYTES
    assert tasks == 3 * (limits.processes + 2) + GATEWAY_TASKS
    assert parse_unit(render_unit(spec(memory_max=MIB + 1)))["Service"]["MemoryMax"] == "2M"


def verify(unit_file: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` on `unit_file` (it reads the unit, changes nothing)."""
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    bot = tmp_path / "mybot"
    bot.mkdir()
    unit_file = tmp_path / "autobot-mybot.service"
    text = render_unit(
        spec(
            bot_dir=PurePosixPath(bot),
            config_file=PurePosixPath(bot / "config.yml"),
            python=PurePosixPath(sys.executable),
            writable=(PurePosixPath(bot),),
        )
    )
    unit_file.write_text(text)
    done = verify(unit_file)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    # and it does complain about a key it does not know (the check is real)
    unit_file.write_text(text.replace("UMask=0077", "UMask=0077\nUmask=0077"))
    done = verify(unit_file)
    assert "Unknown key 'Umask'" in done.stderr


def test_the_strict_reader_refuses_what_systemd_would_only_warn_about() -> None:
    text = render_unit(spec())
    for bad in (
        text.replace("UMask=0077", "Umask=0077"),  # unknown key
        text.replace("UMask=0077", "UMask=0077\nUMask=0077"),  # set twice
        text.replace("PrivateTmp=yes", "PrivateTmp=maybe"),  # bad value
        text.replace("[Install]", "[Instal]"),  # unknown section
        text.replace("Type=exec", "Type=exec \\"),  # continuation line
    ):
        with pytest.raises(UnitFileError):
            parse_unit(bad)


@pytest.mark.parametrize(
    ("directory", "name"),
    [
        ("mybot", "autobot-mybot"),
        ("My Bot", "autobot-my-bot"),
        ("bot_2.prod", "autobot-bot-2-prod"),
        ("--x--", "autobot-x"),
    ],
)
def test_the_unit_is_named_after_the_bot_directory(directory: str, name: str) -> None:
    assert unit_name_for(PurePosixPath("/srv") / directory) == name


@pytest.mark.parametrize("directory", ["___", "éè", "a" * 25])
def test_a_directory_name_that_makes_no_unit_name_is_refused(directory: str) -> None:
    with pytest.raises(UnitError, match="rename"):
        unit_name_for(PurePosixPath("/srv") / directory)


@pytest.mark.parametrize(
    "path",
    ["/srv/my bot", "/srv/100%", "/srv/$HOME", "/srv/a\nb", "/srv/'x'", "relative", "/srv/../etc"],
)
def test_paths_systemd_would_read_differently_are_refused(path: str) -> None:
    with pytest.raises(UnitError):
        check_unit_path(PurePosixPath(path))
    with pytest.raises(UnitError):
        spec(bot_dir=PurePosixPath(path), writable=(PurePosixPath(path),))


@pytest.mark.parametrize("user", ["Root", "1bot", "bot name", "x" * 33, "", "bot:0"])
def test_invalid_user_names_are_refused(user: str) -> None:
    with pytest.raises(UnitError, match="not a valid user name"):
        check_user_name(user)


def test_the_bot_directory_must_be_the_first_writable_path() -> None:
    with pytest.raises(UnitError, match="first writable path"):
        spec(writable=(PurePosixPath("/var/lib/x"),))


_SAFE_NAME = st.text(alphabet="abcXYZ019._@+-", min_size=1, max_size=12).filter(
    lambda name: name not in (".", "..")
)


@given(st.lists(_SAFE_NAME, min_size=2, max_size=5))
def test_any_safe_path_renders_a_unit_the_strict_reader_accepts(parts: list[str]) -> None:
    bot = PurePosixPath("/", *parts)
    unit = parse_unit(
        render_unit(spec(bot_dir=bot, config_file=bot / "config.yml", writable=(bot,)))
    )
    assert unit["Service"]["WorkingDirectory"] == str(bot)
    assert unit["Service"]["ExecStart"].split()[5] == str(bot / "config.yml")


@given(st.text(min_size=1, max_size=8).filter(lambda s: any(
    not (c.isascii() and (c.isalnum() or c in "._@+-/")) for c in s
)))  # fmt: skip
def test_any_other_character_in_a_path_is_refused(name: str) -> None:
    with pytest.raises(UnitError):
        check_unit_path(PurePosixPath("/srv", name))
