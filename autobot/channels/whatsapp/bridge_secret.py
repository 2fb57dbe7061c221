"""The bridge's shared secret file: read it safely, or create it once (blocking; run in a thread).

The file (`channels.whatsapp.bridge_secret_file`, relative to the bot
directory; default `state/whatsapp-bridge-secret`) holds 64 lowercase hex
characters (32 random bytes) and a newline. The gateway and the bridge both
read it; it never crosses the socket. It must be a regular file (a symbolic
link is never followed), owned by this user, and neither readable nor
writable by group or others: anything else is refused with the exact fix,
as the bridge refuses it too (exit 2).

`load_bridge_secret(path, create=True)` (managed bridge) generates a missing
file atomically: written 0600 under a temporary name, fsync-ed, then linked
to its name, which fails if another process created it meanwhile (its file
is then used, never overwritten).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from pathlib import Path
from shlex import quote

from autobot.channels.whatsapp.protocol import SECRET_BYTES, SecretFormatError, parse_secret
from autobot.security.regular_file import FileRefused, open_regular, read_fd
from autobot.store.atomic import PRIVATE_FILE_MODE, ensure_private_dir

MAX_SECRET_FILE = 1024


class BridgeSecretError(Exception):
    """The secret file cannot be used; the text says why and how to fix it."""


def _read(path: Path) -> bytes:
    """The key in the existing file `path`, checked on the descriptor that is read."""
    try:
        fd = open_regular(path, follow_symlinks=False)
    except FileRefused as refused:
        raise BridgeSecretError(
            f"the WhatsApp bridge secret file {path} {refused}; refused "
            f"(replace it with a regular file: rm {quote(str(path))} and restart)"
        ) from None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise BridgeSecretError(
                f"the WhatsApp bridge secret file {path} belongs to another user (uid "
                f"{info.st_uid}); refused"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise BridgeSecretError(
                f"the WhatsApp bridge secret file {path} is readable or writable by other "
                f"users (mode {stat.S_IMODE(info.st_mode):04o}); refused. Run: chmod 600 "
                f"{quote(str(path))}, and replace the secret if others may have read it"
            )
        data = read_fd(fd, limit=MAX_SECRET_FILE)
    except FileRefused as refused:
        raise BridgeSecretError(f"the WhatsApp bridge secret file {path} {refused}") from None
    finally:
        os.close(fd)
    try:
        return parse_secret(data)
    except SecretFormatError as exc:
        raise BridgeSecretError(f"the WhatsApp bridge secret file {path} {exc}") from None


def _create(path: Path) -> None:
    """Create `path` with a fresh secret unless it exists (then leave it)."""
    ensure_private_dir(path.parent)
    payload = (secrets.token_bytes(SECRET_BYTES).hex() + "\n").encode("ascii")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):  # created meanwhile: that one wins
            os.link(temp, path)
    finally:
        os.unlink(temp)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load_bridge_secret(path: Path, *, create: bool) -> bytes:
    """The 32-byte key in `path`; with `create`, a missing file is generated
    first (module docstring). Raises BridgeSecretError (missing without
    `create`, unsafe, malformed) or OSError (cannot be written)."""
    if not os.path.lexists(path):
        if not create:
            raise BridgeSecretError(
                f"the WhatsApp bridge secret file {path} does not exist: create it with the "
                f"bridge's secret (64 hex characters): (umask 077; openssl rand -hex 32 > "
                f"{quote(str(path))}), and give the bridge the same file"
            )
        _create(path)
    return _read(path)
