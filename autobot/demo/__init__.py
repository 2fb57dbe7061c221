"""`autobot demo`: the real gateway, Telegram included, against local stand-ins.

`demo` / `demo_main` (in `run`) are the command; `scenario` is who says what,
`play` posts it through the Bot API stand-in and waits for the outcome,
`brain` is the scripted model, `conversation` reads turns out of Messages
API requests, `provider` and `telegram` swap in the loopback model and Bot
API (in memory only), `logcheck` and `transcript` build what is printed.
"""

from autobot.demo.run import demo, demo_main

__all__ = ["demo", "demo_main"]
