"""The managed bridge's installed copy and its npm dependencies, in the bot directory.

The bridge ships inside the autobot package (`autobot/whatsapp_bridge/`:
`bridge.mjs`, `lib/`, `package.json`, `package-lock.json`) without its
dependencies. The gateway installs them once per lockfile into
`<bot_dir>/state/whatsapp-bridge/` and runs the bridge **from that copy**:
its sources (the top-level `*.mjs`/`*.js`/`*.cjs` files and everything under
`lib/`) and the two package files are copied there (rewritten only when they
differ), so Node's module resolution finds `node_modules` next to
`bridge.mjs` (ES modules ignore `NODE_PATH`, so pointing it at the
dependencies would not work).

`npm ci --ignore-scripts --no-audit --no-fund` runs there (`trio.run_process`,
a minimal environment) only when the lockfile differs from the one recorded
in `node_modules` after the last successful install (`INSTALLED_STAMP`; a
deleted `node_modules` takes it along); install scripts never run. A failure raises `BridgeInstallError`
naming the command, its directory and the end of its output.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

import autobot
from autobot.store.atomic import ensure_private_dir, write_private_file

PACKAGE_FILES = ("package.json", "package-lock.json")
SOURCE_SUFFIXES = (".mjs", ".js", ".cjs")
LIBRARY_DIR = "lib"
ENTRY_POINT = "bridge.mjs"
# sha256 of the lockfile npm ci installed, kept inside node_modules: deleting
# node_modules (or npm ci clearing it) removes the stamp with it.
INSTALLED_STAMP = "node_modules/.autobot-installed-lock"
NPM_CI = ("ci", "--ignore-scripts", "--no-audit", "--no-fund")
SHOWN_OUTPUT = 2000  # characters of npm's output quoted in the error
# What npm needs of the gateway's environment: where it is, its home (for
# ~/.npmrc and its cache), the locale and extra CAs; nothing else (no keys).
NPM_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "NODE_EXTRA_CA_CERTS")

RunProcess = Callable[..., Any]


class BridgeInstallError(Exception):
    """The bridge could not be installed; the text names the failed step."""


def shipped_bridge_dir() -> Path:
    """The bridge as shipped in the autobot package."""
    return Path(autobot.__file__).parent / "whatsapp_bridge"


def installed_bridge_dir(bot_dir: Path) -> Path:
    """Where the gateway installs the bridge for a bot."""
    return bot_dir / "state" / "whatsapp-bridge"


def npm_command(node: str) -> str:
    """npm beside the configured Node executable when that is a path, else `npm`."""
    if os.sep in node:
        sibling = Path(node).parent / "npm"
        if sibling.exists():
            return str(sibling)
    return "npm"


def npm_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment npm runs with: `NPM_ENVIRONMENT` and npm's own
    `npm_config_*` settings from `environ`, nothing else."""
    kept = {name: environ[name] for name in NPM_ENVIRONMENT if name in environ}
    kept.update({k: v for k, v in environ.items() if k.lower().startswith("npm_config_")})
    return kept


def _sources(package: Path) -> list[Path]:
    """The files of the shipped bridge to copy, relative to `package`."""
    files = [Path(name) for name in PACKAGE_FILES]
    files += sorted(
        path.relative_to(package)
        for path in package.iterdir()
        if path.is_file() and path.suffix in SOURCE_SUFFIXES
    )
    library = package / LIBRARY_DIR
    if library.is_dir():
        files += sorted(p.relative_to(package) for p in library.rglob("*") if p.is_file())
    return files


def lock_digest(package: Path) -> str:
    """The sha256 of the shipped lockfile. Raises BridgeInstallError when missing."""
    try:
        return hashlib.sha256((package / "package-lock.json").read_bytes()).hexdigest()
    except OSError as exc:
        raise BridgeInstallError(f"the WhatsApp bridge is not shipped complete: {exc}") from None


def is_installed(package: Path, target: Path) -> bool:
    """Whether `target` holds dependencies installed from `package`'s lockfile."""
    try:
        stamp = (target / INSTALLED_STAMP).read_text().strip()
    except OSError:
        return False
    return stamp == lock_digest(package)


def stage_bridge(package: Path, target: Path) -> bool:
    """Copy the bridge's sources and package files from `package` to
    `target` (created 0700; files rewritten only when they differ). Whether
    npm ci must run. Blocking; raises BridgeInstallError or OSError."""
    if not (package / ENTRY_POINT).is_file():
        raise BridgeInstallError(f"the WhatsApp bridge is not shipped: no {package / ENTRY_POINT}")
    lock_digest(package)
    ensure_private_dir(target)
    for relative in _sources(package):
        data = (package / relative).read_bytes()
        destination = target / relative
        ensure_private_dir(destination.parent)
        try:
            unchanged = destination.read_bytes() == data
        except OSError:
            unchanged = False
        if not unchanged:
            write_private_file(destination, data)
    return not is_installed(package, target)


@attrs.frozen(kw_only=True)
class BridgeInstaller:
    """Installs the shipped bridge into a bot directory (module docstring).

    `npm` is the npm executable; `environ` the gateway's environment (only
    `npm_environment` of it reaches npm); `run_process` is `trio.run_process`
    (injectable for tests); `limiter` serialises the file work's thread.
    """

    package: Path
    target: Path
    npm: str
    environ: Mapping[str, str]
    run_process: RunProcess = trio.run_process
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))

    @property
    def command(self) -> Sequence[str]:
        return (self.npm, *NPM_CI)

    @property
    def entry_point(self) -> Path:
        """The installed copy's `bridge.mjs` (what `node` runs)."""
        return self.target / ENTRY_POINT

    async def install(self) -> Path:
        """Make sure the bridge is installed; its entry point. Raises
        BridgeInstallError naming what failed."""
        try:
            needed = await trio.to_thread.run_sync(
                stage_bridge, self.package, self.target, limiter=self.limiter
            )
        except OSError as exc:
            raise BridgeInstallError(
                f"cannot copy the WhatsApp bridge into {self.target}: {exc}"
            ) from None
        if needed:
            await self._npm_ci()
        return self.entry_point

    async def _npm_ci(self) -> None:
        shown = f"`{shlex.join(self.command)}` in {self.target}"
        try:
            result = await self.run_process(
                list(self.command),
                cwd=self.target,
                env=npm_environment(self.environ),
                stdin=subprocess.DEVNULL,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        except OSError as exc:
            raise BridgeInstallError(f"{shown} could not run: {exc}") from None
        if result.returncode != 0:
            output = (result.stderr or result.stdout or b"").decode("utf-8", "replace")
            raise BridgeInstallError(
                f"{shown} failed (exit {result.returncode}): {output[-SHOWN_OUTPUT:].strip()}"
            )
        await trio.to_thread.run_sync(self._stamp, limiter=self.limiter)

    def _stamp(self) -> None:
        stamp = self.target / INSTALLED_STAMP
        ensure_private_dir(stamp.parent)  # npm ci makes none for a bridge without dependencies
        write_private_file(stamp, lock_digest(self.package) + "\n")
