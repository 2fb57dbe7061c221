"""Fakes and fixtures that tests import: loopback service fakes, log capture."""
