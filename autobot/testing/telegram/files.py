"""Files the fake serves: by file_id through getFile, then by file_path.

As on the real API, a file is downloadable only through a link getFile
issued (`{base}/file/bot<token>/<file_path>`), for `LINK_SECONDS` after
issuing it, and getFile refuses files above `MAX_DOWNLOAD_BYTES` (20 MB)
with "Bad Request: file is too big".
"""

from __future__ import annotations

from typing import Any

import attrs

from autobot.testing.telegram.request import ApiError

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
LINK_SECONDS = 3600.0  # the API promises at least one hour


@attrs.frozen(kw_only=True)
class StoredFile:
    """A file's identifiers and bytes."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes = attrs.field(repr=lambda content: f"<{len(content)} bytes>")

    @property
    def size(self) -> int:
        return len(self.content)

    def ids(self) -> dict[str, Any]:
        """The fields every file object (PhotoSize, Document, Voice) starts with."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }


@attrs.define
class FileStore:
    """Stored files by id and by path, and when each path's link was issued."""

    by_id: dict[str, StoredFile] = attrs.field(factory=dict)
    by_path: dict[str, StoredFile] = attrs.field(factory=dict)
    issued: dict[str, float] = attrs.field(factory=dict)

    def add(self, content: bytes, *, folder: str, extension: str) -> StoredFile:
        """Store `content` as a new file under `folder` (photos, documents, voice...)."""
        number = len(self.by_id) + 1
        stored = StoredFile(
            file_id=f"BQACAgQAAxkBAAI{number:06d}fake",
            file_unique_id=f"AgAD{number:04d}",
            file_path=f"{folder}/file_{number}{extension}",
            content=content,
        )
        self.by_id[stored.file_id] = stored
        self.by_path[stored.file_path] = stored
        return stored

    def issue(self, file_id: str | None, now: float) -> StoredFile:
        """getFile: the file, its download link valid from `now`; raises
        `ApiError` 400 for an unknown id or a file too big to download."""
        if not file_id:
            raise ApiError(400, "Bad Request: file_id is empty")
        stored = self.by_id.get(file_id)
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.size > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        self.issued[stored.file_path] = now
        return stored

    def download(self, file_path: str, now: float) -> bytes | None:
        """The bytes behind a link getFile issued and that has not expired, else None."""
        issued = self.issued.get(file_path)
        if issued is None or now - issued > LINK_SECONDS:
            return None
        return self.by_path[file_path].content
