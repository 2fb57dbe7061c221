"""The pieces of the loopback Zulip fake (`autobot.testing.fake_zulip`)."""
