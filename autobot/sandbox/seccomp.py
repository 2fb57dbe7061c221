"""The seccomp filter every sandboxed process runs under (pure: bytes out).

bubblewrap installs a compiled classic-BPF program (`--seccomp FD`) just
before it executes the worker, so the worker and every command it starts
are filtered. `seccomp_program(machine)` builds that program for this
machine's architecture. Why our own builder rather than libseccomp: the
filter is a short deny list plus three argument checks, libseccomp's Python
binding is not published on PyPI by its maintainers (only an unmaintained
ctypes wrapper is), and a pure function of the syscall table is easy to
test exhaustively (tests run the program through a BPF interpreter and,
for real, inside bubblewrap).

What it denies, always with EPERM so ordinary tools see a failed call
instead of being killed:
- namespace and mount control: mount, umount2, pivot_root, chroot, setns,
  unshare, the new mount API (open_tree, move_mount, fsopen, fsconfig,
  fsmount, fspick, mount_setattr), and `clone` with any CLONE_NEW* flag;
  `clone3` answers ENOSYS (its flags sit behind a pointer that BPF cannot
  read; C libraries then fall back to `clone`, which is checked);
- kernel attack surface: keyctl/add_key/request_key, bpf, perf_event_open,
  userfaultfd, io_uring, fanotify_init, ptrace and process_vm_readv/writev,
  module loading, kexec, open_by_handle_at/name_to_handle_at, iopl/ioperm,
  and host-wide state (reboot, swap, clocks, acct, quotas, syslog);
- `personality` other than the plain Linux personalities (no
  ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC and similar tricks);
- `ioctl` TIOCSTI and TIOCLINUX (typing into a terminal that is not theirs);
- every system call of a foreign ABI (x32, i386 through int 0x80, arm32).
"""

from __future__ import annotations

import errno
import platform
import struct
from collections.abc import Sequence

import attrs

# seccomp return actions and BPF opcodes (linux/seccomp.h, linux/bpf_common.h)
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_RET_K = 0x06
BPF_ALU_AND_K = 0x54

# offsets in struct seccomp_data (little-endian: the low word of an argument first)
NR_OFFSET = 0
ARCH_OFFSET = 4


def arg_low_offset(index: int) -> int:
    """Offset of the low 32 bits of syscall argument `index`."""
    return 16 + 8 * index


X32_SYSCALL_BIT = 0x40000000
CLONE_NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)
# PER_LINUX, PER_LINUX32, and 0xffffffff (which only asks for the current one)
ALLOWED_PERSONALITIES = (0x0000, 0x0008, 0xFFFFFFFF)
DENIED_IOCTLS = (0x5412, 0x541C)  # TIOCSTI, TIOCLINUX

# Denied outright, by name; a name the architecture lacks is skipped.
DENIED_SYSCALLS = (
    "mount", "umount2", "pivot_root", "chroot", "setns", "unshare",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "fanotify_init",
    "ptrace", "process_vm_readv", "process_vm_writev",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "uselib", "_sysctl",
    "nfsservctl", "lookup_dcookie", "vhangup",
    "reboot", "swapon", "swapoff", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "acct", "quotactl", "quotactl_fd", "syslog",
)  # fmt: skip


@attrs.frozen
class Architecture:
    """One ABI: its AUDIT_ARCH value and the numbers of the calls the filter inspects."""

    name: str
    audit_arch: int
    numbers: dict[str, int]
    has_x32: bool = False


X86_64 = Architecture(
    name="x86_64",
    audit_arch=0xC000003E,
    has_x32=True,
    numbers={
        "ioctl": 16, "clone": 56, "ptrace": 101, "syslog": 103, "uselib": 134,
        "personality": 135, "vhangup": 153, "pivot_root": 155, "_sysctl": 156,
        "adjtimex": 159, "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165,
        "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172,
        "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179,
        "nfsservctl": 180, "lookup_dcookie": 212, "clock_settime": 227, "kexec_load": 246,
        "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272,
        "perf_event_open": 298, "fanotify_init": 300, "name_to_handle_at": 303,
        "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308,
        "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313,
        "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
        "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "clone3": 435, "mount_setattr": 442, "quotactl_fd": 443,
    },
)  # fmt: skip

AARCH64 = Architecture(
    name="aarch64",
    audit_arch=0xC00000B7,
    numbers={
        "lookup_dcookie": 18, "ioctl": 29, "umount2": 39, "mount": 40, "pivot_root": 41,
        "chroot": 51, "vhangup": 58, "quotactl": 60, "acct": 89, "personality": 92,
        "unshare": 97, "kexec_load": 104, "init_module": 105, "delete_module": 106,
        "clock_settime": 112, "syslog": 116, "ptrace": 117, "reboot": 142,
        "settimeofday": 170, "adjtimex": 171, "add_key": 217, "request_key": 218,
        "keyctl": 219, "clone": 220, "swapon": 224, "swapoff": 225, "perf_event_open": 241,
        "fanotify_init": 262, "name_to_handle_at": 264, "open_by_handle_at": 265,
        "clock_adjtime": 266, "setns": 268, "process_vm_readv": 270,
        "process_vm_writev": 271, "finit_module": 273, "bpf": 280, "userfaultfd": 282,
        "kexec_file_load": 294, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435,
        "mount_setattr": 442, "quotactl_fd": 443,
    },
)  # fmt: skip

