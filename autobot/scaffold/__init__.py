"""`autobot new`: create a fresh, secure-by-default bot directory."""
