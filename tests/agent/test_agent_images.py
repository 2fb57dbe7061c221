"""Chat photos shown to the model: which models see them, and a session turn
that re-reads them from the workspace, never journals their bytes, and tells
the model when one cannot be shown (gone, replaced, linked away), also while
the model swaps the file in a real race."""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from router_harness import Harness, running_router

from autobot.agent.images import SkippedPhoto, TurnImages, accepts_images, load_turn_images
from autobot.channels.base import Attachment, AttachmentKind, InboundMessage
from autobot.config.schema import AgentDefaults, VisionMode
from autobot.llm.types import MAX_IMAGE_BYTES, ImagePart, Role
from autobot.logs.records import Level
from autobot.testing.fake_tools import FakeTool
from autobot.testing.logs import drain
from autobot.testing.scripted_llm import ScriptedProvider, text_reply, tool_reply

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF the workspace photo"
OUTSIDE_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF a private picture outside the workspace"
PNG = b"\x89PNG\r\n\x1a\n a second photo"
PHOTO = Attachment(kind=AttachmentKind.PHOTO, path="inbox/telegram-42-7-photo.jpg", size=len(JPEG))
ON = AgentDefaults(idle_timeout_seconds=60.0, vision=VisionMode.ON)
RACE_READS = 400
RACE_READS_MAX = 50_000


@pytest.mark.parametrize(
    ("model", "mode", "accepted"),
    [
        ("claude-sonnet-4-5", VisionMode.AUTO, True),
        ("claude-3-5-haiku-latest", VisionMode.AUTO, True),
        ("anthropic/claude-opus-4-1", VisionMode.AUTO, True),  # openrouter's bare name
        ("Claude-Haiku-4-5", VisionMode.AUTO, True),
        ("claude-2.1", VisionMode.AUTO, False),
        ("claude-instant-1.2", VisionMode.AUTO, False),
        ("gpt-4o", VisionMode.AUTO, True),
        ("gpt-4o-mini", VisionMode.AUTO, True),
        ("chatgpt-4o-latest", VisionMode.AUTO, True),
        ("gpt-4.1-nano", VisionMode.AUTO, True),
        ("gpt-5", VisionMode.AUTO, True),
        ("openai/gpt-5-mini", VisionMode.AUTO, True),
        ("gpt-3.5-turbo", VisionMode.AUTO, False),
        ("gpt-4", VisionMode.AUTO, False),
        ("deepseek-chat", VisionMode.AUTO, False),
        ("llama-3.3-70b-versatile", VisionMode.AUTO, False),
        ("my-claude-finetune", VisionMode.AUTO, False),
        ("deepseek-chat", VisionMode.ON, True),
        ("claude-sonnet-4-5", VisionMode.OFF, False),
    ],
)
def test_which_models_see_images(model: str, mode: VisionMode, accepted: bool) -> None:
    assert accepts_images(model, mode) is accepted


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "inbox").mkdir(parents=True)
    (root / PHOTO.path).write_bytes(JPEG)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "private.jpg").write_bytes(OUTSIDE_JPEG)
    return root


def photo_message(*attachments: Attachment, text: str = "what is this?") -> InboundMessage:
    return InboundMessage(
        channel="telegram",
        chat_id="42",
        content=text,
        attachments=attachments or (PHOTO,),
    )


async def turn(h: Harness, message: InboundMessage) -> str:
    await h.send.send(message)
    _, reply, _ = await h.reply()
    return reply


def journal_text(tmp_path: Path) -> str:
    return "".join(path.read_text() for path in (tmp_path / "sessions").glob("*.jsonl"))


async def test_a_photo_is_shown_for_its_turn_and_only_its_note_is_journaled(
    tmp_path: Path, workspace: Path, autojump_clock: Any
) -> None:
    provider = ScriptedProvider.from_script([text_reply("a cat"), text_reply("you're welcome")])
    async with running_router(tmp_path, provider=provider, defaults=ON) as h:
        assert await turn(h, photo_message()) == "a cat"
        assert await turn(
            h, InboundMessage(channel="telegram", chat_id="42", content="thanks")
        ) == ("you're welcome")
    first, second = provider.requests
    user = first.messages[-1]
    assert user.role is Role.USER
    assert user.content == (
        "[photo received, saved in the workspace at inbox/telegram-42-7-photo.jpg]\nwhat is this?"
    )
    assert user.images == (ImagePart(media_type="image/jpeg", data=JPEG),)
    # the next turn sends the note again, never the image
    assert second.messages[0].content == user.content
    assert all(not message.images for message in second.messages)
    journal = journal_text(tmp_path)
    assert "inbox/telegram-42-7-photo.jpg" in journal
    assert base64.b64encode(JPEG).decode() not in journal
    assert "JFIF" not in journal
    assert '"images"' not in journal


