"""The workspace files a reply attaches, as every channel reads them (blocking
reads; the words are pure).

`read_outbound` reads one through `Workspace.read_bytes`: check and use in
one step (no dotenv name, no symlink anywhere on the way, only a regular
file, nothing outside the workspace, at most the channel's limit), or
refuses with a `WorkspacePathError` and its `Refusal`. `refusal_words`
turns the refusals a user can act on into one short clause (to follow
"I could not send the file <path>: "); the words name no host path. The
size limit differs per channel, so the TOO_LARGE words are a function of
the limit the channel read with.
"""

from __future__ import annotations

from pathlib import Path

from autobot.platform.workspace_fs import Refusal, Workspace

MIB = 1024 * 1024


def read_outbound(workspace_root: Path, relpath: str, max_bytes: int) -> bytes:
    """The content of the workspace file `relpath` (blocking). Raises
    `WorkspacePathError` (see the module docstring)."""
    with Workspace.open(workspace_root) as workspace:
        return workspace.read_bytes(relpath, max_bytes=max_bytes)


_WORDS = {
    Refusal.MISSING: "the file is gone",
    Refusal.SYMLINK: "it, or a directory on its way, is a symlink",
    Refusal.NOT_REGULAR: "it is not a regular file",
    Refusal.DOTENV: "it is a dotenv file",
}


def size_words(max_bytes: int) -> str:
    """`max_bytes` for people: whole MiB as "N MB" (as the channels have
    always said it), any other size in bytes."""
    if max_bytes >= MIB and max_bytes % MIB == 0:
        return f"{max_bytes // MIB} MB"
    return f"{max_bytes} bytes"


def refusal_words(refusal: Refusal, *, max_bytes: int) -> str | None:
    """The clause saying why a file was not sent after `refusal`, for a read
    limited to `max_bytes`; None for the refusals without words of their own
    (the caller says what fits its channel)."""
    if refusal is Refusal.TOO_LARGE:
        return f"it is larger than {size_words(max_bytes)}"
    return _WORDS.get(refusal)
