"""`python -m autobot`: the same as the `autobot` executable."""

from autobot.entry import console_script

console_script()
