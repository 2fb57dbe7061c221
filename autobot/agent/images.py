"""Photos from a chat shown to the model: which models see images, and one turn's images.

`accepts_images(model, mode)` (pure) applies `agents.defaults.vision`: `on`
and `off` decide alone; `auto` accepts the model families known to take
images: Anthropic `claude-*` (but the text-only `claude-2*` and
`claude-instant*`) and OpenAI `gpt-4o*`, `chatgpt-4o*`, `gpt-4.1*` and
`gpt-5*`. The bare model name is judged by its last `/` segment, so
`openrouter/anthropic/claude-sonnet-4-5` is a Claude model too.

`load_turn_images(workspace_root, photos)` (blocking) re-reads each photo
the moment a turn's request is built, never trusting what it was when it
arrived: the model controls the workspace and may have removed, replaced or
linked the file since. Each is read through `Workspace` (check and use in
one step: no symlink anywhere, no dotenv name, only a regular file, at most
`MAX_IMAGE_BYTES`), and its media type is taken from its bytes (JPEG, PNG,
GIF or WebP), whatever its name says. A photo that cannot be shown is
skipped, with the reason, so the model can be told. Images live only in the
turn's request: the session journal keeps the text note, never the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import attrs

from autobot.channels.base import Attachment
from autobot.config.schema import VisionMode
from autobot.llm.types import MAX_IMAGE_BYTES, ImagePart, image_media_type
from autobot.platform.workspace_fs import Refusal, Workspace, WorkspacePathError

_VISION_MODEL = re.compile(r"claude-(?!2|instant)|gpt-4o|chatgpt-4o|gpt-4\.1|gpt-5")
_REASONS = {
    Refusal.MISSING: "the file is gone",
    Refusal.TOO_LARGE: f"it is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB",
    Refusal.SYMLINK: "it, or a directory on its way, is now a symlink",
    Refusal.NOT_REGULAR: "it is no longer a regular file",
}


def accepts_images(model: str, mode: VisionMode) -> bool:
    """Whether `model` (the bare name the provider gets) is shown images under `mode`."""
    if mode is not VisionMode.AUTO:
        return mode is VisionMode.ON
    return _VISION_MODEL.match(model.rsplit("/", 1)[-1].lower()) is not None


@attrs.frozen(kw_only=True)
class SkippedPhoto:
    """A photo not shown to the model: its workspace path and why, in words for the model."""

    path: str
    reason: str

    @property
    def note(self) -> str:
        return f"[the photo at {self.path} could not be shown to you: {self.reason}]"


@attrs.frozen(kw_only=True)
class TurnImages:
    """What one turn shows the model: `images`, in the photos' order, and the
    photos `skipped`."""

    images: tuple[ImagePart, ...] = ()
    skipped: tuple[SkippedPhoto, ...] = ()


def load_turn_images(workspace_root: Path, photos: Sequence[Attachment]) -> TurnImages:
    """The images of `photos` (workspace paths), read now (blocking; see the
    module docstring). Never raises for a photo: each one that cannot be
    read or is not an image is skipped; a workspace that cannot be opened
    skips them all."""
    images: list[ImagePart] = []
    skipped: list[SkippedPhoto] = []
    try:
        workspace = Workspace.open(workspace_root)
    except WorkspacePathError:
        return TurnImages(
            skipped=tuple(
                SkippedPhoto(path=p.path, reason="the workspace cannot be opened") for p in photos
            )
        )
    with workspace:
        for photo in photos:
            try:
                data = workspace.read_bytes(photo.path, max_bytes=MAX_IMAGE_BYTES)
            except WorkspacePathError as exc:
                reason = _REASONS.get(exc.refusal, exc.detail)
                skipped.append(SkippedPhoto(path=photo.path, reason=reason))
                continue
            media_type = image_media_type(data)
            if media_type is None:
                reason = "it is no longer a JPEG, PNG, GIF or WebP image"
                skipped.append(SkippedPhoto(path=photo.path, reason=reason))
                continue
            images.append(ImagePart(media_type=media_type, data=data))
    return TurnImages(images=tuple(images), skipped=tuple(skipped))
