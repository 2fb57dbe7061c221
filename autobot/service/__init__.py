"""`autobot service`: run one bot's gateway as a hardened systemd unit.

`unit` renders the unit file (pure), `layout` judges whether the unit can
work on this host (where the bot directory and the installation are), `accounts`
finds or creates the dedicated system user, `handover` gives it the bot
directory, `install` puts the unit in place or takes it away, and `command`
is the `generate | install | uninstall` command line.
"""
