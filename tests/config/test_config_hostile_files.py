"""Hostile config.yml and .env files: one ConfigError naming the file and the
problem, never a hang, a traceback, a memory blow-up or the file's content."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from autobot.config import ConfigError, load_config
from autobot.config.environment import MAX_ENV_BYTES
from autobot.config.load import MAX_CONFIG_BYTES
from autobot.config.yaml_text import MAX_YAML_DEPTH

WriteBot = Callable[..., Path]

# Only a guard against the old behaviour (a load blocked forever on a FIFO):
# a refusal takes milliseconds. Never asserted as a duration.
HANG_GUARD_SECONDS = 30


async def _load_guarded(path: Path) -> ConfigError:
    """The ConfigError `load_config(path)` raises, failing (not hanging) the
    test if the load blocks."""
    with trio.fail_after(HANG_GUARD_SECONDS):
        try:
            await trio.to_thread.run_sync(load_config, path, {}, abandon_on_cancel=True)
        except ConfigError as error:
            return error
    raise AssertionError("the hostile file was loaded")


def _one_line(error: ConfigError, path: Path) -> str:
    text = str(error)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    return text.removeprefix(f"{path}: ")


def _nested_flow(depth: int) -> str:
    return "agents: " + "[" * depth + "]" * depth + "\n"


def _nested_block(depth: int) -> str:
    return "".join(f"{' ' * level}k{level}:\n" for level in range(depth))


@pytest.mark.parametrize("text", [_nested_flow(20_000), _nested_block(1_000)])
def test_deep_nesting_is_one_problem_not_a_recursion_error(write_bot: WriteBot, text: str) -> None:
    path = write_bot(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    message = _one_line(caught.value, path)
    assert message.startswith("invalid YAML at line ")
    assert message.endswith(f"nested more than {MAX_YAML_DEPTH} levels deep")


def test_nesting_up_to_the_limit_parses(write_bot: WriteBot) -> None:
    # the limit counts nodes: the top mapping, the `agents` value, then the lists
    path = write_bot(_nested_flow(MAX_YAML_DEPTH - 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert "nested" not in str(caught.value)  # a schema problem, not a depth one
    path.write_text(_nested_flow(MAX_YAML_DEPTH))
    with pytest.raises(ConfigError, match="nested more than"):
        load_config(path, {})


async def test_a_fifo_config_is_refused_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    os.mkfifo(path)
    error = await _load_guarded(path)
    assert _one_line(error, path) == "is a FIFO (named pipe), not a regular file"


async def test_a_fifo_config_with_a_writer_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(path, os.O_WRONLY)
    try:
        os.write(writer, b"gateway: {port: 1}\n")
        error = await _load_guarded(path)
    finally:
        os.close(writer)
        os.close(reader)
    assert _one_line(error, path) == "is a FIFO (named pipe), not a regular file"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
async def test_a_config_linked_to_a_device_is_refused_unread(tmp_path: Path, device: str) -> None:
    path = tmp_path / "config.yml"
    path.symlink_to(device)
    error = await _load_guarded(path)
    assert _one_line(error, path) == "is a character device, not a regular file"


def test_a_huge_config_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    with path.open("wb") as handle:
        handle.truncate(16 << 30)  # sparse: 16 GiB that would all be read
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert _one_line(caught.value, path) == (
        f"is larger than the limit of {MAX_CONFIG_BYTES:,} bytes"
    )


def test_a_config_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_bytes(b"#" * (MAX_CONFIG_BYTES - 1) + b"\n")
    assert load_config(path, {}).raw_text.startswith("###")


PASSWD_LIKE = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "alice:$6$saltsalt$hashhashhash:1000:1000::/home/alice:/bin/sh\n"
)


@pytest.mark.parametrize("target_text", [PASSWD_LIKE, "one very long line " * 50 + "\n"])
def test_a_config_linked_to_another_file_never_echoes_it(tmp_path: Path, target_text: str) -> None:
    target = tmp_path / "passwd"
    target.write_text(target_text)
    path = tmp_path / "config.yml"
    path.symlink_to(target)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    message = _one_line(caught.value, path)
    assert message.startswith("the top level must be a mapping of sections (")
    assert re.search(r"got a string of [0-9,]+ characters$", message)
    for word in ("root", "daemon", "alice", "saltsalt", "very long"):
        assert word not in message


def test_the_real_etc_passwd_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.symlink_to("/etc/passwd")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    first_line = Path("/etc/passwd").read_text().splitlines()[0]
    assert first_line.split(":")[0] not in _one_line(caught.value, path)


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("- a\n- b\n", "got a list of 2 items"),
        ("42\n", "got a single number, date or boolean"),
        ("2024-01-01\n", "got a single number, date or boolean"),
    ],
)
def test_other_top_levels_are_described_without_content(
    write_bot: WriteBot, text: str, got: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_bot(text), {})
    assert str(caught.value).endswith(got)


def test_a_credential_shaped_value_is_never_quoted(write_bot: WriteBot) -> None:
    key = "sk-ant-api03-" + "K" * 40
    with pytest.raises(ConfigError) as caught:
        load_config(write_bot(f"gateway:\n  port: {key}\n"), {})
    (problem,) = caught.value.problems
    assert problem.render() == (
        "gateway.port: must be an integer (got a string that looks like a credential (not shown))"
    )


def test_a_long_unexpected_value_is_quoted_as_a_short_excerpt(write_bot: WriteBot) -> None:
    value = "abcdefghij" * 30
    with pytest.raises(ConfigError) as caught:
        load_config(write_bot(f"tools:\n  sandbox: {value}\n"), {})
    (problem,) = caught.value.problems
    assert problem.path == "tools.sandbox"
    assert value[:30] in problem.message
    assert value[:40] not in problem.message


# ---- the .env beside config.yml ----------------------------------------------


async def test_a_fifo_dotenv_is_a_problem_not_a_hang(write_bot: WriteBot) -> None:
    path = write_bot("gateway: {port: 8080}\n")
    os.mkfifo(path.parent / ".env")
    error = await _load_guarded(path)
    assert error.problems[0].message == (
        f"cannot read {path.parent / '.env'}: it is a FIFO (named pipe), not a regular file"
    )


async def test_a_dotenv_linked_to_dev_zero_is_refused_unread(write_bot: WriteBot) -> None:
    path = write_bot("gateway: {port: 8080}\n")
    (path.parent / ".env").symlink_to("/dev/zero")
    error = await _load_guarded(path)
    assert _one_line(error, path) == (
        f"cannot read {path.parent / '.env'}: it is a character device, not a regular file"
    )


def test_a_huge_dotenv_is_refused(write_bot: WriteBot) -> None:
    path = write_bot("gateway: {port: 8080}\n")
    with (path.parent / ".env").open("wb") as handle:
        handle.truncate(MAX_ENV_BYTES + 1)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert _one_line(caught.value, path) == (
        f"cannot read {path.parent / '.env'}: it is larger than the limit of "
        f"{MAX_ENV_BYTES:,} bytes"
    )


def test_a_dotenv_directory_is_refused(write_bot: WriteBot) -> None:
    path = write_bot("gateway: {port: 8080}\n")
    (path.parent / ".env").mkdir()
    with pytest.raises(ConfigError, match=r"\.env: it is a directory, not a regular file$"):
        load_config(path, {})


def test_a_dotenv_symlinked_to_a_regular_file_still_loads(write_bot: WriteBot) -> None:
    path = write_bot("providers:\n  anthropic:\n    api_key: ${KEY}\n")
    real = path.parent / "real.env"
    real.write_text("KEY=from-linked-file\r\nOTHER=x\r\n")
    (path.parent / ".env").symlink_to(real)
    loaded = load_config(path, {})
    assert loaded.secret_values == {"from-linked-file", "x"}
