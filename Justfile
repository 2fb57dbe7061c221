# Recipes for autobot. `scripts/setup` installs `just` itself (rust-just) into .venv;
# run them as `.venv/bin/just RECIPE` (or `just RECIPE` with .venv/bin on PATH).

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := justfile_directory() / ".venv/bin"

# List the recipes.
default:
    @{{bin}}/just --list

# Lint (ruff, including the ASYNC rules), type-check (mypy), then the pytest suite.
test *ARGS: lint typecheck
    {{bin}}/pytest {{ARGS}}

lint:
    {{bin}}/ruff check .

typecheck:
    {{bin}}/mypy

# Format the code in place.
fmt:
    {{bin}}/ruff format .
    {{bin}}/ruff check --fix .
