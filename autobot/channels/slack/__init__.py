"""The Slack channel over Socket Mode (see `actor` for how it runs)."""
