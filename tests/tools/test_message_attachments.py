"""The message tool's attachments: workspace files named as themselves, checked
on the host; escapes (`../.env`, `/etc/passwd`, symlinks) are ACCESS DENIED
and nothing is sent unless every file passes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from autobot.channels.base import Attachment, AttachmentKind, OutboundMessage
from autobot.logs.records import Level
from autobot.sandbox.mapping import PathRefused, workspace_file_relpath
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext
from autobot.tools.message import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, MessageTool

PNG = b"\x89PNG\r\n\x1a\n chart"
PDF = b"%PDF-1.7 report"
SECRET = "ANTHROPIC_API_KEY=sk-ant-outside"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "bot" / "workspace"
    (root / "out").mkdir(parents=True)
    (root / "out" / "chart.png").write_bytes(PNG)
    (root / "report.pdf").write_bytes(PDF)
    (tmp_path / "bot" / ".env").write_text(SECRET)
    return root


def context(workspace: Path) -> tuple[ToolContext, trio.MemoryReceiveChannel]:  # type: ignore[type-arg]
    logger, records = capture_logger()
    ctx = ToolContext(
        session_key="telegram:42",
        channel="telegram",
        chat_id="42",
        workspace=workspace,
        logger=logger,
    )
    return ctx, records


async def test_files_travel_with_the_message(workspace: Path) -> None:
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    ctx, records = context(workspace)
    args = {"content": "here you go", "attachments": ["out/chart.png", "/workspace/report.pdf"]}
    result = await MessageTool(outbound=send).run(args, ctx)
    assert (result.is_error, result.text) == (
        False,
        "Message sent to telegram:42 with out/chart.png, report.pdf.",
    )
    assert receive.receive_nowait() == OutboundMessage(
        channel="telegram",
        chat_id="42",
        content="here you go",
        attachments=(
            Attachment(
                kind=AttachmentKind.PHOTO,
                path="out/chart.png",
                mime_type="image/png",
                size=len(PNG),
            ),
            Attachment(kind=AttachmentKind.DOCUMENT, path="report.pdf", size=len(PDF)),
        ),
    )
    assert drain(records) == []


async def test_a_host_path_inside_the_workspace_is_accepted(workspace: Path) -> None:
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    ctx, _ = context(workspace)
    args = {"content": "x", "attachments": [str(workspace / "out" / ".." / "report.pdf")]}
    assert not (await MessageTool(outbound=send).run(args, ctx)).is_error
    assert [a.path for a in receive.receive_nowait().attachments] == ["report.pdf"]


def make_escapes(workspace: Path) -> None:
    outside = workspace.parent
    (workspace / "link.png").symlink_to(workspace / "out" / "chart.png")  # stays inside
    (workspace / "away.png").symlink_to(outside / ".env")
    (workspace / "dir-link").symlink_to(workspace / "out")
    (workspace / "outside-dir").symlink_to(outside)
    (workspace / ".env").write_text(SECRET)
    (workspace / "config").mkdir()
    (workspace / "config" / "prod.env").write_text(SECRET)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../.env", "access to dotenv file '../.env' is blocked"),
        (".env", "access to dotenv file '.env' is blocked"),
        ("/workspace/config/prod.env", "access to dotenv file '/workspace/config/prod.env' is blocked"),
        ("/etc/passwd", "path '/etc/passwd' is outside the workspace"),
        ("../../etc/passwd", "path '../../etc/passwd' is outside the workspace"),
        ("/workspace/../etc/passwd", "path '/workspace/../etc/passwd' is outside the workspace"),
        ("link.png", "path 'link.png' is a symlink or passes through one; name the file itself"),
        ("dir-link/chart.png", "path 'dir-link/chart.png' is a symlink or passes through one; name the file itself"),
        ("away.png", "path 'away.png' is outside the workspace"),
        ("outside-dir/.env", "access to dotenv file 'outside-dir/.env' is blocked"),
        ("outside-dir/workspace/report.pdf", "path 'outside-dir/workspace/report.pdf' is a symlink or passes through one; name the file itself"),
        (".", "path '.' is the workspace itself, not a file"),
        ("/workspace", "path '/workspace' is the workspace itself, not a file"),
        ("out/chart.png\x00.txt", "path contains a NUL byte"),
    ],
)  # fmt: skip
async def test_escapes_are_access_denied_and_nothing_is_sent(
    workspace: Path, path: str, reason: str
) -> None:
    make_escapes(workspace)
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    ctx, records = context(workspace)
    args = {"content": "x", "attachments": ["out/chart.png", path]}
    result = await MessageTool(outbound=send).run(args, ctx)
    assert (result.is_error, result.text) == (True, f"Not sent: {reason}")
    [record] = drain(records)
    assert (record.level, record.message) == (Level.WARN, f"ACCESS DENIED: Not sent: {reason}")
    assert receive.statistics().current_buffer_used == 0
    assert SECRET not in result.text


@pytest.mark.parametrize(
    ("make", "path", "reason"),
    [
        (lambda w: None, "missing.png", "missing.png does not exist"),
        (lambda w: (w / "empty.txt").write_bytes(b""), "empty.txt", "empty.txt is 0 bytes; an attachment holds 1 to 52428800 bytes"),
        (lambda w: os.truncate(w / "report.pdf", MAX_ATTACHMENT_BYTES + 1), "report.pdf", "report.pdf is 52428801 bytes; an attachment holds 1 to 52428800 bytes"),
        (lambda w: os.mkfifo(w / "pipe"), "pipe", "pipe is not a regular file"),
        (lambda w: None, "out", "out is not a regular file"),
        (lambda w: None, "report.pdf/x", "workspace path 'report.pdf/x': a component is not a directory"),
    ],
)  # fmt: skip
async def test_files_that_cannot_be_sent_are_plain_errors(
    workspace: Path, make: object, path: str, reason: str
) -> None:
    make(workspace)  # type: ignore[operator]
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    ctx, records = context(workspace)
    result = await MessageTool(outbound=send).run({"content": "x", "attachments": [path]}, ctx)
    assert (result.is_error, result.text) == (True, f"Not sent: {reason}")
    assert drain(records) == []  # a missing file is no security event
    assert receive.statistics().current_buffer_used == 0


async def test_too_many_attachments_are_refused(workspace: Path) -> None:
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    ctx, _ = context(workspace)
    args = {"content": "x", "attachments": ["report.pdf"] * (MAX_ATTACHMENTS + 1)}
    result = await MessageTool(outbound=send).run(args, ctx)
    assert result.text == f"Not sent: 11 attachments; at most {MAX_ATTACHMENTS} per message."
    assert receive.statistics().current_buffer_used == 0


async def test_no_attachments_never_touches_the_workspace(tmp_path: Path) -> None:
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    ctx, _ = context(tmp_path / "does-not-exist")
    result = await MessageTool(outbound=send).run({"content": "x", "attachments": []}, ctx)
    assert result.text == "Message sent to telegram:42."
    assert receive.receive_nowait().attachments == ()


@pytest.mark.parametrize(
    ("path", "relative"),
    [
        ("out/chart.png", "out/chart.png"),
        ("./out//chart.png", "out/chart.png"),
        ("out/../report.pdf", "report.pdf"),
        ("/workspace/out/chart.png", "out/chart.png"),
    ],
)
def test_a_file_named_as_itself_maps_to_its_relative_path(
    workspace: Path, path: str, relative: str
) -> None:
    assert workspace_file_relpath(workspace, path) == relative


def test_a_link_in_the_operators_own_path_to_the_workspace_is_fine(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "out").mkdir(parents=True)
    (real / "out" / "a.png").write_bytes(PNG)
    (tmp_path / "alias").symlink_to(real)
    workspace = tmp_path / "alias"
    assert workspace_file_relpath(workspace, str(workspace / "out" / "a.png")) == "out/a.png"
    assert workspace_file_relpath(workspace, str(real / "out" / "a.png")) == "out/a.png"
    with pytest.raises(PathRefused, match="outside the workspace"):
        workspace_file_relpath(workspace, str(tmp_path / "other" / "a.png"))
