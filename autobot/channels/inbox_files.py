"""Files a chat network delivered, stored in `workspace/inbox/` (shared by the channels).

`store_in_inbox(workspace_root, name_for, data)` creates `inbox/<name>` with
the first free name of `name_for(1)`, `name_for(2)`, ... (at most
`MAX_NAMES`), exclusively: a name already taken (the model may have made it,
or a symlink there) is skipped and what was there is never touched.
`inbox/` is created 0700 and files 0600, all through `Workspace` (check and
use in one step: a symlinked `inbox/` is refused). Channels build the names
from ids and an extension from the allowlist below, never from what a sender
chose (`extension_from`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from autobot.platform.workspace_fs import Refusal, Workspace, WorkspacePathError

INBOX_DIR = "inbox"
MAX_NAMES = 100  # numbered names tried before giving up on a flooded inbox
EXTENSIONS_BY_MIME = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/csv": "csv",
    "application/json": "json",
    "application/zip": "zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "video/mp4": "mp4",
}
EXTENSIONS = frozenset(EXTENSIONS_BY_MIME.values()) | {"jpeg", "oga", "opus", "log", "yaml", "yml"}

_MIME = re.compile(r"[a-z0-9][a-z0-9.+-]{0,63}/[a-z0-9][a-z0-9.+-]{0,127}")


def clean_mime(mime_type: str | None) -> str | None:
    """`mime_type` lower-cased, if it has the form `type/subtype`; else None."""
    mime = (mime_type or "").strip().lower()
    return mime if _MIME.fullmatch(mime) else None


def extension_from(file_name: str | None, mime_type: str | None) -> str | None:
    """An allowlisted extension: the file name's own, else its MIME type's; None if neither."""
    suffix = PurePosixPath(file_name or "").suffix.lower().removeprefix(".")
    if suffix in EXTENSIONS:
        return suffix
    return EXTENSIONS_BY_MIME.get(clean_mime(mime_type) or "")


def store_in_inbox(workspace_root: Path, name_for: Callable[[int], str], data: bytes) -> str:
    """Store `data` as a new file `inbox/<name_for(n)>` (blocking); its path
    relative to the workspace. Raises `WorkspacePathError` when `inbox/` is
    refused (a symlink, not a directory...) or every name is taken."""
    with Workspace.open(workspace_root) as workspace:
        for number in range(1, MAX_NAMES + 1):
            relative = f"{INBOX_DIR}/{name_for(number)}"
            try:
                workspace.create_bytes(relative, data, make_dirs=True)
            except WorkspacePathError as exc:
                if exc.refusal is not Refusal.EXISTS:
                    raise
                continue
            return relative
    first = f"{INBOX_DIR}/{name_for(1)}"
    raise WorkspacePathError(
        first, Refusal.EXISTS, f"already exists, as do {MAX_NAMES - 1} numbered names"
    )