async def test_every_call_of_the_turn_shows_the_photo(
    tmp_path: Path, workspace: Path, autojump_clock: Any
) -> None:
    look = FakeTool(name="look")
    provider = ScriptedProvider.from_script([tool_reply(("look", {})), text_reply("done")])
    async with running_router(tmp_path, provider=provider, tools=[look], defaults=ON) as h:
        assert await turn(h, photo_message()) == "done"
    assert [len(request.messages[0].images) for request in provider.requests] == [1, 1]


async def test_a_model_without_vision_gets_only_the_note(
    tmp_path: Path, workspace: Path, autojump_clock: Any
) -> None:
    provider = ScriptedProvider.from_script([text_reply("ok")])
    # the harness's model is "m": not a model auto knows to accept images
    auto = AgentDefaults(idle_timeout_seconds=60.0)
    async with running_router(tmp_path, provider=provider, defaults=auto) as h:
        await turn(h, photo_message())
    [request] = provider.requests
    assert request.messages[-1].images == ()
    assert request.messages[-1].content.startswith("[photo received, saved in the workspace at")


def replace_with_text(workspace: Path) -> None:
    (workspace / PHOTO.path).write_bytes(b"#!/bin/sh\necho not a picture\n")


def remove(workspace: Path) -> None:
    (workspace / PHOTO.path).unlink()


def link_outside(workspace: Path) -> None:
    (workspace / PHOTO.path).unlink()
    (workspace / PHOTO.path).symlink_to(workspace.parent / "outside" / "private.jpg")


def link_inbox_outside(workspace: Path) -> None:
    os.rename(workspace / "inbox", workspace / "old-inbox")
    (workspace / "inbox").symlink_to(workspace.parent / "outside")
    os.rename(workspace.parent / "outside" / "private.jpg", workspace / PHOTO.path)


def make_fifo(workspace: Path) -> None:
    (workspace / PHOTO.path).unlink()
    os.mkfifo(workspace / PHOTO.path)


def grow(workspace: Path) -> None:
    (workspace / PHOTO.path).write_bytes(JPEG + b"\0" * MAX_IMAGE_BYTES)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (remove, "the file is gone"),
        (replace_with_text, "it is no longer a JPEG, PNG, GIF or WebP image"),
        (link_outside, "it, or a directory on its way, is now a symlink"),
        (link_inbox_outside, "it, or a directory on its way, is now a symlink"),
        (make_fifo, "it is no longer a regular file"),
        (grow, "it is larger than 5 MB"),
    ],
)
async def test_a_photo_that_changed_is_skipped_with_a_note(
    tmp_path: Path, workspace: Path, autojump_clock: Any, tamper: Any, reason: str
) -> None:
    tamper(workspace)
    provider = ScriptedProvider.from_script([text_reply("ok")])
    async with running_router(tmp_path, provider=provider, defaults=ON) as h:
        await turn(h, photo_message())
        warnings = [r for r in drain(h.records) if r.level is Level.WARN]
    [request] = provider.requests
    user = request.messages[-1]
    assert user.images == ()
    assert user.content == (
        f"[the photo at {PHOTO.path} could not be shown to you: {reason}]\n"
        f"[photo received, saved in the workspace at {PHOTO.path}]\nwhat is this?"
    )
    [warning] = [w for w in warnings if w.message == "Photo not shown to the model"]
    assert dict(warning.fields) == {"path": PHOTO.path, "reason": reason}
    assert "JFIF" not in journal_text(tmp_path)


