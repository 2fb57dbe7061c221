"""Installing the managed bridge into the bot directory: its sources copied, `npm ci` once per lockfile.

npm is faked (a recording `run_process`) where the test counts runs, and
real (`npm` on this machine, a bridge without dependencies: nothing is
downloaded) where the command line itself must be right.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio

from autobot.channels.whatsapp.bridge_install import (
    INSTALLED_STAMP,
    BridgeInstaller,
    BridgeInstallError,
    is_installed,
    npm_command,
    npm_environment,
    shipped_bridge_dir,
    stage_bridge,
)

LOCK = '{"name":"b","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"b","version":"1.0.0"}}}\n'
ENVIRON = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.environ.get("HOME", "/root"),
    "ANTHROPIC_API_KEY": "sk-ant-api03-" + "k" * 40,
    "TELEGRAM_BOT_TOKEN": "123:AAE" + "t" * 30,
    "npm_config_update_notifier": "false",
}


def shipped(tmp_path: Path) -> Path:
    """A bridge package laid out as autobot ships it, with what must not be copied."""
    package = tmp_path / "package"
    for name, text in {
        "bridge.mjs": "import './lib/a.mjs'\n",
        "lib/a.mjs": "export const a = 1\n",
        "lib/sub/b.mjs": "export const b = 2\n",
        "package.json": '{"name":"b","version":"1.0.0","private":true,"type":"module"}\n',
        "package-lock.json": LOCK,
        "test/a.test.mjs": "test\n",
        "node_modules/dep/index.js": "dev copy\n",
        "fixtures/f.json": "{}\n",
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    return package


class FakeNpm:
    """A `run_process` that records each call and installs like npm ci would."""

    def __init__(self, *, returncode: int = 0, stderr: bytes = b"") -> None:
        self.calls: list[dict[str, Any]] = []
        self.returncode = returncode
        self.stderr = stderr

    async def __call__(self, argv: list[str], **options: Any) -> subprocess.CompletedProcess[bytes]:
        self.calls.append({"argv": argv, **options})
        if self.returncode == 0:
            (Path(options["cwd"]) / "node_modules" / "dep").mkdir(parents=True, exist_ok=True)
        return subprocess.CompletedProcess(argv, self.returncode, b"", self.stderr)


def installer(package: Path, target: Path, npm: FakeNpm | None = None) -> BridgeInstaller:
    if npm is None:
        return BridgeInstaller(package=package, target=target, npm="npm", environ=ENVIRON)
    return BridgeInstaller(
        package=package, target=target, npm="npm", environ=ENVIRON, run_process=npm
    )


def test_staging_copies_sources_and_package_files_only_private(tmp_path: Path) -> None:
    package, target = shipped(tmp_path), tmp_path / "bot" / "state" / "whatsapp-bridge"
    assert stage_bridge(package, target) is True
    copied = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert copied == [
        "bridge.mjs",
        "lib/a.mjs",
        "lib/sub/b.mjs",
        "package-lock.json",
        "package.json",
    ]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in target.rglob("*") if p.is_file())
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in target.rglob("*") if p.is_dir())
    (package / "lib" / "a.mjs").write_text("export const a = 3\n")  # a new autobot version
    stage_bridge(package, target)
    assert (target / "lib" / "a.mjs").read_text() == "export const a = 3\n"


def test_a_package_without_its_entry_point_or_lockfile_is_refused(tmp_path: Path) -> None:
    package = shipped(tmp_path)
    (package / "package-lock.json").unlink()
    with pytest.raises(BridgeInstallError, match="not shipped complete"):
        stage_bridge(package, tmp_path / "target")
    (package / "bridge.mjs").unlink()
    with pytest.raises(BridgeInstallError, match=r"no .*bridge\.mjs"):
        stage_bridge(package, tmp_path / "target")


async def test_npm_ci_runs_once_per_lockfile_with_a_minimal_environment(tmp_path: Path) -> None:
    package, target = shipped(tmp_path), tmp_path / "target"
    npm = FakeNpm()
    entry = await installer(package, target, npm).install()
    assert entry == target / "bridge.mjs"
    await installer(package, target, npm).install()  # the next start: already installed
    assert len(npm.calls) == 1
    [call] = npm.calls
    assert call["argv"] == ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    assert call["cwd"] == target
    assert call["env"] == {
        "PATH": ENVIRON["PATH"],
        "HOME": ENVIRON["HOME"],
        "npm_config_update_notifier": "false",
    }
    assert is_installed(package, target)
    (package / "package-lock.json").write_text(LOCK.replace("1.0.0", "1.0.1"))  # upgraded
    await installer(package, target, npm).install()
    assert len(npm.calls) == 2
    shutil.rmtree(target / "node_modules")  # the operator cleared it
    await installer(package, target, npm).install()
    assert len(npm.calls) == 3


async def test_a_failed_npm_ci_names_the_command_and_installs_nothing(tmp_path: Path) -> None:
    package, target = shipped(tmp_path), tmp_path / "target"
    npm = FakeNpm(returncode=1, stderr=b"npm ERR! network request failed\n")
    with pytest.raises(BridgeInstallError) as caught:
        await installer(package, target, npm).install()
    text = str(caught.value)
    assert "`npm ci --ignore-scripts --no-audit --no-fund`" in text
    assert str(target) in text and "exit 1" in text and "network request failed" in text
    assert not (target / INSTALLED_STAMP).exists()
    with pytest.raises(BridgeInstallError):  # and it is tried again next time
        await installer(package, target, npm).install()
    assert len(npm.calls) == 2


async def test_npm_that_cannot_run_is_named(tmp_path: Path) -> None:
    package, target = shipped(tmp_path), tmp_path / "target"
    missing = BridgeInstaller(
        package=package, target=target, npm=str(tmp_path / "no-npm"), environ=ENVIRON
    )
    with pytest.raises(BridgeInstallError, match="could not run"):
        await missing.install()


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
async def test_the_real_npm_accepts_the_command(tmp_path: Path) -> None:
    package, target = shipped(tmp_path), tmp_path / "target"
    with trio.fail_after(120):
        await installer(package, target).install()
    assert is_installed(package, target)


def test_npm_is_found_beside_a_configured_node(tmp_path: Path) -> None:
    (tmp_path / "node").touch()
    (tmp_path / "npm").touch()
    assert npm_command(str(tmp_path / "node")) == str(tmp_path / "npm")
    assert npm_command("node") == "npm"
    assert npm_command(str(tmp_path / "bin" / "node")) == "npm"


def test_npm_gets_no_secret_of_the_gateway() -> None:
    kept = npm_environment({**ENVIRON, "OPENAI_API_KEY": "sk-x", "AWS_SECRET_ACCESS_KEY": "y"})
    assert set(kept) == {"PATH", "HOME", "npm_config_update_notifier"}


def test_the_shipped_bridge_has_what_the_installer_needs() -> None:
    package = shipped_bridge_dir()
    if not (package / "bridge.mjs").exists():
        pytest.skip("the bridge's sources are not in this checkout yet")
    assert (package / "package.json").is_file() and (package / "package-lock.json").is_file()
