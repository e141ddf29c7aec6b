"""What Lambda gets is what the project declares: the dependencies layer follows pyproject."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dependencies_layer_lists_the_runtime_dependencies_but_boto3() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = [
        line.strip()
        for line in (ROOT / "layers/dependencies/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    expected = [d.split("#")[0].strip() for d in declared if not d.startswith("boto3")]
    assert sorted(layer) == sorted(expected)