async def test_the_photos_that_can_be_shown_still_are(
    tmp_path: Path, workspace: Path, autojump_clock: Any
) -> None:
    second = Attachment(kind=AttachmentKind.PHOTO, path="inbox/second.png")
    gone = Attachment(kind=AttachmentKind.PHOTO, path="inbox/gone.jpg")
    document = Attachment(kind=AttachmentKind.DOCUMENT, path="inbox/scan.png")
    (workspace / second.path).write_bytes(PNG)
    (workspace / document.path).write_bytes(PNG)
    provider = ScriptedProvider.from_script([text_reply("ok")])
    async with running_router(tmp_path, provider=provider, defaults=ON) as h:
        await turn(h, photo_message(PHOTO, gone, second, document))
    [request] = provider.requests
    # a document is named to the model, not shown, even when it is an image
    assert request.messages[-1].images == (
        ImagePart(media_type="image/jpeg", data=JPEG),
        ImagePart(media_type="image/png", data=PNG),
    )
    assert request.messages[-1].content.startswith(
        "[the photo at inbox/gone.jpg could not be shown to you: the file is gone]\n"
    )


@pytest.mark.parametrize(
    ("transcript", "note"),
    [
        ("buy milk, and call mum", "[voice note, transcribed]: buy milk, and call mum"),
        (
            None,
            "[voice note received, saved in the workspace at inbox/v.ogg; "
            "it could not be transcribed]",
        ),
    ],
)
async def test_a_voice_note_reaches_the_model_as_text(
    tmp_path: Path, autojump_clock: Any, transcript: str | None, note: str
) -> None:
    voice = Attachment(kind=AttachmentKind.VOICE, path="inbox/v.ogg", transcript=transcript)
    provider = ScriptedProvider.from_script([text_reply("ok")])
    async with running_router(tmp_path, provider=provider, defaults=ON) as h:
        await turn(h, photo_message(voice, text=""))
    [request] = provider.requests
    assert request.messages[-1].content == note + "\n"
    assert request.messages[-1].images == ()


def test_an_unusable_workspace_skips_every_photo(tmp_path: Path) -> None:
    assert load_turn_images(tmp_path / "missing", [PHOTO]) == TurnImages(
        skipped=(SkippedPhoto(path=PHOTO.path, reason="the workspace cannot be opened"),)
    )


@pytest.mark.parametrize("swap", ["file", "directory"])
def test_a_photo_swapped_for_a_link_in_a_race_never_shows_what_is_outside(
    workspace: Path, swap: str
) -> None:
    """A real thread swaps the photo (or its directory) with a symlink to a
    picture outside the workspace as fast as it can while the turn reads it:
    every read shows the workspace photo or skips it, never the outside one."""
    outside = workspace.parent / "outside"
    if swap == "file":
        target = workspace / PHOTO.path
        (workspace / "inbox" / "link").symlink_to(outside / "private.jpg")
        (workspace / "inbox" / "real").write_bytes(JPEG)
        swap_pair = (workspace / "inbox" / "link", workspace / "inbox" / "real")
    else:
        (outside / "telegram-42-7-photo.jpg").write_bytes(OUTSIDE_JPEG)
        target = workspace / "inbox"
        (workspace / "inbox-link").symlink_to(outside)
        (workspace / "inbox-real").mkdir()
        (workspace / "inbox-real" / "telegram-42-7-photo.jpg").write_bytes(JPEG)
        swap_pair = (workspace / "inbox-link", workspace / "inbox-real")
    stop = threading.Event()

    def swapper() -> None:
        # rename(2) replaces the name atomically: the reader sees one or the other
        holding = target.with_name(target.name + ".held")
        while not stop.is_set():
            for replacement in swap_pair:
                os.rename(target, holding)
                os.rename(replacement, target)
                os.rename(holding, replacement)

    thread = threading.Thread(target=swapper)
    thread.start()
    shown = 0
    reasons: set[str] = set()
    try:
        # at least RACE_READS reads, and on until both sides of the race were hit
        for attempt in range(RACE_READS_MAX):
            result = load_turn_images(workspace, [PHOTO])
            for image in result.images:
                assert image.data == JPEG
                shown += 1
            reasons.update(skipped.reason for skipped in result.skipped)
            linked = any("symlink" in reason for reason in reasons)
            if attempt >= RACE_READS and shown and linked:
                break
    finally:
        stop.set()
        thread.join()
    assert shown > 0
    assert any("symlink" in reason for reason in reasons), reasons
