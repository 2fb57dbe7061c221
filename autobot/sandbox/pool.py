"""The sandbox pool actor: persistent workers handed out as leases.

`SandboxPool.run` probes the configured backend (a required backend that is
missing raises `SandboxUnavailable`), starts `size` workers and then replaces
workers that were returned broken (crash, protocol error, cancelled mid-call,
a timed-out command) or worn out (`max_requests`). `lease()` waits for an
idle worker (waiters queue in FIFO order: backpressure), and before handing
it out checks that it is alive and that no dotenv entry appeared in the
workspace, or was replaced, since its sandbox was built (`env_index`: an
inotify-kept index, so this costs one read when nothing changed); otherwise
it is replaced first, so the kernel hides the entry before the next request.

Every worker runs in the pool's nursery (`launch.run_worker_process`, forked
on the event loop's thread so `--die-with-parent` holds for the gateway's
life) in its own process group, and as root in its own cgroups: cancelling
the pool (or the gateway dying) kills them all.
A sandboxed worker must answer its first ping as PID 1 of its sandbox (the
only position from which it can kill everything a command leaves behind).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import attrs
import trio

from autobot.config.environment import ENV_FILE_NAME
from autobot.config.schema import SandboxMode, ToolsConfig
from autobot.logs.records import Logger
from autobot.sandbox.bwrap import SandboxFds, bwrap_argv, worker_command
from autobot.sandbox.cgroups import GatewayCgroups, open_gateway_cgroups
from autobot.sandbox.docker import DOCKERFILE, docker_build_argv, docker_image, docker_run_argv
from autobot.sandbox.env_index import EMPTY_SCAN, EnvMaskIndex, EnvScan
from autobot.sandbox.errors import SandboxUnavailable, WorkerFailed
from autobot.sandbox.launch import run_worker_process
from autobot.sandbox.masks import EnvMask
from autobot.sandbox.ownership import hand_over
from autobot.sandbox.policy import (
    WORKER_SCRIPT,
    SandboxPolicy,
    forwarded_env,
    host_proc_entries,
    host_system_mounts,
    limits_argument,
)
from autobot.sandbox.probe import probe_sandbox
from autobot.sandbox.process import WorkerProcess
from autobot.sandbox.spawn_files import SpawnFiles
from autobot.sandbox.userns import (
    SandboxIdentity,
    UserNamespaceError,
    create_user_namespace,
    default_identity,
)
from autobot.sandbox.worker import WorkerHandle
from autobot.security.protected_files import protected_file_ids

SPAWN_SECONDS = 30.0  # a worker answers its first ping in well under a second
SCAN_CLOSE_SECONDS = 5.0  # a refresh re-lists a few directories, or walks the tree once
BUILD_SECONDS = 600.0  # building Dockerfile.sandbox may download packages


@attrs.frozen(kw_only=True)
class PoolStatistics:
    """A snapshot for metrics: workers in use, idle, replaced so far, requests served."""

    busy: int
    idle: int
    restarts: int
    served: int


def sandbox_identity(tools: ToolsConfig, euid: int) -> SandboxIdentity | None:
    """The account sandboxed processes run as: `tools.sandbox_uid:sandbox_gid` for a
    root gateway, None (the gateway's own uid) otherwise."""
    return default_identity(euid, tools.sandbox_uid, tools.sandbox_gid)


def owner_of(path: Path) -> tuple[int, int] | None:
    """(uid, gid) owning `path`, None if it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_uid, st.st_gid


def worker_argv(
    backend: SandboxMode,
    policy: SandboxPolicy,
    masks: frozenset[EnvMask],
    image: str,
    fds: SandboxFds,
) -> list[str]:
    """The command starting one worker for a resolved backend (pure)."""
    if backend is SandboxMode.BUBBLEWRAP:
        command = worker_command(policy.limits, policy.identity)
        return bwrap_argv(policy, command, fds=fds, masks=masks)
    if backend is SandboxMode.DOCKER:
        return docker_run_argv(policy, image, masks)
    if backend is SandboxMode.NONE:
        limits = limits_argument(policy.limits)
        return [sys.executable, "-I", str(WORKER_SCRIPT), str(policy.workspace), limits]
    raise ValueError(f"not a resolved backend: {backend}")


@attrs.define(kw_only=True, eq=False)
class SandboxPool:
    """Owns the workers. Construct with `from_config` or directly; then
    `await nursery.start(pool.run)` and use `async with pool.lease() as worker:`."""

    mode: SandboxMode
    policy: SandboxPolicy
    logger: Logger
    size: int = 2
    max_requests: int = 500
    bot_dir: Path | None = None
    docker_image: str | None = None
    _backend: SandboxMode | None = None
    _nursery: trio.Nursery | None = None
    _restarts: int = 0
    _served: int = 0
    _busy: int = 0
    _cgroups: GatewayCgroups | None = None
    _env_index: EnvMaskIndex | None = None
    _files: SpawnFiles | None = None
    _scan_limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))
    # Idle workers; sized to the pool: at most `size` workers ever exist at once.
    _idle: tuple[trio.MemorySendChannel[WorkerHandle], trio.MemoryReceiveChannel[WorkerHandle]] = (
        attrs.field(init=False)
    )
    # One token per worker to replace; sized to the pool for the same reason.
    _replace: tuple[trio.MemorySendChannel[None], trio.MemoryReceiveChannel[None]] = attrs.field(
        init=False
    )

    def __attrs_post_init__(self) -> None:
        if self.size < 1 or self.max_requests < 1:
            raise ValueError("pool size and max_requests must be at least 1")
        self._idle = trio.open_memory_channel[WorkerHandle](self.size)
        self._replace = trio.open_memory_channel[None](self.size)

    @classmethod
    def from_config(
        cls, tools: ToolsConfig, *, workspace: Path, bot_dir: Path, logger: Logger
    ) -> SandboxPool:
        """Build the pool for `tools.*` (sandbox mode, sandbox_env, pool, exec.network);
        hard links to the bot's `.env` (as it is now) are masked like dotenv names."""
        system, etc = host_system_mounts()
        proc_readonly, proc_hidden = host_proc_entries()
        policy = SandboxPolicy(
            workspace_owner=owner_of(workspace),
            workspace=workspace.resolve(),
            network=tools.exec.network,
            env=forwarded_env(tools.sandbox_env, dict(os.environ)),
            system=system,
            etc=etc,
            identity=sandbox_identity(tools, os.geteuid()),
            proc_readonly=proc_readonly,
            proc_hidden=proc_hidden,
            protected_inodes=protected_file_ids([bot_dir / ENV_FILE_NAME]),
        )
        return cls(
            mode=tools.sandbox,
            policy=policy,
            logger=logger,
            size=tools.pool.size,
            max_requests=tools.pool.max_requests_per_worker,
            bot_dir=bot_dir,
            docker_image=tools.docker_image,
        )

    @property
    def backend(self) -> SandboxMode | None:
        """The backend in use once `run` has started (None before)."""
        return self._backend

    def statistics(self) -> PoolStatistics:
        idle = self._idle[1].statistics().current_buffer_used
        return PoolStatistics(
            busy=self._busy, idle=idle, restarts=self._restarts, served=self._served
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Probe, start the workers, signal started, then replace workers until cancelled.

        Raises SandboxUnavailable if the configured backend cannot run, and
        WorkerFailed if a worker cannot be (re)started.
        """
        probe = await probe_sandbox(self.mode, self.policy.identity)
        if not probe.available or probe.backend is None:
            raise SandboxUnavailable(
                f"sandbox '{self.mode.value}' is not available: {probe.detail}"
            )
        self._backend = probe.backend
        if self._backend is SandboxMode.NONE:
            self.logger.warn("sandbox disabled: workspace restrictions disabled")
        try:
            self._files = await self._prepare_spawn_files()
            image = await self._prepare_image()
            self._open_cgroups()
            self._open_env_index()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                send_idle, _ = self._idle
                for _ in range(self.size):
                    send_idle.send_nowait(await self._spawn(image))
                task_status.started()
                self.logger.info(
                    "sandbox pool ready", backend=self._backend.value, workers=self.size
                )
                if self._env_index is not None and not self._env_index.watching:
                    self.logger.warn(
                        "sandbox: the workspace is not watched (no inotify, or past "
                        "fs.inotify.max_user_watches); every lease walks it for dotenv files"
                    )
                async for _ in self._replace[1]:
                    self._restarts += 1
                    send_idle.send_nowait(await self._spawn(image))
        finally:
            self._close_spawn_files()
            self._close_cgroups()
            await self._close_env_index()

    def _open_cgroups(self) -> None:
        """As root with bubblewrap, enforce the process and memory limits with a
        cgroup per worker; say exactly why when the process limit cannot be."""
        if self._backend is not SandboxMode.BUBBLEWRAP or os.geteuid() != 0:
            return
        self._cgroups, why_not = open_gateway_cgroups(os.getpid())
        if self._cgroups is not None:
            self.logger.info("sandbox limits enforced by cgroups", cgroups=self._cgroups.describe())
        if why_not:
            self.logger.warn(
                "sandbox of a root gateway: without a cgroup the process limit counts every "
                f"process of uid {self.policy.identity.uid if self.policy.identity else '?'} "
                f"on the host ({why_not})"
            )

    async def _prepare_spawn_files(self) -> SpawnFiles:
        """What every bwrap starts from; as root, a workspace that belongs to the
        identity (`ownership.hand_over`, docker too) and, for bubblewrap, the
        identity's user namespace."""
        identity = self.policy.identity
        if self._backend is SandboxMode.NONE or identity is None:
            return SpawnFiles.build(identity)
        changed = await trio.to_thread.run_sync(
            hand_over, self.policy.workspace, identity, self.policy.protected_inodes
        )
        if changed.handed:
            self.logger.info(
                "workspace handed over to the sandbox account",
                entries=changed.handed,
                account=f"{identity.uid}:{identity.gid}",
            )
        for skipped in changed.skipped:
            self.logger.warn("workspace entry not handed over", path=skipped)
        if self._backend is not SandboxMode.BUBBLEWRAP:
            return SpawnFiles.build(identity)
        try:
            userns = await trio.to_thread.run_sync(create_user_namespace, identity)
        except UserNamespaceError as exc:
            raise SandboxUnavailable(f"sandbox user namespace: {exc}") from exc
        try:
            return SpawnFiles.build(identity, userns)
        except BaseException:
            os.close(userns)
            raise

    def _close_spawn_files(self) -> None:
        files, self._files = self._files, None
        if files is not None and files.userns is not None:
            os.close(files.userns)

    def _close_cgroups(self) -> None:
        if self._cgroups is not None:
            try:
                self._cgroups.remove()
            except OSError as exc:
                self.logger.warn("sandbox cgroups not removed", error=str(exc))
            self._cgroups = None

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[WorkerHandle]:
        """An exclusive, healthy worker for the duration of the block.

        A worker left broken (crash, cancellation mid-call) or worn out is
        killed and replaced on release.
        """
        worker = await self._idle[1].receive()
        ready = False
        try:
            worker = await self._freshen(worker)
            ready = True
        finally:
            if not ready:
                self._release(worker)
        self._busy += 1
        served_before = worker.served
        try:
            yield worker
        finally:
            self._busy -= 1
            self._served += worker.served - served_before
            self._release(worker)

    def _release(self, worker: WorkerHandle) -> None:
        if worker.alive and worker.served < self.max_requests:
            self._idle[0].send_nowait(worker)
            return
        worker.kill()
        self._replace[0].send_nowait(None)

    async def _freshen(self, worker: WorkerHandle) -> WorkerHandle:
        """`worker` if still alive and masking every dotenv entry, else a fresh one."""
        scan = await self._scan_env()
        if worker.alive and worker.env_scan.covers(scan):
            return worker
        worker.kill()
        fresh = await self._spawn(self._image(), scan)
        self._restarts += 1
        return fresh

    async def _scan_env(self) -> EnvScan:
        """The workspace's dotenv entries now (nothing to hide without a sandbox);
        after an event flood, as of the index's next walk (paced: see `env_index`)."""
        if self._backend is SandboxMode.NONE:
            return EMPTY_SCAN
        index = self._env_index
        if index is None:
            raise WorkerFailed("the sandbox pool is not running")
        asked_at = trio.current_time()
        if self._scan_limiter.borrowed_tokens == 0:  # no refresh runs in a thread now
            quiet = index.cached_if_quiet()  # the usual case: one ioctl, nothing read
            if quiet is not None:
                return quiet
        while True:
            scan = await trio.to_thread.run_sync(
                index.refresh, asked_at, limiter=self._scan_limiter
            )
            if scan is not None:
                return scan
            await trio.sleep_until(index.walk_allowed_at)

    def _open_env_index(self) -> None:
        if self._backend is SandboxMode.NONE:
            return
        self._env_index = EnvMaskIndex(
            self.policy.workspace,
            protected=self.policy.protected_inodes,
            # trio's clock, which threads may read: `_scan_env` sleeps on it
            clock=trio.lowlevel.current_clock().current_time,
        )

    async def _close_env_index(self) -> None:
        """Close the index once no refresh runs in a thread (bounded wait)."""
        index, self._env_index = self._env_index, None
        if index is None:
            return
        with trio.move_on_after(SCAN_CLOSE_SECONDS) as scope:
            scope.shield = True
            async with self._scan_limiter:
                index.close()
                return
        index.close()

    def _image(self) -> str:
        return docker_image(self.docker_image, self.bot_dir or self.policy.workspace)

    async def _prepare_image(self) -> str:
        """The docker image to run (built from Dockerfile.sandbox when present)."""
        image = self._image()
        dockerfile = (self.bot_dir / DOCKERFILE) if self.bot_dir is not None else None
        if self._backend is SandboxMode.DOCKER and dockerfile is not None and dockerfile.is_file():
            with trio.fail_after(BUILD_SECONDS):
                await trio.run_process(
                    docker_build_argv(), stdin=dockerfile.read_bytes(), capture_stdout=True
                )
        return image

    async def _spawn(self, image: str, scan: EnvScan | None = None) -> WorkerHandle:
        """Start one worker in the pool's nursery (hiding the dotenv entries of
        `scan`, a fresh one by default) and wait for its first answer."""
        assert self._nursery is not None and self._backend is not None
        if scan is None:
            scan = await self._scan_env()
        assert self._files is not None
        with self._files.open_fds() as fds:
            argv = worker_argv(self._backend, self.policy, scan.masks, image, fds)
            process: WorkerProcess = await self._nursery.start(
                partial(
                    run_worker_process,
                    argv,
                    pass_fds=fds.all() if self._backend is SandboxMode.BUBBLEWRAP else (),
                    cgroups=self._cgroups,
                    limits=self.policy.limits,
                    logger=self.logger,
                )
            )
        worker = WorkerHandle(process=process, env_scan=scan, env=dict(self.policy.env))
        started = False
        try:
            with trio.fail_after(SPAWN_SECONDS):
                pid = await worker.ping()
            if pid != 1 and self._backend is not SandboxMode.NONE:
                # Only PID 1 can kill whatever a command leaves behind (see worker_main).
                raise WorkerFailed(f"sandbox worker is PID {pid}, not PID 1 of its sandbox")
            started = True
        except (WorkerFailed, trio.TooSlowError) as exc:
            raise WorkerFailed(f"sandbox worker did not start: {exc}") from exc
        finally:
            if not started:  # failed, timed out, or the caller was cancelled meanwhile
                worker.kill()
        return worker
