"""The gateway benchmark's parts (`scripts/bench_gateway.py` is the entry point).

Importable as `bench` with `scripts/` on `sys.path`: running
`scripts/bench_gateway.py` puts it there, and the fake servers' child
processes are started as `python -m bench.<module>` from `scripts/`.
"""
