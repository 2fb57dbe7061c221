"""Move a `.env` from the top of the workspace to beside config.yml (blocking).

The doctor's fix for a `.env` left in the workspace (the model's directory)
while none exists beside config.yml. The workspace is the model's, so
nothing is judged by name and then used by name:

- the workspace and the bot directory are opened once; `.env` is opened
  relative to the workspace with `O_NOFOLLOW | O_NONBLOCK` and `fstat`-ed: a
  symbolic link, anything but a regular file, a file that does not belong to
  the workspace's owner, a file with other names (hard links: another name
  would keep the secrets readable) or one larger than `MAX_ENV_BYTES` is
  refused. The owner is what makes this safe against someone who swaps
  names while it runs: a link count read then can lie (the name that made
  it 2 may be gone a moment later), but whatever the name led to, a file
  moved in is one the workspace's owner owns, never someone else's file
  linked into the workspace (`/etc/shadow` where fs.protected_hardlinks is
  off);
- its bytes, read from that descriptor, go into a new 0600 file in the bot
  directory (`O_CREAT | O_EXCL | O_NOFOLLOW`, a random name, fsync-ed; owned
  by the bot directory's owner when root runs the fix), which is then
  linked as `.env` with `link(2)`: the new `.env` appears whole and at once,
  and an existing one (even one created in the meantime, even a symlink) is
  never replaced: `link` fails instead;
- the workspace's name is then removed, only if it still names the file
  that was read (a swap in the instant between that check and the unlink
  would cost the model its own replacement, nothing else).

The content is never printed or logged. Raises `EnvMoveRefused` (nothing
changed, the reason in its message) or `OSError` for an I/O failure (the
temp file is removed; nothing else changed).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

import attrs

from autobot.config.environment import ENV_FILE_NAME, MAX_ENV_BYTES
from autobot.security.paths import is_within
from autobot.security.regular_file import FileRefused, read_fd
from autobot.store.atomic import PRIVATE_FILE_MODE

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class EnvMoveRefused(Exception):
    """The `.env` was not moved; `str()` says why. Nothing was changed."""


@attrs.frozen
class EnvMove:
    """A move done: from `source` to `target`; `leftover` says what could not
    be cleaned up in the workspace (None: nothing)."""

    source: Path
    target: Path
    leftover: str | None = None


def _open_source(workspace_fd: int, source: Path) -> int:
    try:
        fd = os.open(ENV_FILE_NAME, _READ_FLAGS, dir_fd=workspace_fd)
    except FileNotFoundError:
        raise EnvMoveRefused(f"there is no {source}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise EnvMoveRefused(f"{source} is a symbolic link, which is never followed") from None
        raise
    info = os.fstat(fd)
    owner = os.fstat(workspace_fd).st_uid
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "is not a regular file"
    elif info.st_uid != owner:
        problem = (
            f"belongs to uid {info.st_uid}, not to the workspace's owner (uid {owner}): it may "
            "be another account's file linked in"
        )
    elif info.st_nlink != 1:
        problem = (
            f"has {info.st_nlink - 1} other name(s) (hard links) that would keep the secrets "
            "readable: remove them first (find WORKSPACE -samefile .env)"
        )
    if problem is not None:
        os.close(fd)
        raise EnvMoveRefused(f"{source} {problem}")
    return fd


def _write_new(bot_fd: int, data: bytes, owner: tuple[int, int] | None) -> str:
    """A fresh 0600 file holding `data` in the bot directory; its name."""
    name = f".{ENV_FILE_NAME}.{secrets.token_hex(8)}.tmp"
    fd = os.open(name, _CREATE_FLAGS, PRIVATE_FILE_MODE, dir_fd=bot_fd)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        if owner is not None:
            os.fchown(fd, *owner)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(name, dir_fd=bot_fd)
        raise
    os.close(fd)
    return name


def _remove_source(workspace_fd: int, source_fd: int) -> str | None:
    """Unlink the workspace's `.env` if it is still the file read; what is
    left over otherwise (None: nothing)."""
    read = os.fstat(source_fd)
    try:
        now = os.stat(ENV_FILE_NAME, dir_fd=workspace_fd, follow_symlinks=False)
    except FileNotFoundError:
        now = None
    if now is None or (now.st_dev, now.st_ino) != (read.st_dev, read.st_ino):
        return "the workspace's .env was replaced while it was moved: check the workspace"
    os.unlink(ENV_FILE_NAME, dir_fd=workspace_fd)
    os.fsync(workspace_fd)
    if os.fstat(source_fd).st_nlink:
        return "the old file still has another name somewhere: find it and remove it"
    return None


def move_env_out_of_workspace(workspace: Path, bot_dir: Path, *, as_root: bool) -> EnvMove:
    """Move `<workspace>/.env` to `<bot_dir>/.env` (see the module docstring)."""
    source, target = workspace / ENV_FILE_NAME, bot_dir / ENV_FILE_NAME
    if is_within(bot_dir, workspace):
        raise EnvMoveRefused(
            f"the bot directory {bot_dir} is inside the workspace {workspace}: moving .env "
            "there does not take it out; set agents.defaults.workspace to ./workspace"
        )
    workspace_fd = os.open(workspace, _DIR_FLAGS)
    try:
        bot_fd = os.open(bot_dir, _DIR_FLAGS | os.O_NOFOLLOW)
        try:
            if os.path.lexists(target):
                raise EnvMoveRefused(
                    f"{target} exists: a secret file is never overwritten; compare the two "
                    f"by hand and delete {source}"
                )
            source_fd = _open_source(workspace_fd, source)
            try:
                try:
                    data = read_fd(source_fd, limit=MAX_ENV_BYTES)
                except FileRefused as exc:
                    raise EnvMoveRefused(f"{source} {exc}") from None
                bot_info = os.fstat(bot_fd)
                owner = (bot_info.st_uid, bot_info.st_gid) if as_root else None
                temp = _write_new(bot_fd, data, owner)
                try:
                    os.link(temp, ENV_FILE_NAME, src_dir_fd=bot_fd, dst_dir_fd=bot_fd)
                except FileExistsError:
                    raise EnvMoveRefused(
                        f"{target} appeared meanwhile: a secret file is never overwritten"
                    ) from None
                finally:
                    os.unlink(temp, dir_fd=bot_fd)
                    os.fsync(bot_fd)
                leftover = _remove_source(workspace_fd, source_fd)
            finally:
                os.close(source_fd)
        finally:
            os.close(bot_fd)
    finally:
        os.close(workspace_fd)
    return EnvMove(source=source, target=target, leftover=leftover)
