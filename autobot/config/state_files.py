"""Which of a bot directory's files and directories hold autobot's state
(and so must be 0600/0700): the layout `LoadedConfig` names, listed for the
gateway's start-up tightening and for `autobot doctor --fix`."""

from __future__ import annotations

from pathlib import Path

from autobot.config.load import LoadedConfig


def state_permissions(loaded: LoadedConfig) -> tuple[list[Path], list[Path]]:
    """The files and directories holding autobot's state, which must be 0600/0700."""
    state = loaded.bot_dir / "state"
    files = [loaded.path, loaded.env_file, loaded.cron_store, loaded.bot_dir / "pairing.json"]
    for directory, pattern in (
        (loaded.sessions_dir, "*.jsonl"),
        (loaded.logs_dir, "autobot.log*"),
        (state, "*"),
        (state / "inbound", "*.jsonl"),
    ):
        if directory.is_dir():
            files.extend(path for path in directory.glob(pattern) if path.is_file())
    dirs = [loaded.sessions_dir, loaded.logs_dir, state, state / "inbound"]
    return [path for path in files if path.is_file()], [path for path in dirs if path.is_dir()]
