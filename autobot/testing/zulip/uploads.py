"""The fake's `POST /api/v1/user_uploads`, with the real server's rules (pure).

Zulip (`zerver/views/upload.py`) takes a multipart/form-data body holding
exactly one file ("You must specify a file to upload", "You may only upload
one file at a time"), refuses one larger than the realm's limit ("Uploaded
file is larger than the allowed limit of N MiB"), and stores it under
`/user_uploads/<realm id>/<2 hex>/<24 random>/<sanitized name>`, the name
cleaned by `sanitize_name` (`zerver/lib/upload/base.py`). `read_upload`
applies those rules to a request and raises `UploadRefused` with Zulip's
words; `upload_path` is where a file is stored.
"""

from __future__ import annotations

import re
import unicodedata

from autobot.testing.http_server import HttpRequest
from autobot.testing.telegram.request import ApiError, UploadedFile, read_arguments

MIB = 1024 * 1024


class UploadRefused(Exception):
    """A 400 BAD_REQUEST; `str()` is Zulip's message."""


def sanitize_name(name: str) -> str:
    """The file name as Zulip stores it: NFKC, only word characters, spaces,
    dots and dashes, runs of spaces and dashes made one dash."""
    value = unicodedata.normalize("NFKC", name)
    value = re.sub(r"[^\w\s.-]", "", value).strip()
    value = re.sub(r"[-\s]+", "-", value)
    return "uploaded-file" if value in {"", ".", ".."} else value


def upload_path(realm_id: int, number: int, file_name: str) -> str:
    """Where upload `number` named `file_name` is stored (a link path)."""
    return f"/user_uploads/{realm_id}/{number % 256:02x}/u{number:023d}/{sanitize_name(file_name)}"


def read_upload(request: HttpRequest, *, max_mib: int) -> UploadedFile:
    """The one file of an upload request. Raises `UploadRefused` as the
    real server does."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UploadRefused("You must specify a file to upload")
    try:
        files = list(read_arguments(request).files.values())
    except ApiError:
        raise UploadRefused("You must specify a file to upload") from None
    if not files:
        raise UploadRefused("You must specify a file to upload")
    if len(files) != 1:
        raise UploadRefused("You may only upload one file at a time")
    [file] = files
    if len(file.content) > max_mib * MIB:
        raise UploadRefused(f"Uploaded file is larger than the allowed limit of {max_mib} MiB")
    return file
