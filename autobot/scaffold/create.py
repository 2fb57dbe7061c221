"""`create_bot`: build a new bot directory, all or nothing.

Layout (every directory 0700, every file 0600, whatever the umask):

    NAME/
      .env  .gitignore  config.yml
      workspace/  AGENTS.md SOUL.md USER.md  memory/{MEMORY,HISTORY}.md  skills/
      sessions/  logs/

Everything is built in a hidden staging directory beside the target and
renamed into place in one step, so a failure (a write error, Ctrl-C) leaves
nothing behind and an existing target (file, directory, even empty, or
symlink) is never touched.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import attrs

from autobot.config.environment import ENV_FILE_NAME
from autobot.scaffold.choices import BotChoices, ScaffoldError, choose
from autobot.scaffold.interactive import Prompt, ask_choices
from autobot.scaffold.rename import rename_noreplace
from autobot.scaffold.texts import (
    GITIGNORE,
    config_text,
    env_text,
    env_variables,
    unset_settings,
)
from autobot.store.atomic import PRIVATE_DIR_MODE, ensure_private_dir, write_private_file

CONFIG_FILE_NAME = "config.yml"
WORKSPACE_FILES = ("AGENTS.md", "SOUL.md", "USER.md", "memory/MEMORY.md", "memory/HISTORY.md")
DIRECTORIES = ("workspace", "workspace/memory", "workspace/skills", "sessions", "logs")


@attrs.frozen(kw_only=True)
class CreatedBot:
    """A bot directory that now exists, and what is left for the operator to do."""

    path: Path
    config_file: Path
    env_file: Path
    choices: BotChoices
    unset_variables: tuple[str, ...]  # `.env` entries still empty
    unset_settings: tuple[str, ...] = ()  # plain config.yml keys still empty

    def next_steps(self, *, program: str = "autobot") -> str:
        """What the CLI prints after creating the bot; `program` is how the user
        runs autobot (`autobot`, `.venv/bin/autobot`...), for the command shown."""
        lines = [f"Created {self.path}"]
        if self.unset_variables:
            lines.append(f"Fill in {self.env_file}: {', '.join(self.unset_variables)}")
        if self.unset_settings:
            lines.append(f"Fill in {self.config_file}: {', '.join(self.unset_settings)}")
        if self.choices.channels:
            lines.append("Add the user ids allowed to talk to the bot to each channel's allow_from")
        lines.append(
            f"Then check it: {program} --config {shlex.quote(str(self.config_file))} doctor"
        )
        return "\n".join(lines) + "\n"


def _check_target(target: Path) -> Path:
    absolute = Path(os.path.abspath(target))
    if not target.name or target.name in (".", ".."):
        raise ScaffoldError(f"invalid bot name {str(target)!r}: give a new directory name")
    if os.path.lexists(absolute):
        raise ScaffoldError(f"refusing to create bot: {absolute} already exists")
    if not absolute.parent.is_dir():
        raise ScaffoldError(f"cannot create bot: directory {absolute.parent} does not exist")
    return absolute


def _template(name: str) -> str:
    return resources.files("autobot.scaffold").joinpath("templates", name).read_text("utf-8")


def _populate(root: Path, name: str, choices: BotChoices, secrets: dict[str, str]) -> None:
    for directory in DIRECTORIES:
        ensure_private_dir(root / directory)
    write_private_file(root / CONFIG_FILE_NAME, config_text(name, choices))
    write_private_file(root / ENV_FILE_NAME, env_text(choices, secrets))
    write_private_file(root / ".gitignore", GITIGNORE)
    for file_name in WORKSPACE_FILES:
        write_private_file(root / "workspace" / file_name, _template(file_name))


def create_bot(
    target: Path,
    *,
    provider: str | None = None,
    channels: Sequence[str] | None = None,
    interactive: bool,
    prompt: Prompt | None = None,
) -> CreatedBot:
    """Create the bot directory `target` and return what was made.

    `provider` / `channels` come from the command line; None means "not given".
    When `interactive` (stdin is a TTY) the missing ones and the provider's API
    key are asked through `prompt`; otherwise the defaults apply (anthropic,
    no channels, key left empty in `.env`).

    Raises `ScaffoldError` (nothing left behind) for an unknown provider or
    channel, an existing target, a missing parent, input that ended before
    the questions were answered (`InputEnded`) or any filesystem error (the
    staging directory is removed first). `KeyboardInterrupt` propagates, also
    after removing the staging directory.
    """
    try:
        return _create(target, provider, channels, interactive, prompt)
    except OSError as exc:
        where = os.path.abspath(target)
        raise ScaffoldError(f"cannot create bot {where}: {exc.strerror or exc}") from None


def _create(
    target: Path,
    provider: str | None,
    channels: Sequence[str] | None,
    interactive: bool,
    prompt: Prompt | None,
) -> CreatedBot:
    absolute = _check_target(target)
    if interactive:
        if prompt is None:
            raise ScaffoldError("interactive creation needs a prompt function")
        answers = ask_choices(prompt, provider=provider, channels=channels)
        choices, secrets = answers.choices, answers.secrets
    else:
        choices, secrets = choose(provider or "anthropic", channels or ()), {}
    staging = Path(tempfile.mkdtemp(prefix=f".{absolute.name}.", dir=absolute.parent))
    committed = False
    try:
        _populate(staging, absolute.name, choices, secrets)
        os.chmod(staging, PRIVATE_DIR_MODE)
        try:
            rename_noreplace(staging, absolute)
        except FileExistsError:
            raise ScaffoldError(f"refusing to create bot: {absolute} already exists") from None
        committed = True
    finally:
        if not committed:
            shutil.rmtree(staging, ignore_errors=True)
    return CreatedBot(
        path=absolute,
        config_file=absolute / CONFIG_FILE_NAME,
        env_file=absolute / ENV_FILE_NAME,
        choices=choices,
        unset_variables=tuple(v for v, _ in env_variables(choices) if v not in secrets),
        unset_settings=unset_settings(choices),
    )
