"""Test-wide setup: Powertools is configured from template.yaml's Globals, as in Lambda.

Logger and Metrics read their settings when first imported, so they are set before any test
module imports the platform layer. X-Ray is off: there is no daemon here.
"""

from __future__ import annotations

import os
from pathlib import Path

from infra.local.template import load_yaml

_GLOBALS = load_yaml(Path(__file__).resolve().parents[1] / "template.yaml")["Globals"]["Function"]
for _name, _value in _GLOBALS["Environment"]["Variables"].items():
    if _name.startswith("POWERTOOLS_") and isinstance(_value, str):
        os.environ.setdefault(_name, _value)
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
