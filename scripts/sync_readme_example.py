"""Copy config/config.yml into the README's full configuration example.

The README shows the shipped example file verbatim (tests/docs/test_readme.py
checks it); run this after editing config/config.yml:
`.venv/bin/python scripts/sync_readme_example.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "# autobot example configuration"


def main() -> None:
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    example = (ROOT / "config" / "config.yml").read_text()
    blocks = list(re.finditer(r"```yaml\n(.*?)```", readme, re.DOTALL))
    targets = [b for b in blocks if b.group(1).startswith(MARKER)]
    if len(targets) != 1:
        raise SystemExit(f"expected one README yaml block starting with {MARKER!r}")
    block = targets[0]
    readme_path.write_text(readme[: block.start(1)] + example + readme[block.end(1) :])


if __name__ == "__main__":
    main()
