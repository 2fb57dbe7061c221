"""Bot API requests and answers: routes, arguments, the JSON envelope.

`parse_route(target)` splits `/bot<token>/<method>` and
`/file/bot<token>/<file_path>`. `read_arguments(request)` decodes the
arguments the way the real server accepts them: the URL query, then a JSON,
urlencoded or multipart/form-data body (later sources win); multipart parts
with a filename are files. `Arguments` reads them typed, raising `ApiError`
(400) for a value of the wrong type. `ApiError` is any error answer;
`ok_response` and `ApiError.response` build the envelope
{"ok": true, "result": ...} or {"ok": false, "error_code", "description",
"parameters"?}.

The real server reads a malformed number as 0 and then clamps it; the fake
refuses it (400 naming the parameter) so a client bug shows up in tests.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from email.parser import BytesHeaderParser
from typing import Any

import attrs

from autobot.testing.http_server import HttpRequest, HttpResponse

API_ROUTE = re.compile(r"/bot(?P<token>[^/]*)/(?P<method>[^/]*)")
FILE_ROUTE = re.compile(r"/file/bot(?P<token>[^/]*)/(?P<path>.+)")
INTEGER = re.compile(r"-?[0-9]{1,19}")
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", ""})


class ApiError(Exception):
    """An error answer: HTTP `status` (= error_code), the Bot API `description`,
    and `retry_after` seconds for 429."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def response(self) -> HttpResponse:
        """The error envelope the real API sends."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return HttpResponse.json(self.status, body)


def ok_response(result: object, description: str | None = None) -> HttpResponse:
    """{"ok": true, "result": result} (with a description, as setWebhook has)."""
    body: dict[str, Any] = {"ok": True, "result": result}
    if description is not None:
        body["description"] = description
    return HttpResponse.json(200, body)


@attrs.frozen(kw_only=True)
class ApiRoute:
    """`/bot<token>/<method>`: the method name as the client spelled it."""

    token: str
    method: str


@attrs.frozen(kw_only=True)
class FileRoute:
    """`/file/bot<token>/<file_path>` with the path percent-decoded."""

    token: str
    file_path: str


def parse_route(target: str) -> ApiRoute | FileRoute | None:
    """Where a request target points; None for anything else (a 404)."""
    path = urllib.parse.urlsplit(target).path
    api = API_ROUTE.fullmatch(path)
    if api is not None:
        return ApiRoute(token=urllib.parse.unquote(api["token"]), method=api["method"])
    file = FILE_ROUTE.fullmatch(path)
    if file is not None:
        return FileRoute(
            token=urllib.parse.unquote(file["token"]),
            file_path=urllib.parse.unquote(file["path"]),
        )
    return None


@attrs.frozen(kw_only=True)
class UploadedFile:
    """A multipart part that carried a filename."""

    field: str
    file_name: str
    content_type: str
    content: bytes


@attrs.frozen(kw_only=True)
class Arguments:
    """A request's arguments: JSON values (from a JSON body) or strings, and files."""

    values: Mapping[str, object]
    files: Mapping[str, UploadedFile] = attrs.field(factory=dict)

    def has(self, name: str) -> bool:
        return name in self.values or name in self.files

    def string(self, name: str) -> str | None:
        """A text argument; a JSON number is read as its decimal text."""
        value = self.values.get(name)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ApiError(400, f'Bad Request: parameter "{name}" must be a String')

    def integer(self, name: str) -> int | None:
        """An integer argument (a JSON integer or its decimal text)."""
        value = self.values.get(name)
        if value is None or (isinstance(value, str) and value == ""):
            return None
        if type(value) is int:
            return value
        if isinstance(value, str) and INTEGER.fullmatch(value.strip()):
            return int(value)
        raise ApiError(400, f'Bad Request: parameter "{name}" must be an Integer')

    def flag(self, name: str) -> bool:
        """A boolean argument: JSON true/false or true/false/1/0 text; absent is False."""
        value = self.values.get(name)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        raise ApiError(400, f'Bad Request: parameter "{name}" must be a Boolean')

    def structured(self, name: str) -> object:
        """An array or object argument: a JSON value, or JSON text (as form
        fields carry it). None when absent."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None


def read_arguments(request: HttpRequest) -> Arguments:
    """The arguments of `request`; raises `ApiError` (400) for a body it cannot
    read or text that is not UTF-8."""
    values = _form(urllib.parse.urlsplit(request.path).query)
    files: dict[str, UploadedFile] = {}
    if request.body:
        body_values, files = _body_arguments(request.headers.get("content-type", ""), request.body)
        values.update(body_values)
    return Arguments(values=values, files=files)


def _body_arguments(
    content_type: str, body: bytes
) -> tuple[dict[str, object], dict[str, UploadedFile]]:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        return _json_object(body), {}
    if media_type == "application/x-www-form-urlencoded":
        return dict(_form(_utf8(body))), {}
    if media_type != "multipart/form-data":
        raise ApiError(400, f"Bad Request: unsupported Content-Type {media_type!r}")
    values: dict[str, object] = {}
    files: dict[str, UploadedFile] = {}
    for field, value in _multipart(content_type, body):
        if isinstance(value, UploadedFile):
            files[field] = value
        else:
            values[field] = value
    return values, files


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "Bad Request: strings must be encoded in UTF-8") from None


def _form(encoded: str) -> dict[str, object]:
    """Fields of urlencoded text (a query string or a form body)."""
    try:
        return dict(urllib.parse.parse_qsl(encoded, keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError:
        raise ApiError(400, "Bad Request: strings must be encoded in UTF-8") from None


def _json_object(body: bytes) -> dict[str, object]:
    try:
        value = json.loads(body)
    except ValueError:
        raise ApiError(400, "Bad Request: can't parse JSON object") from None
    if not isinstance(value, dict):
        raise ApiError(400, "Bad Request: can't parse JSON object: expected an Object")
    return value


def _multipart(content_type: str, body: bytes) -> list[tuple[str, str | UploadedFile]]:
    """The fields of a multipart/form-data body, in order."""
    header = BytesHeaderParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode())
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ApiError(400, "Bad Request: can't parse form data: no boundary")
    delimiter = b"--" + boundary.encode()
    sections = body.split(b"\r\n" + delimiter)
    if not sections[0].startswith(delimiter) or not sections[-1].startswith(b"--"):
        raise ApiError(400, "Bad Request: can't parse form data: bad boundaries")
    sections[0] = sections[0][len(delimiter) :]
    fields: list[tuple[str, str | UploadedFile]] = []
    for section in sections[:-1]:
        head, separator, content = section.partition(b"\r\n\r\n")
        if not separator or not head.startswith(b"\r\n"):
            raise ApiError(400, "Bad Request: can't parse form data headers")
        part = BytesHeaderParser().parsebytes(head[2:] + b"\r\n\r\n")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "Bad Request: can't parse form data headers: no field name")
        file_name = part.get_filename()
        if file_name is None:
            fields.append((name, _utf8(content)))
        else:
            content_type = part.get_content_type() if "content-type" in part else ""
            fields.append(
                (
                    name,
                    UploadedFile(
                        field=name, file_name=file_name, content_type=content_type, content=content
                    ),
                )
            )
    return fields
