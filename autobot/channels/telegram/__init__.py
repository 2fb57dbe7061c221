"""Telegram channel: Bot API client, update handling and reply formatting."""
