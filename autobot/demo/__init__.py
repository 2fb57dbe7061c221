"""`autobot demo`: the real gateway, end to end, with a local scripted model.

`demo` / `demo_main` (in `run`) are the command; `brain` is the scripted
model, `conversation` reads turns out of Messages API requests, `channel`
plays the user, `provider` swaps in the loopback model (in memory only),
`logcheck` and `transcript` build what is printed.
"""

from autobot.demo.run import demo, demo_main

__all__ = ["demo", "demo_main"]
