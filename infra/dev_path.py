"""`python -m infra.dev_path DIR:DIR:...`: put the layers on the venv's path (a .pth file), so
`.venv/bin/python -m infra.cli.review ...` works in any shell, as Lambda puts layers on its path."""

from __future__ import annotations

import site
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    entries = [str(Path(p).resolve()) for arg in argv for p in arg.split(":") if p]
    target = Path(site.getsitepackages()[0]) / "miaopi-layers.pth"
    target.write_text("".join(f"{entry}\n" for entry in entries))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
