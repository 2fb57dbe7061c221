"""Zulip channel: REST client, event queue, message handling and reply formatting."""
