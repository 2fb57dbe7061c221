"""The one dotenv name rule shared by the file tools, exec, the sandbox masks and doctor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.security.paths import is_env_file_name


@pytest.mark.parametrize(
    ("name", "is_dotenv"),
    [
        (".env", True),
        (".ENV", True),
        (".env.local", True),
        (".env.production", True),
        (".env-prod", True),
        (".env_local", True),
        (".ENV-PROD", True),
        ("secrets.env", True),
        ("secrets.env_old", True),
        ("prod.env.bak", True),
        ("dir/.env-staging", True),  # only the last component counts
        # editor and backup copies, direnv: all readable by the model before
        (".env~", True),
        ("#.env#", True),
        (".#.env", True),
        (".env.swp", True),
        ("..env.swo", True),
        (".env.bak", True),
        (".env.orig", True),
        (".env.old", True),
        (".env.save", True),
        (".env1", True),
        (".env.1", True),
        ("secrets.env~", True),
        (".envrc", True),
        (".ENVRC", True),
        (".envrc~", True),
        (".envrc.swp", True),
        (".envs", True),  # cookiecutter-django: .envs/.production/.django
        (".env@host", True),
        (".env\u00e9", True),  # a non-ASCII character is not an ASCII letter
        (".env\u212a", True),  # nor the Kelvin sign (which folds to `k` under Unicode rules)
        ("env", False),
        ("ENV", False),
        ("environment.py", False),
        ("environment.md", False),
        (".environment", False),
        (".envoy.yaml", False),
        (".envsubst", False),
        (".envrcx", False),
        ("dev.environment", False),
        ("env_setup.sh", False),  # no dot before `env`
        ("my-env", False),
        ("venv", False),
        ("env.py", False),  # alembic's migration environment, not a dotenv file
        ("env.h", False),
        ("env.sh", False),
        ("env~", False),
        ("env1", False),
        ("env.example", False),
        (".env.example", True),  # a template may still hold real values: refused
    ],
)
def test_is_env_file_name(name: str, is_dotenv: bool) -> None:
    assert is_env_file_name(name) is is_dotenv


# --- properties -------------------------------------------------------------

DOTENV_CORES = [".env", ".ENV", ".env.local", ".env-prod", "secrets.env", ".envrc", ".envs"]
# Decorations editors, backup tools and people put around a file name.
PREFIXES = ["", "#", ".#", ".", "_", "~", "backup-", "copy of ", "1"]
SUFFIXES = [
    "", "~", "#", ".swp", ".swo", ".swx", ".bak", ".orig", ".old", ".save", ".tmp", ".1",
    "1", "42", "-copy", "_2024", ",v", " (1)", ".~1~", "%", "@",
]  # fmt: skip
NAME_CHARS = st.characters(codec="utf-8", exclude_characters="/\x00")
NOT_A_LETTER = st.characters(codec="utf-8", exclude_characters="/\x00").filter(
    lambda char: not ("a" <= char.lower() <= "z")
)


@given(
    core=st.sampled_from(DOTENV_CORES),
    prefixes=st.lists(st.sampled_from(PREFIXES), max_size=3),
    suffixes=st.lists(st.sampled_from(SUFFIXES), max_size=3),
)
def test_decorating_a_dotenv_name_keeps_it_a_dotenv_name(
    core: str, prefixes: list[str], suffixes: list[str]
) -> None:
    assert is_env_file_name("".join(prefixes) + core + "".join(suffixes))


@given(
    core=st.sampled_from(DOTENV_CORES),
    before=st.text(NAME_CHARS, max_size=12),
    first=NOT_A_LETTER,
    after=st.text(NAME_CHARS, max_size=12),
)
def test_any_prefix_and_any_suffix_not_starting_with_a_letter_keep_it_dotenv(
    core: str, before: str, first: str, after: str
) -> None:
    assert is_env_file_name(before + core)
    assert is_env_file_name(before + core + first + after)


@given(name=st.text(NAME_CHARS, min_size=1, max_size=30))
def test_a_name_without_dot_env_is_never_dotenv(name: str) -> None:
    """Source files (`env.py`, `env.h`, `environment.md`) stay usable: without
    the dot before `env`, whatever surrounds it, a name is allowed."""
    if ".env" not in name.lower():
        assert not is_env_file_name(name)


@given(
    stem=st.sampled_from(["env", "ENV", "environment", "env_setup", "my-env"]),
    extension=st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=4),
    decoration=st.sampled_from(SUFFIXES),
)
def test_source_files_named_env_stay_allowed_with_backup_decorations(
    stem: str, extension: str, decoration: str
) -> None:
    assert not is_env_file_name(f"{stem}.{extension}{decoration}")
