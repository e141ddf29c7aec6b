"""The services as the template needs them, and which nested stack each one is in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from miaopi.files import ServiceFile
from miaopi.loader import SERVICE_FILE, read_yaml, validate

from infra.local.template import SERVICE_ID_VARIABLE, load_yaml

#: services per nested stack: 7 resources each after the SAM transform (function, role, version,
#: alias, CodeDeploy deployment group, log group, alarm) plus the stack's CodeDeploy application
#: and role: 40 -> 282, well under CloudFormation's 500 and the 400 we allow
SERVICES_PER_STACK = 40
#: a stack key's part separator: `transport--2` is the transport bureau's second stack (an
#: authority id never holds two hyphens in a row, so no authority's own key looks like it)
PART = "--"


@dataclass(frozen=True)
class Service:
    """What the template needs of a service: its id, names and authority (service.yaml)."""

    id: str
    name_zh: str
    name_en: str
    authority_id: str
    authority_zh: str
    authority_en: str

    @property
    def function_id(self) -> str:
        return f"{pascal(self.id)}Function"

    @property
    def path(self) -> str:
        return f"/services/{self.id}/applications"


def pascal(slug: str) -> str:
    return "".join(part.capitalize() for part in slug.split("-"))


def read_services(services_dir: Path) -> list[Service]:
    """Every service folder's header, its service.yaml checked as the loader checks it."""
    found = []
    for path in sorted(services_dir.glob(f"*/{SERVICE_FILE}")):
        spec: ServiceFile = validate(ServiceFile, read_yaml(path), path)
        if spec.id != path.parent.name:
            raise SystemExit(f"{path}: id {spec.id!r} differs from its folder")
        found.append(
            Service(
                id=spec.id,
                name_zh=spec.name.zh,
                name_en=spec.name.en,
                authority_id=spec.authority_id,
                authority_zh=spec.authority.zh,
                authority_en=spec.authority.en,
            )
        )
    if not found:
        raise SystemExit(f"{services_dir}: no service folders")
    _unique("function", {s.id: s.function_id for s in found})
    return found


@dataclass
class Stack:
    """One nested application: some of one authority's services."""

    key: str  # the file's stem: <authorityId>, or <authorityId>--<n>
    authority_id: str
    services: list[Service] = field(default_factory=list)

    @property
    def part(self) -> int:
        return int(self.key.rpartition(PART)[2]) if PART in self.key else 1

    @property
    def logical_id(self) -> str:
        suffix = f"Part{self.part}" if self.part > 1 else ""
        return f"Services{pascal(self.authority_id)}{suffix}"

    @property
    def invoke_logical_id(self) -> str:
        return f"{self.logical_id}Invoke"


def assign(
    services: Iterable[Service], existing: Mapping[str, str], per_stack: int = SERVICES_PER_STACK
) -> list[Stack]:
    """The services' stacks: each where it already is (`existing`: service id -> stack key),
    a new one in its authority's first stack with room, else a new stack of its authority. A
    service whose authority changed moves, on purpose."""
    stacks: dict[str, Stack] = {}
    fresh = []
    for service in sorted(services, key=lambda s: s.id):
        key = existing.get(service.id)
        if key is not None and key.partition(PART)[0] == service.authority_id:
            stacks.setdefault(key, Stack(key, service.authority_id)).services.append(service)
        else:
            fresh.append(service)
    for service in fresh:
        n = 1
        while True:
            key = service.authority_id if n == 1 else f"{service.authority_id}{PART}{n}"
            stack = stacks.setdefault(key, Stack(key, service.authority_id))
            if len(stack.services) < per_stack:
                stack.services.append(service)
                break
            n += 1
    for stack in stacks.values():
        stack.services.sort(key=lambda s: s.id)
    out = [stacks[k] for k in sorted(stacks) if stacks[k].services]
    _unique("nested application", {s.key: s.logical_id for s in out})
    return out


def _unique(what: str, names: Mapping[str, str]) -> None:
    """Two sources of one logical id (`permit-2b` and `permit2b` are both Permit2b) fail here."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for source, name in names.items():
        by_name[name].append(source)
    clashes = {name: sources for name, sources in by_name.items() if len(sources) > 1}
    if clashes:
        shown = "; ".join(f"{n} <- {', '.join(s)}" for n, s in sorted(clashes.items()))
        raise SystemExit(f"two {what}s would have one logical id: {shown}; rename one")


def existing_assignment(nested_dir: Path) -> dict[str, str]:
    """service id -> the stack key it was generated into (the nested templates' SERVICE_IDs)."""
    found: dict[str, str] = {}
    for path in sorted(nested_dir.glob("*.yaml")):
        for res in load_yaml(path)["Resources"].values():
            variables = ((res.get("Properties") or {}).get("Environment") or {}).get("Variables")
            service_id = (variables or {}).get(SERVICE_ID_VARIABLE)
            if isinstance(service_id, str):
                found[service_id] = path.stem
    return found