ARCHITECTURES = {arch.name: arch for arch in (X86_64, AARCH64)}
ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


class UnsupportedArchitecture(Exception):
    """No filter is known for this machine; the sandbox must not start without one."""


@attrs.frozen
class Instruction:
    """One `struct sock_filter`; `jt`/`jf` are labels until `assemble` resolves them."""

    code: int
    k: int = 0
    jt: str | int = 0
    jf: str | int = 0


def _errno(code: int) -> int:
    return RET_ERRNO | code


def _program(arch: Architecture) -> list[Instruction | str]:
    """The filter with symbolic jump targets (strings in the list are labels)."""
    denied = sorted({arch.numbers[name] for name in DENIED_SYSCALLS if name in arch.numbers})
    code: list[Instruction | str] = [
        Instruction(BPF_LD_W_ABS, ARCH_OFFSET),
        Instruction(BPF_JEQ_K, arch.audit_arch, 0, "deny"),
        Instruction(BPF_LD_W_ABS, NR_OFFSET),
    ]
    if arch.has_x32:
        code.append(Instruction(BPF_JGE_K, X32_SYSCALL_BIT, "deny", 0))
    code += [
        Instruction(BPF_JEQ_K, arch.numbers["clone"], "clone", 0),
        Instruction(BPF_JEQ_K, arch.numbers["clone3"], "nosys", 0),
        Instruction(BPF_JEQ_K, arch.numbers["personality"], "personality", 0),
        Instruction(BPF_JEQ_K, arch.numbers["ioctl"], "ioctl", 0),
    ]
    code += [Instruction(BPF_JEQ_K, number, "deny", 0) for number in denied]
    code += ["allow", Instruction(BPF_RET_K, RET_ALLOW)]
    code += ["deny", Instruction(BPF_RET_K, _errno(errno.EPERM))]
    code += ["nosys", Instruction(BPF_RET_K, _errno(errno.ENOSYS))]
    # Argument checks; BPF jumps only forward, so each block ends in its own returns.
    code += [
        "clone",
        Instruction(BPF_LD_W_ABS, arg_low_offset(0)),
        Instruction(BPF_JSET_K, CLONE_NAMESPACE_FLAGS, "clone_deny", 0),
        Instruction(BPF_RET_K, RET_ALLOW),
        "clone_deny",
        Instruction(BPF_RET_K, _errno(errno.EPERM)),
    ]
    code += ["personality", Instruction(BPF_LD_W_ABS, arg_low_offset(0))]
    code += [
        Instruction(BPF_JEQ_K, value, "personality_allow", 0) for value in ALLOWED_PERSONALITIES
    ]
    code += [Instruction(BPF_RET_K, _errno(errno.EPERM))]
    code += ["personality_allow", Instruction(BPF_RET_K, RET_ALLOW)]
    code += ["ioctl", Instruction(BPF_LD_W_ABS, arg_low_offset(1))]
    code += [Instruction(BPF_JEQ_K, request, "ioctl_deny", 0) for request in DENIED_IOCTLS]
    code += [Instruction(BPF_RET_K, RET_ALLOW)]
    code += ["ioctl_deny", Instruction(BPF_RET_K, _errno(errno.EPERM))]
    return code


def assemble(code: Sequence[Instruction | str]) -> list[Instruction]:
    """Resolve label jumps to relative offsets (ValueError if one is out of reach)."""
    labels: dict[str, int] = {}
    position = 0
    for item in code:
        if isinstance(item, str):
            labels[item] = position
        else:
            position += 1
    out: list[Instruction] = []
    for item in code:
        if isinstance(item, str):
            continue
        here = len(out)

        def offset(target: str | int, here: int = here) -> int:
            if isinstance(target, int):
                return target
            distance = labels[target] - here - 1
            if not 0 <= distance <= 255:
                raise ValueError(f"jump to {target} out of reach ({distance})")
            return distance

        out.append(attrs.evolve(item, jt=offset(item.jt), jf=offset(item.jf)))
    return out


def encode(program: Sequence[Instruction]) -> bytes:
    """The program as the kernel's array of `struct sock_filter` (native byte order)."""
    return b"".join(
        struct.pack("=HBBI", item.code, int(item.jt), int(item.jf), item.k) for item in program
    )


def architecture(machine: str | None = None) -> Architecture:
    """The ABI of `machine` (default: this one); UnsupportedArchitecture otherwise."""
    name = machine or platform.machine()
    name = ARCH_ALIASES.get(name, name)
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise UnsupportedArchitecture(
            f"no sandbox seccomp filter for the {name} architecture"
        ) from None


def seccomp_program(machine: str | None = None) -> bytes:
    """The compiled filter for `machine` (default: this machine), for `bwrap --seccomp`."""
    return encode(assemble(_program(architecture(machine))))
