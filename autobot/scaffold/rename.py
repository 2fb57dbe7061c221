"""Move a finished directory into place without ever replacing an existing one.

`os.rename` silently replaces an *empty* directory on Linux, so a target that
appeared after our existence check would be clobbered. `renameat2` with
`RENAME_NOREPLACE` makes the check and the move one atomic step; where the
kernel, libc or filesystem lacks it we fall back to check-then-rename.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP}


def rename_noreplace(source: Path, target: Path) -> None:
    """Rename `source` to `target`; `FileExistsError` if `target` exists (even a
    dangling symlink or an empty directory). Other failures raise `OSError`."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        result = renameat2(
            _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
        )
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in _UNSUPPORTED:
            raise OSError(code, os.strerror(code), str(target))
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    os.rename(source, target)
