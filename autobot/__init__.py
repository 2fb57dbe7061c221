"""autobot: a self-hosted personal AI assistant gateway built on Trio actors."""

__version__ = "0.1.0"
