"""The sandbox worker: a stdlib-only program serving file and exec requests.

Run as `python3 -I worker_main.py ROOT [--limits=...] [--drop-to=UID:GID]
[--check]` (inside bubblewrap ROOT is `/workspace`). It reads length-prefixed JSON frames from stdin and answers
each with one frame on stdout, in order:

    frame    = 4-byte big-endian length + UTF-8 JSON object
    request  = {"id": n, "op": "ping|read|write|edit|list|exec", ...}
    response = {"id": n, "ok": true, ...} | {"id": n, "ok": false, "error": KIND, "message": ...}

With `--limits=CPU,MEMORY,PROCESSES,FILE_SIZE` the worker puts those rlimits
on itself (so every command inherits them) and answers `"retire": true` once
it has used half of the CPU limit itself.

With `--drop-to=UID:GID` (a root gateway's sandbox, see `userns.py`) the
worker's first act is to become UID:GID with no supplementary group and no
capability left; as PID 1 of a sandbox it refuses to serve as uid 0 or with
any capability, whatever the options. `--check` stops after those checks,
printing the confinement it found (the start-up probe).

Paths in requests are relative to ROOT and were already checked by the host;
the worker checks again that their real path stays inside ROOT, and file
operations touch regular files only, opened without following a symlink or
blocking (a FIFO, socket or device is refused, never waited on). Commands run
as `/bin/sh -c` children in their own session (process group) with the rlimits
and the worker's umask 077 (whatever is created in the workspace is owner-only);
a timeout kills the whole group. The host module imports `encode_frame` and
`decode_length` from here so both ends share one definition of the framing.

Inside a sandbox the worker is PID 1 of its own PID namespace (bubblewrap
`--as-pid-1`, docker without `--init`): no other process holds the protocol
pipes, orphans are reparented to the worker, and after every command, however
it ended, the worker SIGKILLs every other process in the namespace and reaps
them before it answers, so nothing a command starts (`setsid`, double fork,
`nohup ... &`) outlives its request. Outside a sandbox (`none` backend) only
the command's process group is killed.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import select
import signal
import stat
import struct
import subprocess
import sys
import time
from typing import Any, BinaryIO

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
POLL_SECONDS = 0.05  # how often a running command's exit is checked while its pipes stay open
READ_CHUNK = 65536


class Refused(Exception):
    """A request that cannot be served; `kind` is machine-readable."""

    def __init__(self, kind: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.extra = extra


def encode_frame(message: dict[str, Any]) -> bytes:
    """One frame: length header plus compact JSON."""
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return HEADER.pack(len(body)) + body


def decode_length(header: bytes) -> int:
    """The body length announced by a 4-byte header; ValueError if oversized."""
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME}")
    return int(length)


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def resolve(root: str, relpath: str) -> str:
    """The real path of `relpath` under `root`; Refused if it escapes."""
    full = os.path.realpath(os.path.join(root, relpath))
    if full != root and not full.startswith(root + "/"):
        raise Refused("outside", "path resolves outside the workspace")
    return full


# Never follow a symlink swapped in after `resolve`, never block opening a FIFO.
OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
SPECIAL_FILES = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _refuse_unless_regular(mode: int) -> None:
    """Refused unless `mode` is a regular file: a FIFO, socket or device would
    block the worker or stream forever."""
    if stat.S_ISDIR(mode):
        raise Refused("directory", "is a directory")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in SPECIAL_FILES if test(mode)), "a special file")
        raise Refused("not_regular", f"is {kind}, not a regular file", file_type=kind)


def open_regular(full: str, flags: int) -> int:
    """A descriptor for the regular file at the resolved path `full`, opened
    with `flags` plus OPEN_FLAGS; Refused (never blocking) for anything else."""
    try:
        _refuse_unless_regular(os.lstat(full).st_mode)
    except FileNotFoundError:
        if not flags & os.O_CREAT:
            raise Refused("missing", "file not found") from None
    try:
        fd = os.open(full, flags | OPEN_FLAGS, 0o600)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ELOOP):  # replaced meanwhile: FIFO, socket, symlink
            kind = "a special file"
            raise Refused("not_regular", f"is {kind}, not a regular file", file_type=kind) from None
        raise
    try:
        _refuse_unless_regular(os.fstat(fd).st_mode)
    except Refused:
        os.close(fd)
        raise
    return fd


def op_read(root: str, req: dict[str, Any]) -> dict[str, Any]:
    full = resolve(root, req["path"])
    limit = int(req["max_bytes"])
    fd = open_regular(full, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise Refused("too_large", "file too large", size=size)
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:  # grew since fstat
        raise Refused("too_large", "file too large", size=len(data))
    if b"\0" in data:
        raise Refused("binary", "binary content")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("binary", "binary content") from None
    return {"content": text}


def op_write(root: str, req: dict[str, Any]) -> dict[str, Any]:
    full = resolve(root, req["path"])
    if os.path.isdir(full):
        raise Refused("directory", "is a directory")
    os.makedirs(os.path.dirname(full), exist_ok=True)
    data = req["content"].encode("utf-8")
    fd = open_regular(full, os.O_WRONLY | os.O_CREAT)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))  # after writing: freeing blocks first costs ext4 a journal
    finally:
        os.close(fd)
    return {"bytes": len(data)}


def op_edit(root: str, req: dict[str, Any]) -> dict[str, Any]:
    text = op_read(root, req)["content"]
    count = text.count(req["old"])
    if count != 1:
        raise Refused("match_count", "old_text must occur exactly once", count=count)
    op_write(root, {"path": req["path"], "content": text.replace(req["old"], req["new"], 1)})
    return {}


def op_list(root: str, req: dict[str, Any]) -> dict[str, Any]:
    full = resolve(root, req["path"])
    if not os.path.exists(full):
        raise Refused("missing", "directory not found")
    if not os.path.isdir(full):
        raise Refused("not_directory", "not a directory")
    with os.scandir(full) as entries:
        listing = sorted([entry.name, entry.is_dir()] for entry in entries)
    return {"entries": listing}


LIMITED = (resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE)


def parse_limits(argument: str) -> tuple[int, ...]:
    """`--limits=CPU_SECONDS,MEMORY_BYTES,PROCESSES,FILE_SIZE_BYTES` as four ints."""
    if not argument.startswith("--limits="):
        raise ValueError(f"unexpected argument {argument!r}")
    values = tuple(int(value) for value in argument[len("--limits=") :].split(","))
    if len(values) != len(LIMITED):
        raise ValueError(f"--limits takes {len(LIMITED)} values")
    return values


def limit_self(values: tuple[int, ...]) -> None:
    """Put the commands' rlimits on the worker itself, hard and soft.

    Every command inherits them, so commands start with vfork (no preexec_fn:
    a fork of the worker per command cost ~1.7 ms). None of them hinders the
    worker: one process, little memory, files written through requests within
    the same size limit (an EFBIG error, as for a command). Only its own CPU
    time accumulates, so it asks to be retired at half the limit (`main`).
    """
    for kind, value in zip(LIMITED, values, strict=True):
        resource.setrlimit(kind, (value, value))


def cpu_seconds_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _kill_group(pgid: int) -> None:
    """SIGKILL the whole process group (the kernel makes this atomic against fork)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap_exited(target: int) -> int | None:
    """Reap every child that has exited, without blocking (orphans included: as
    PID 1 they are ours); the wait status of `target` if it was among them."""
    found = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if pid == 0:
            return found
        if pid == target:
            found = status


