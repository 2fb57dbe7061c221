"""The pieces of the loopback Slack fake (`autobot.testing.fake_slack`)."""
