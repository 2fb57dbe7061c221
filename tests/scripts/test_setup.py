"""`scripts/setup` on a machine without Python's venv module (Debian's `python3-venv`).

Debian's `python3 -m venv` then makes half a venv (a `bin/python`, no pip) and
fails; before, the next run took that half venv for a real one and failed
again at `pip`, whatever the user installed meanwhile. The real script runs in
a scratch copy of the repository's layout, with a stand-in `python3` that
behaves like Debian's without the venv package; nothing gets installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Like Debian's python3 without python3-venv: the version check passes, `-m venv DIR`
# leaves DIR/bin/python (which has no pip) and fails with ensurepip's complaint.
NO_VENV_PYTHON = """#!/bin/sh
case "$1 $2" in
    "-m venv")
        mkdir -p "$3/bin"
        printf '#!/bin/sh\\nexit 1\\n' > "$3/bin/python"
        chmod +x "$3/bin/python"
        echo "The virtual environment was not created successfully because ensurepip is not" >&2
        echo "available." >&2
        exit 1 ;;
    *) exit 0 ;;
esac
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A directory with scripts/setup and a pyproject.toml, as the repository has."""
    (tmp_path / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "setup", tmp_path / "scripts" / "setup")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    python = tmp_path / "python3-without-venv"
    python.write_text(NO_VENV_PYTHON)
    python.chmod(0o755)
    return tmp_path


def _setup(checkout: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(checkout / "scripts" / "setup")],
        env={**os.environ, "PYTHON": str(checkout / "python3-without-venv")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_failed_venv_says_which_package_and_leaves_nothing_half_made(checkout: Path) -> None:
    for _ in range(2):  # the second run meets the same clean state, not a half venv
        done = _setup(checkout)
        assert done.returncode == 1
        assert "ensurepip is not" in done.stderr  # Python's own words first
        assert "scripts/setup: could not create .venv with" in done.stderr
        assert "    sudo apt-get install -y python3-venv\n" in done.stderr
        assert not (checkout / ".venv").exists()


def test_a_venv_directory_without_python_is_left_alone(checkout: Path) -> None:
    (checkout / ".venv").mkdir()
    (checkout / ".venv" / "mine").write_text("not setup's to remove")
    done = _setup(checkout)
    assert done.returncode == 1
    assert done.stderr == (
        "scripts/setup: .venv exists but holds no Python: remove it (rm -r .venv) "
        "and run me again.\n"
    )
    assert (checkout / ".venv" / "mine").read_text() == "not setup's to remove"


def test_a_half_venv_from_before_is_named_not_fed_to_pip(checkout: Path) -> None:
    (checkout / ".venv" / "bin").mkdir(parents=True)
    python = checkout / ".venv" / "bin" / "python"
    python.write_text("#!/bin/sh\nexit 1\n")  # no pip module
    python.chmod(0o755)
    done = _setup(checkout)
    assert done.returncode == 1
    assert done.stderr.startswith("scripts/setup: .venv has no pip")
    assert "install python3-venv" in done.stderr
    assert "==> installing" not in done.stdout
