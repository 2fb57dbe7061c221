"""The parts of the loopback Telegram Bot API fake (`autobot.testing.fake_telegram`).

`objects` (users, chats, the bot's profile), `entities` (UTF-16 spans and their
checks), `html` (Telegram's HTML parse mode), `markdown` (MarkdownV2),
`request` (routes, arguments, error answers), `updates` (the update queue),
`chats` (per-chat message ids, topics, blocks), `files` (file_id -> bytes),
`faults` (injected failures), `records` (what the fake saw), `webhook`
(webhook settings and delivery), `methods` (the method table, identity and
update methods), `sending` (the methods that send, and getFile).
"""
