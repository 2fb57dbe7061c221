"""The seccomp program, run through a classic-BPF interpreter (pure)."""

from __future__ import annotations

import errno
import re
import struct
from pathlib import Path

import pytest

from autobot.sandbox import seccomp
from autobot.sandbox.seccomp import (
    AARCH64,
    DENIED_SYSCALLS,
    RET_ALLOW,
    RET_ERRNO,
    X86_64,
    Architecture,
    Instruction,
    UnsupportedArchitecture,
    assemble,
    seccomp_program,
)

EPERM = RET_ERRNO | errno.EPERM
ENOSYS = RET_ERRNO | errno.ENOSYS
CLONE_THREAD_FLAGS = 0x003D0F00  # what pthread_create passes
CLONE_NEWUSER = 0x10000000
TIOCSTI = 0x5412
TCGETS = 0x5401


def run_filter(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """Evaluate a classic-BPF seccomp program the way the kernel does."""
    padded = (*args, *([0] * (6 - len(args))))
    data = struct.pack("<iIQ6Q", nr, arch, 0, *padded)
    code = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    acc = 0
    pc = 0
    while True:
        op, jt, jf, k = code[pc]
        pc += 1
        if op == seccomp.BPF_LD_W_ABS:
            (acc,) = struct.unpack_from("<I", data, k)
        elif op == seccomp.BPF_JEQ_K:
            pc += jt if acc == k else jf
        elif op == seccomp.BPF_JGE_K:
            pc += jt if acc >= k else jf
        elif op == seccomp.BPF_JSET_K:
            pc += jt if acc & k else jf
        elif op == seccomp.BPF_RET_K:
            return k
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=lambda a: a.name)
def test_every_denied_call_gets_eperm(arch: Architecture) -> None:
    program = seccomp_program(arch.name)
    for name in DENIED_SYSCALLS:
        if name in arch.numbers:
            assert run_filter(program, arch.numbers[name], arch.audit_arch) == EPERM, name


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=lambda a: a.name)
def test_ordinary_calls_pass(arch: Architecture) -> None:
    program = seccomp_program(arch.name)
    inspected = set(arch.numbers.values())
    for nr in range(0, 460):
        if nr not in inspected:
            assert run_filter(program, nr, arch.audit_arch) == RET_ALLOW, nr


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=lambda a: a.name)
def test_argument_checks(arch: Architecture) -> None:
    program = seccomp_program(arch.name)

    def call(name: str, *args: int) -> int:
        return run_filter(program, arch.numbers[name], arch.audit_arch, args)

    assert call("clone", CLONE_THREAD_FLAGS) == RET_ALLOW
    assert call("clone", 0x11) == RET_ALLOW  # fork: SIGCHLD
    for flag in range(17, 31):
        if (1 << flag) & seccomp.CLONE_NAMESPACE_FLAGS:
            assert call("clone", 0x11 | (1 << flag)) == EPERM, hex(1 << flag)
    assert call("clone", CLONE_THREAD_FLAGS | CLONE_NEWUSER) == EPERM
    assert call("clone3") == ENOSYS  # the C library falls back to the checked clone
    for allowed in (0, 8, 0xFFFFFFFF):
        assert call("personality", allowed) == RET_ALLOW
    for trick in (0x0040000, 0x0400000, 0x0200000, 0x0008 | 0x0040000):  # ADDR_NO_RANDOMIZE, ...
        assert call("personality", trick) == EPERM
    assert call("ioctl", 1, TIOCSTI) == EPERM
    assert call("ioctl", 1, 0x541C) == EPERM
    assert call("ioctl", 1, TCGETS) == RET_ALLOW


def test_foreign_abis_are_refused() -> None:
    program = seccomp_program("x86_64")
    assert run_filter(program, 0x40000000 | 0, X86_64.audit_arch) == EPERM  # x32 read
    assert run_filter(program, 3, 0x40000003) == EPERM  # i386 read through int 0x80
    assert run_filter(seccomp_program("aarch64"), 63, 0x40000028) == EPERM  # arm32


def test_aliases_and_unknown_architectures() -> None:
    assert seccomp_program("amd64") == seccomp_program("x86_64")
    assert seccomp_program("arm64") == seccomp_program("aarch64")
    with pytest.raises(UnsupportedArchitecture, match="riscv64"):
        seccomp_program("riscv64")


def test_assembler_refuses_backward_jumps() -> None:
    with pytest.raises(ValueError, match="out of reach"):
        assemble(["top", Instruction(seccomp.BPF_JEQ_K, 1, "top", 0)])


HEADERS = {
    "x86_64": (X86_64, Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")),
    "aarch64": (AARCH64, Path("/usr/include/asm-generic/unistd.h")),
}


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_syscall_numbers_match_the_kernel_headers(name: str) -> None:
    arch, header = HEADERS[name]
    if not header.exists():
        pytest.skip(f"{header} is not installed")
    defined = dict(
        (match[0], int(match[1]))
        for match in re.findall(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", header.read_text())
    )
    checked = [syscall for syscall in arch.numbers if syscall in defined]
    assert len(checked) >= len(arch.numbers) - 3  # _sysctl, uselib... are gone from new headers
    for syscall in checked:
        assert arch.numbers[syscall] == defined[syscall], syscall
