"""Linux bindings shared by several packages: inotify, mountinfo, and
file access relative to a directory descriptor (check and use in one step)."""
