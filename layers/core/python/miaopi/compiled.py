"""The rules layer compiled at build time: each service's files as validated data, in JSON.

A function's cold start used to parse its service's YAML and validate it through the rule-file
models (pydantic building a validator for some thirty models) before compiling. The YAML stays
the one source of truth; `make rules` (`python -m miaopi.compiled`) writes beside it, per
service, `compiled.json`: the files as the loader validated them, with their content hashes and
the SHA-256 of every source file. Loading it rebuilds the rule-file models without validation
(`model_construct`, exact types kept: dates and decimals are tagged) and then checks and compiles
exactly as the YAML loader does (`loader.service_definition`).

A compiled file whose sources differ from the YAML beside it is never used: `load` falls back to
the YAML (slower, never wrong), and tests/unit/test_compiled_rules.py fails until `make rules`
writes it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from miaopi import files
from miaopi.loader import (
    RULESETS_DIR,
    SERVICE_FILE,
    load_service,
    service_definition,
)
from miaopi.model import ServiceDefinition

COMPILED_FILE = "compiled.json"
#: bump when the layout below changes: an older compiled file is then not used
FORMAT = 1
_MODEL, _DATE, _DECIMAL = "$model", "$date", "$decimal"


def source_files(folder: Path) -> list[Path]:
    """The files a service is compiled from, in a fixed order."""
    return [folder / SERVICE_FILE, *sorted((folder / RULESETS_DIR).glob("*.yaml"))]


def _digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in source_files(folder)
    }


def _plain(value: Any) -> Any:
    """A validated rule-file model as JSON data that names its models and keeps its types."""
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {_MODEL: type(value).__name__}
        given = value.model_fields_set
        for name in type(value).model_fields:  # in declaration order: the file is stable
            if name in given:
                out[name] = _plain(getattr(value, name))
        return out
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime):
        raise TypeError(f"a date and time in a rule file: {value!r}")
    if isinstance(value, dt.date):
        return {_DATE: value.isoformat()}
    if isinstance(value, Decimal):
        return {_DECIMAL: str(value)}
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise TypeError(f"cannot compile a {type(value).__name__} in a rule file")


def _revive(data: dict[str, Any]) -> Any:
    """json.loads' object hook: the inverse of `_plain` (inner objects come first)."""
    if _MODEL in data:
        model: type[BaseModel] = getattr(files, data.pop(_MODEL))
        return model.model_construct(_fields_set=set(data), **data)
    if len(data) == 1:
        if _DATE in data:
            return dt.date.fromisoformat(data[_DATE])
        if _DECIMAL in data:
            return Decimal(data[_DECIMAL])
    return data


def compile_service(folder: Path) -> str:
    """The compiled file of a service folder (loads it from YAML first: every check runs)."""
    service = load_service(folder)
    document = {
        "format": FORMAT,
        "sources": _digests(folder),
        "service": _plain(service.file),
        "ruleSets": [
            {
                "path": Path(rule_set.path).relative_to(folder).as_posix(),
                "hash": rule_set.hash,
                "file": _plain(rule_set.file),
            }
            for rule_set in service.rule_sets
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def is_current(folder: Path) -> bool:
    """Whether the service's compiled file exists and was compiled from its files as they are."""
    document = _read(folder)
    return document is not None and document["sources"] == _digests(folder)


def _read(folder: Path) -> dict[str, Any] | None:
    path = folder / COMPILED_FILE
    if not path.is_file():
        return None
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"), object_hook=_revive)
    return document if document.get("format") == FORMAT else None


def load(folder: Path) -> ServiceDefinition:
    """A service folder, from its compiled file when that is current, else from its YAML."""
    document = _read(folder)
    if document is None or document["sources"] != _digests(folder):
        return load_service(folder)
    return service_definition(
        folder,
        document["service"],
        [(str(folder / rs["path"]), rs["file"], rs["hash"]) for rs in document["ruleSets"]],
    )


def load_catalogue(root: Path) -> dict[str, ServiceDefinition]:
    """Every service folder under `root`, compiled where current (loader.load_catalogue's twin)."""
    from miaopi.loader import load_catalogue as from_yaml

    folders = sorted(p.parent for p in root.glob(f"*/{SERVICE_FILE}"))
    if not folders:
        return from_yaml(root)  # its error names the folder
    services = {}
    for folder in folders:
        service = load(folder)
        services[service.id] = service
    return services


def write_all(root: Path) -> list[Path]:
    """Compile every service under `root`; the compiled files that changed."""
    changed = []
    for folder in sorted(p.parent for p in root.glob(f"*/{SERVICE_FILE}")):
        text = compile_service(folder)
        target = folder / COMPILED_FILE
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(target)
    return changed


def main(argv: list[str]) -> int:
    """`python -m miaopi.compiled SERVICES_DIR`: compile every service there (`make rules`)."""
    if len(argv) != 1:
        print("usage: python -m miaopi.compiled SERVICES_DIR", file=sys.stderr)
        return 2
    for path in write_all(Path(argv[0])):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
