"""What bubblewrap copies into each new sandbox, handed over as descriptors.

`SpawnFiles` is built once per pool (the worker program, the synthetic
passwd/group, the compiled seccomp filter: bytes in memory) and opens a
fresh set of memfds for every bwrap it starts (`open_fds`): bwrap reads each
descriptor to its end, so one set serves exactly one spawn. Nothing is read
from a host path inside the sandbox, so `/proc/self/mountinfo` names none of
the installation's files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from autobot.sandbox.bwrap import SandboxFds
from autobot.sandbox.policy import WORKER_SCRIPT
from autobot.sandbox.seccomp import seccomp_program
from autobot.sandbox.userns import SandboxIdentity


def synthetic_passwd(identity: SandboxIdentity | None) -> tuple[str, str]:
    """`/etc/passwd` and `/etc/group` contents for the sandbox: root, nobody, and the
    identity's account if it is neither; nothing of the host's accounts."""
    passwd = [
        "root:x:0:0:root:/tmp:/bin/sh",
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    ]
    group = ["root:x:0:", "nogroup:x:65534:"]
    if identity is not None and identity.uid != 65534:
        passwd.append(f"sandbox:x:{identity.uid}:{identity.gid}:sandbox:/tmp:/bin/sh")
    if identity is not None and identity.gid != 65534:
        group.append(f"sandbox:x:{identity.gid}:")
    return "\n".join(passwd) + "\n", "\n".join(group) + "\n"


@attrs.frozen(kw_only=True)
class SpawnFiles:
    """The bytes every sandbox of a pool starts from, plus its user namespace."""

    worker: bytes
    passwd: bytes
    group: bytes
    seccomp: bytes
    userns: int | None = None  # owned by the pool, which closes it

    @classmethod
    def build(cls, identity: SandboxIdentity | None, userns: int | None = None) -> SpawnFiles:
        """Read the worker program and compile the filter (UnsupportedArchitecture)."""
        passwd, group = synthetic_passwd(identity)
        return cls(
            worker=WORKER_SCRIPT.read_bytes(),
            passwd=passwd.encode(),
            group=group.encode(),
            seccomp=seccomp_program(),
            userns=userns,
        )

    @contextmanager
    def open_fds(self, *, with_worker: bool = True) -> Iterator[SandboxFds]:
        """Fresh descriptors for one bwrap, closed when the block ends (after the spawn)."""
        opened: list[int] = []
        try:

            def memfd(name: str, data: bytes) -> int:
                fd = os.memfd_create(name, os.MFD_CLOEXEC)
                opened.append(fd)
                os.write(fd, data)
                os.lseek(fd, 0, os.SEEK_SET)
                return fd

            yield SandboxFds(
                seccomp=memfd("seccomp", self.seccomp),
                passwd=memfd("passwd", self.passwd),
                group=memfd("group", self.group),
                worker=memfd("worker", self.worker) if with_worker else None,
                userns=self.userns,
            )
        finally:
            for fd in opened:
                os.close(fd)
