"""A minimal inotify binding (ctypes, Linux) for watching workspace directories.

`Inotify` owns one non-blocking inotify descriptor: `add_watch` a directory,
`read_events` whatever is pending (an empty list when nothing happened, at
the cost of one read). `parse_events` is the pure decoder of the kernel's
event records. Raises OSError for kernel refusals (ENOSPC when the watch
limit is reached); `Inotify.open` raises OSError where inotify is missing.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

import attrs

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# Every way a name can appear in or vanish from a directory, or the directory itself move.
NAME_EVENTS = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len
READ_BYTES = 64 * 1024


@attrs.frozen
class Event:
    wd: int
    mask: int
    name: str


def parse_events(buffer: bytes) -> list[Event]:
    """Decode a buffer of `struct inotify_event` records (names are NUL-padded)."""
    events = []
    offset = 0
    while offset + _HEADER.size <= len(buffer):
        wd, mask, _cookie, length = _HEADER.unpack_from(buffer, offset)
        offset += _HEADER.size
        raw = buffer[offset : offset + length]
        offset += length
        events.append(Event(wd, mask, raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")))
    return events


@attrs.define(eq=False)
class Inotify:
    """One inotify instance; `close` it when done."""

    fd: int
    _libc: ctypes.CDLL

    @classmethod
    def open(cls) -> Inotify:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        return cls(fd, libc)

    def add_watch(self, path: str, events: int = NAME_EVENTS) -> int:
        """Watch the directory `path` (never through a symlink) for `events`."""
        flags = events | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK
        wd = int(self._libc.inotify_add_watch(self.fd, os.fsencode(path), flags))
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
        return wd

    def read_events(self) -> list[Event]:
        """Every pending event, without blocking."""
        events: list[Event] = []
        while True:
            try:
                buffer = os.read(self.fd, READ_BYTES)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return events
                raise
            events += parse_events(buffer)

    def close(self) -> None:
        os.close(self.fd)
