"""A minimal inotify binding (ctypes, Linux) for watching workspace directories.

`Inotify` owns one non-blocking inotify descriptor: `add_watch` a directory,
`pending_bytes` says whether anything is queued (one ioctl, no read), and
`read_batch` takes at most `max_bytes` of queued events in one read (an
empty batch when nothing happened). The work per call is bounded whatever
the rate of events: a command in the sandbox can rename a directory faster
than Python decodes the events, so a reader that drained the queue could
chase it forever. What is left queued is the consumer's to judge
(`EventBatch.overflowed`: assume changed, re-check later; see
`autobot.platform.flood`). `parse_events` is the pure decoder of the
kernel's event records. Raises OSError for kernel refusals (ENOSPC when the
watch limit is reached); `Inotify.open` raises OSError where inotify is
missing.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
import termios

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
_COUNT = struct.Struct("i")  # the int FIONREAD fills in
NAME_MAX = 255
# A read this large always fits the next record (header, longest name, NUL); a
# read too small for the next record fails with EINVAL.
MIN_READ_BYTES = _HEADER.size + NAME_MAX + 1


@attrs.frozen
class Event:
    wd: int
    mask: int
    name: str


@attrs.frozen
class EventBatch:
    """The events one `read_batch` took, and whether more were still queued after it."""

    events: tuple[Event, ...]
    more: bool

    @property
    def overflowed(self) -> bool:
        """True when this batch is not the whole story since the last read: the
        kernel dropped events (`IN_Q_OVERFLOW`) or more were queued than one read takes."""
        return self.more or any(event.mask & IN_Q_OVERFLOW for event in self.events)


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

    def pending_bytes(self) -> int:
        """How many bytes of events are queued (FIONREAD: never blocks, reads nothing)."""
        raw = fcntl.ioctl(self.fd, termios.FIONREAD, bytes(_COUNT.size))
        return int(_COUNT.unpack(raw)[0])

    def read_batch(self, max_bytes: int) -> EventBatch:
        """The whole events found in one read of at most `max_bytes` (never blocks:
        an empty batch when nothing is queued), and whether more are queued.
        Raises ValueError when `max_bytes` is below `MIN_READ_BYTES` (a buffer
        the kernel could not fit one event into)."""
        if max_bytes < MIN_READ_BYTES:
            raise ValueError(
                f"an inotify read needs at least {MIN_READ_BYTES} bytes, got {max_bytes}"
            )
        try:
            buffer = os.read(self.fd, max_bytes)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return EventBatch((), more=False)
            raise
        return EventBatch(tuple(parse_events(buffer)), more=self.pending_bytes() > 0)

    def close(self) -> None:
        """Close the descriptor; later calls do nothing (its number may be reused)."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)
