"""`autobot doctor --fix`: apply the safe fixes the doctor proposes, then check again.

Safe means the fix changes where a file is or who may read it, never what
it says: no secret and no config value is read out, changed or printed.
The fixes, each printed as it is made:

- a `.env` left at the top of the workspace moves beside config.yml when
  none is there (`env_move`: atomic, never over an existing file);
- a missing workspace directory is created, 0700;
- modes: `.env`, config.yml and the bot's state files lose group and other
  bits, its state directories too (`store.permissions`: the same list and
  the same descriptor-based code the gateway applies at start; a symbolic
  link is never followed).

What cannot be fixed safely is said once as `Not fixed: ...`, and the
doctor's report after the fixes shows everything that remains. The exit
code is the doctor's on that report (1 while an error remains).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import attrs
import trio

from autobot.config.environment import ENV_FILE_NAME
from autobot.config.errors import ConfigError
from autobot.config.load import LoadedConfig, load_config, read_config_bytes
from autobot.config.state_files import state_permissions
from autobot.doctor.env_move import EnvMoveRefused, move_env_out_of_workspace
from autobot.doctor.findings import Report
from autobot.doctor.render import render_text
from autobot.doctor.run import fallback_workspace, run_checks
from autobot.doctor.sandbox_check import SandboxProber
from autobot.sandbox.probe import probe_configured
from autobot.store.atomic import PRIVATE_DIR_MODE
from autobot.store.permissions import tighten_permissions

# Findings whose fix this module applies (the rest stay for the operator).
ENV_MOVE_CODES = frozenset({"dotenv_in_workspace"})
WORKSPACE_CODE = "workspace_missing"


def _bot_paths(config_path: Path, environ: Mapping[str, str]) -> tuple[LoadedConfig | None, Path]:
    """The loaded config (None if it does not load) and the workspace, taken
    as the doctor takes it for a config that does not load."""
    try:
        loaded = load_config(config_path, environ)
    except ConfigError:
        bot_dir = config_path.parent.resolve()
        try:
            raw = read_config_bytes(config_path).decode("utf-8", errors="replace")
        except ConfigError:
            raw = ""
        return None, fallback_workspace(raw, bot_dir)
    return loaded, loaded.workspace


def _octal(mode: int) -> str:
    return f"{mode:04o}"


@attrs.define
class FixLog:
    """What a run of fixes did (`fixed`) and what it left for the operator
    (`not_fixed`), each one line, in order."""

    fixed: list[str] = attrs.field(factory=list)
    not_fixed: list[str] = attrs.field(factory=list)


def _fix_modes(config_path: Path, loaded: LoadedConfig | None, log: FixLog) -> None:
    files: list[Path]
    dirs: list[Path]
    if loaded is None:  # what can be named without the config: the file and its .env
        files, dirs = [config_path, config_path.parent / ENV_FILE_NAME], []
    else:
        files, dirs = state_permissions(loaded)
    for path, is_dir in [*((f, False) for f in files), *((d, True) for d in dirs)]:
        try:
            fixes = tighten_permissions([], [path]) if is_dir else tighten_permissions([path], [])
        except (ValueError, OSError) as exc:
            log.not_fixed.append(f"{path}: {exc}")
            continue
        log.fixed += [
            f"mode of {fix.path} {_octal(fix.old_mode)} -> {_octal(fix.new_mode)}" for fix in fixes
        ]


def _fix_workspace(workspace: Path, log: FixLog) -> None:
    try:
        os.mkdir(workspace, PRIVATE_DIR_MODE)
        os.chmod(workspace, PRIVATE_DIR_MODE)  # whatever the umask: we just made it
    except FileExistsError:
        return  # made meanwhile: nothing to fix
    except OSError as exc:
        log.not_fixed.append(f"cannot create the workspace {workspace}: {exc.strerror or exc}")
        return
    log.fixed.append(f"created the workspace {workspace} (mode 0700)")


def _fix_env(workspace: Path, bot_dir: Path, as_root: bool, log: FixLog) -> None:
    try:
        moved = move_env_out_of_workspace(workspace, bot_dir, as_root=as_root)
    except EnvMoveRefused as exc:
        log.not_fixed.append(str(exc))
        return
    except OSError as exc:
        log.not_fixed.append(f"moving {workspace / ENV_FILE_NAME} failed: {exc.strerror or exc}")
        return
    log.fixed.append(
        f"moved {moved.source} to {moved.target} (mode 0600); rotate the secrets in it if the "
        "model may have read them"
    )
    if moved.leftover is not None:
        log.not_fixed.append(moved.leftover)


def apply_fixes(
    report: Report, config_path: Path, *, environ: Mapping[str, str], as_root: bool
) -> FixLog:
    """Apply the fixes `report` calls for (blocking; see the module docstring)."""
    config_path = Path(os.path.abspath(config_path))
    loaded, workspace = _bot_paths(config_path, environ)
    bot_dir = config_path.parent.resolve()
    codes = {finding.code for finding in report.findings}
    log = FixLog()
    if codes & ENV_MOVE_CODES and os.path.lexists(workspace / ENV_FILE_NAME):
        _fix_env(workspace, bot_dir, as_root, log)
    if WORKSPACE_CODE in codes:
        _fix_workspace(workspace, log)
    _fix_modes(config_path, loaded, log)
    return log


async def fix(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    home: Path,
    probe: SandboxProber = probe_configured,
    as_root: bool = False,
) -> int:
    """Check, fix, check again and print what remains; the exit code."""
    before = await run_checks(config_path, environ=environ, probe=probe, home=home, as_root=as_root)
    one_job = trio.CapacityLimiter(1)  # the fixes are one blocking job, for this run only
    log = await trio.to_thread.run_sync(
        lambda: apply_fixes(before, config_path, environ=environ, as_root=as_root),
        limiter=one_job,
    )
    out.write("".join(f"Fixed: {line}\n" for line in log.fixed) or "No safe fix to apply.\n")
    err.write("".join(f"Not fixed: {line}\n" for line in log.not_fixed))
    after = await run_checks(config_path, environ=environ, probe=probe, home=home, as_root=as_root)
    out.write("\nThe doctor after the fixes:\n" + render_text(after))
    return after.exit_code(strict=False)


def fix_main(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    as_root: bool,
    home: Path | None = None,
    probe: SandboxProber = probe_configured,
) -> int:
    """`autobot doctor --fix` for the CLI (`trio.run`); `home` defaults to `Path.home()`."""
    return trio.run(
        lambda: fix(
            config_path,
            environ=environ,
            out=out,
            err=err,
            home=Path.home() if home is None else home,
            probe=probe,
            as_root=as_root,
        )
    )
