"""`python -m infra.deploy.revision ENV`: the parameter overrides `make deploy` passes, samconfig's
for ENV plus `CodeRevision`, a hash of the code and layers every function runs.

Why: SAM publishes a new version behind a function's `live` alias when the function's own code,
environment or memory change. A new rules layer (a rule change) or platform layer changes none
of those, so the alias would keep running the old layers. Every function's
`AutoPublishCodeSha256` is this parameter: a change anywhere in `layers/` or `functions/`
publishes a new version of every function (and a canary for each); an unchanged tree none.
Standard library only: it runs before any venv exists (the CI deploy job).
"""

from __future__ import annotations

import hashlib
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: template.yaml's parameter every function's AutoPublishCodeSha256 is (a test holds them equal)
PARAMETER = "CodeRevision"
#: what the functions run: their code and the layers (the rules data included)
CODE = ("functions", "layers")
_SKIPPED = {"__pycache__", ".pytest_cache", ".mypy_cache"}


def code_revision(root: Path = ROOT) -> str:
    """16 hex digits of a SHA-256 over every file under CODE (path and content, in order)."""
    digest = hashlib.sha256()
    for top in CODE:
        for path in sorted((root / top).rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or _SKIPPED & set(relative.parts) or path.suffix == ".pyc":
                continue
            digest.update(relative.as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def overrides(env: str, root: Path = ROOT) -> str:
    """samconfig.toml's parameter overrides for `env`, and CodeRevision."""
    config = tomllib.loads((root / "samconfig.toml").read_text(encoding="utf-8"))
    deploy = config.get(env, {}).get("deploy", {}).get("parameters")
    if deploy is None:
        raise SystemExit(f"samconfig.toml has no [{env}.deploy.parameters]")
    given = str(deploy.get("parameter_overrides", "")).strip()
    return f"{given} {PARAMETER}={code_revision(root)}".strip()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m infra.deploy.revision ENV", file=sys.stderr)
        return 2
    print(overrides(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