def _kill_everything_else(target: int, status: int | None) -> int | None:
    """PID 1 only: SIGKILL every other process of the namespace and reap them all.

    `kill(-1)` from PID 1 reaches every process but the caller; a process
    forked meanwhile is caught by the next round. Returns when no child is
    left, with the wait status of `target` (or `status` if reaped earlier).
    """
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            pid, reaped = os.waitpid(-1, 0)
        except ChildProcessError:
            return status
        if pid == target:
            status = reaped


def _end_command(proc: subprocess.Popen[bytes], status: int | None) -> int:
    """Kill what the command left running, reap it, and return its exit code
    (negative: killed by that signal)."""
    _kill_group(proc.pid)
    if os.getpid() == 1:
        status = _kill_everything_else(proc.pid, status)
    if status is None:
        _, status = os.waitpid(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return proc.returncode


def op_exec(root: str, req: dict[str, Any]) -> dict[str, Any]:
    cwd = resolve(root, req["cwd"])
    if not os.path.isdir(cwd):
        raise Refused("not_directory", "working directory is not a directory")
    env = dict(os.environ)
    env.update(req["env"])
    cap = int(req["max_output"])
    deadline = time.monotonic() + float(req["timeout"])
    proc = subprocess.Popen(
        ["/bin/sh", "-c", req["command"]],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()  # type: ignore[union-attr]
    kept = {out_fd: bytearray(), err_fd: bytearray()}
    dropped = dict.fromkeys(kept, 0)
    open_fds = set(kept)
    timed_out = False
    status = None
    try:
        while open_fds:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            ready, _, _ = select.select(list(open_fds), [], [], min(remaining, POLL_SECONDS))
            for fd in ready:
                chunk = os.read(fd, READ_CHUNK)
                if not chunk:
                    open_fds.discard(fd)
                    continue
                room = max(cap - len(kept[fd]), 0)
                kept[fd] += chunk[:room]
                dropped[fd] += len(chunk) - min(room, len(chunk))
            if status is None:
                status = _reap_exited(proc.pid)
            if not ready and status is not None:
                break  # the shell is gone; leftover background jobs hold the pipes
    finally:
        exit_code = _end_command(proc, status)
    return {
        "stdout": kept[out_fd].decode("utf-8", "replace"),
        "stderr": kept[err_fd].decode("utf-8", "replace"),
        "stdout_dropped": dropped[out_fd],
        "stderr_dropped": dropped[err_fd],
        "exit_code": exit_code,
        "timed_out": timed_out,
    }


OPS = {
    "ping": lambda root, req: {"pid": os.getpid()},
    "read": op_read,
    "write": op_write,
    "edit": op_edit,
    "list": op_list,
    "exec": op_exec,
}


def handle(root: str, req: dict[str, Any]) -> dict[str, Any]:
    """Serve one request; every failure becomes an error response."""
    try:
        op = OPS[req["op"]]
        response = {"ok": True, **op(root, req)}
    except Refused as exc:
        response = {"ok": False, "error": exc.kind, "message": str(exc), **exc.extra}
    except (KeyError, TypeError, ValueError) as exc:
        response = {"ok": False, "error": "bad_request", "message": repr(exc)}
    except OSError as exc:
        response = {"ok": False, "error": "os", "message": exc.strerror or "I/O error"}
    except MemoryError:
        response = {"ok": False, "error": "os", "message": "out of memory (memory limit)"}
    response["id"] = req.get("id")
    return response


def _not_dumpable() -> None:
    """Keep commands (same uid, no capabilities) out of this process's /proc
    entries: `/proc/1/fd/0` and `/proc/1/fd/1` are the protocol pipes. As PID 1
    of a sandbox this is a guarantee, so failing to set it stops the worker."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(4, 0, 0, 0, 0) == 0 and libc.prctl(3, 0, 0, 0, 0) == 0:  # SET/GET_DUMPABLE
            return
    except (OSError, AttributeError):
        pass
    if os.getpid() == 1:
        raise SystemExit("worker: cannot make itself non-dumpable")


PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAP_VERSION_3 = 0x20080522
STATUS_FIELDS = (
    "Uid",
    "Gid",
    "Groups",
    "CapInh",
    "CapPrm",
    "CapEff",
    "CapAmb",
    "NoNewPrivs",
    "Seccomp",
)


def drop_to(uid: int, gid: int) -> None:
    """Become `uid`:`gid` for good: no supplementary groups, no capabilities
    (permitted, effective, inheritable or ambient). SystemExit if any is left."""
    import ctypes

    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable}, all zero
    if libc.capset(header, data) != 0:
        raise SystemExit(f"worker: capset failed (errno {ctypes.get_errno()})")
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid) or os.getgroups():
        raise SystemExit("worker: could not become the sandbox account")


def confinement() -> dict[str, str]:
    """This process's ids, capabilities, no_new_privs and seccomp mode (/proc/self/status)."""
    found: dict[str, str] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in STATUS_FIELDS:
                found[name] = value.strip()
    return found


def refuse_privilege(found: dict[str, str]) -> None:
    """SystemExit unless the sandboxed worker runs as a non-root uid with no capability."""
    if any(part == "0" for part in found.get("Uid", "0").split()):
        raise SystemExit("worker: refusing to serve as uid 0 inside a sandbox")
    for name in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        if int(found.get(name, "1"), 16) != 0:
            raise SystemExit(f"worker: refusing to serve with capabilities left ({name})")


def main(argv: list[str]) -> int:
    """`worker_main.py ROOT [options]`: serve requests until stdin closes."""
    root = os.path.realpath(argv[1])
    options = dict(arg.partition("=")[::2] for arg in argv[2:])
    if "--drop-to" in options:
        uid, _, gid = options["--drop-to"].partition(":")
        drop_to(int(uid), int(gid))
        os.chdir(root)  # bwrap could not: the workspace belongs to this account
    if os.getpid() == 1:
        found = confinement()
        refuse_privilege(found)
        if "--check" in options:
            print(json.dumps(found, sort_keys=True))
            return 0
    limits = parse_limits("--limits=" + options["--limits"]) if "--limits" in options else None
    if limits is not None:
        limit_self(limits)
    retire_at = None if limits is None else limits[0] / 2
    _not_dumpable()
    # Everything created in the workspace, by the file tools or by commands (which
    # inherit the umask), is owner-only: files 0600, directories 0700.
    os.umask(0o077)
    # Python's SIGINT handler would let a command raise KeyboardInterrupt here; with
    # the default disposition the kernel drops signals sent to PID 1 from inside.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = _read_exact(stdin, HEADER.size)
        if header is None:
            return 0
        body = _read_exact(stdin, decode_length(header))
        if body is None:
            return 0
        response = handle(root, json.loads(body))
        if retire_at is not None and cpu_seconds_used() >= retire_at:
            response["retire"] = True  # replace me before my CPU limit kills me
        stdout.write(encode_frame(response))
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
