"""`python -m infra.local.token USERNAME`: print an ID token of a demo user (running stack)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.local.stack_file import DEFAULT_STACK_FILE, id_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.token", description=__doc__)
    parser.add_argument("username", help="citizen, citizen2, reviewer, auditor or admin")
    parser.add_argument("--password", default=None)
    parser.add_argument("--stack-file", type=Path, default=DEFAULT_STACK_FILE)
    args = parser.parse_args(argv)
    try:
        print(id_token(args.username, args.password, args.stack_file))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
