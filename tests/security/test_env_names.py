"""The one dotenv name rule shared by the file tools, exec, the sandbox masks and doctor."""

from __future__ import annotations

import pytest

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
        ("env", False),
        ("ENV", False),
        (".envrc", False),
        ("environment.py", False),
        ("dev.environment", False),
        ("env_setup.sh", False),  # no dot before `env`
        ("my-env", False),
        ("venv", False),
        ("env.py", False),  # alembic's migration environment, not a dotenv file
        ("env.h", False),
        ("env.sh", False),
        ("env.example", False),
        (".env.example", True),  # a template may still hold real values: refused
    ],
)
def test_is_env_file_name(name: str, is_dotenv: bool) -> None:
    assert is_env_file_name(name) is is_dotenv
