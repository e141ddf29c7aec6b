"""The synthetic data set: deterministic, generated, never hand-typed.

Personas come from the services' own cases (cases.yaml): every path of every service (a clean
approval, each rule failing, each source unavailable, a listed subject) becomes a persona with
fresh, valid identifiers (real check digits) so that personas never share records, and with its
dates re-anchored to the day the data set is made (a case's "aged 80 today" stays "aged 80
today"). Each persona is then decided by the engine on that day; a persona whose outcome the
re-anchoring changed (a leap day between the dates) is left out, so every persona's expected
outcome is what the rules say. Bulk copies of the cases, with their own identifiers, make the
load-test population (thousands of people, enterprises, vehicles).

A case runs once as a persona even when cases.yaml runs it again under a later rule set
(`alsoOn`): re-anchored to the day, the rule set in force that day decides it. Cases that hold a
grant (`ev.grant`) are no personas: the grants are the platform's own records, made by applying,
so every persona starts with none.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from miaopi.cases import UNAVAILABLE, LoadedCase, all_cases, evidence_item, mismatches
from miaopi.engine import applicant_identifiers, decide, evidence_requests
from miaopi.forms import form_paths, normalize
from miaopi.identifiers import KINDS
from miaopi.loader import load_catalogue
from miaopi.model import GRANT_ALIAS, EvidenceStatus, ServiceDefinition
from miaopi_platform.catalogue.services import find
from miaopi_platform.evidence.port import CREDIT_LIST_SOURCE, SIMULATE_ATTRIBUTE
from miaopi_rules import SERVICES_DIR
from stdnum import luhn
from stdnum.cn import ric, uscc

from infra.local.idp import LocalIdentity

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHENZHEN_AREAS = ("440303", "440304", "440305", "440306", "440307", "440308", "440309", "440310")
_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_VIN_VALUES = {c: (i % 9) + 1 for i, c in enumerate("ABCDEFGH")} | {
    **{c: v for c, v in zip("JKLMN", range(1, 6), strict=True)},
    "P": 7,
    "R": 9,
    **{c: v for c, v in zip("STUVWXYZ", range(2, 10), strict=True)},
    **{str(d): d for d in range(10)},
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
#: evidence attributes that link two records of one persona (the elder's and the agent's
#: household): new values per persona, so that personas never share a household
_LINKS = ("householdId",)


@dataclass
class Persona:
    service_id: str
    name: str
    application: dict[str, Any]
    evidence: dict[str, Any]
    expected_outcome: str
    expected_failing: list[str]
    expected_outputs: dict[str, Any] = field(default_factory=dict)
    bulk: bool = False


@dataclass(frozen=True)
class Shift:
    """Move a case's dates to another day: whole years first (keeping month and day, so "turns
    35 tomorrow" stays true), then the remaining days."""

    years: int
    days: int

    @classmethod
    def between(cls, case_day: dt.date, on: dt.date) -> Shift:
        years = on.year - case_day.year
        return cls(years, (on - _add_years(case_day, years)).days)

    def apply(self, day: dt.date) -> dt.date:
        return _add_years(day, self.years) + dt.timedelta(days=self.days)


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year + years, day=28)


def _shift_date(text: str, shift: Shift) -> str:
    return shift.apply(dt.date.fromisoformat(text)).isoformat()


def _rekey_ric(value: str, rng: random.Random, shift: Shift) -> str:
    birth = shift.apply(dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14])))
    area = value[:6] if value[:4] != "4403" else rng.choice(_SHENZHEN_AREAS)
    first = f"{area}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return first + ric.calc_check_digit(first + "0")


def _rekey_uscc(value: str, rng: random.Random) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = value[:8] + "".join(rng.choice(alphabet) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def _rekey_card(value: str, rng: random.Random) -> str:
    body = value[:6] + "".join(str(rng.randrange(10)) for _ in range(len(value) - 7))
    return body + luhn.calc_check_digit(body)


def _rekey_vin(value: str, rng: random.Random) -> str:
    chars = list(value[:3].upper() + "".join(rng.choice(_VIN_CHARS) for _ in range(14)))
    chars[8] = "0"
    total = sum(_VIN_VALUES[c] * w for c, w in zip(chars, _VIN_WEIGHTS, strict=True)) % 11
    chars[8] = "X" if total == 10 else str(total)
    return "".join(chars)


def _rekey_plate(value: str, rng: random.Random) -> str:
    plate = value.replace(" ", "").replace("·", "").upper()
    return plate[:2] + "".join(rng.choice(_PLATE_CHARS) for _ in range(len(plate) - 2))


def _rekey_text(value: str, rng: random.Random) -> str:
    """Other keys (tokens, certificate and licence numbers): new trailing digits, same shape."""
    match = re.search(r"\d+$", value)
    if match:
        digits = len(match.group())
        return value[: match.start()] + f"{rng.randrange(10**digits):0{digits}d}"
    return value + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(4))


def _kinds_by_value(service: ServiceDefinition, application: dict[str, Any]) -> dict[str, str]:
    """The application's values that identify someone or something, with their kind."""
    out: dict[str, str] = {}
    for path, spec in form_paths(service.file.form).items():
        value: Any = application
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value and spec.type == "identifier":
            out[value] = (
                (spec.kinds or ["text"])[0] if len(spec.kinds or []) == 1 else _guess(value)
            )
    for definition in service.evidence.values():
        if definition.key.simple_path and definition.key.simple_path[0] == "app":
            value = application
            for part in definition.key.simple_path[1:]:
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, str) and value and value not in out:
                out[value] = "text"
    return out


def _evidence_kinds(service: ServiceDefinition, evidence: dict[str, Any]) -> dict[str, str]:
    """Identifiers only the sources hold (an enterprise's registered operator), with their kind,
    and the values that link a persona's records (a household)."""
    out: dict[str, str] = {}
    for alias, spec in service.file.evidence.items():
        record = evidence.get(alias)
        if not isinstance(record, dict):
            continue
        for name, attribute in spec.attributes.items():
            value = record.get(name)
            if isinstance(value, str) and value and (attribute.kinds or name in _LINKS):
                out[value] = (attribute.kinds or ["text"])[0]
    return out


def _guess(value: str) -> str:
    return "cn.ric" if re.fullmatch(r"\d{17}[\dX]", value) else "cn.uscc"


def _replace(value: Any, mapping: dict[str, str], shift: Shift) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, mapping, shift) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, mapping, shift) for v in value]
    if isinstance(value, str):
        if value in mapping:
            return mapping[value]
        if _DATE.match(value):
            return _shift_date(value, shift)
    if isinstance(value, dt.date):
        return shift.apply(value).isoformat()
    return value


def _rekey(
    service: ServiceDefinition, loaded: LoadedCase, rng: random.Random, shift: Shift
) -> tuple[dict[str, Any], dict[str, Any]]:
    raw_evidence = {
        alias: (
            item.record
            if item.record is not None
            else (UNAVAILABLE if item.status.value == UNAVAILABLE else None)
        )
        for alias, item in loaded.evidence.items()
    }
    mapping = _new_identifiers(service, loaded.application, raw_evidence, rng, shift)
    return _replace(loaded.application, mapping, shift), _replace(raw_evidence, mapping, shift)


def _new_identifiers(
    service: ServiceDefinition,
    application: dict[str, Any],
    evidence: dict[str, Any],
    rng: random.Random,
    shift: Shift,
) -> dict[str, str]:
    """Each identifying value of an application and its evidence (an agent's ID number, an
    operator's) -> a fresh one of its kind (born `shift` later)."""
    mapping: dict[str, str] = {}
    kinds = _kinds_by_value(service, application) | _evidence_kinds(service, evidence)
    for value, kind in kinds.items():
        if kind == "cn.ric":
            mapping[value] = _rekey_ric(value, rng, shift)
        elif kind == "cn.uscc":
            mapping[value] = _rekey_uscc(value, rng)
        elif kind == "bankcard":
            mapping[value] = _rekey_card(value, rng)
        elif kind == "vin":
            mapping[value] = _rekey_vin(value, rng)
        elif kind == "cn.plate":
            mapping[value] = _rekey_plate(value, rng)
        elif kind != "cn.mobile":
            mapping[value] = _rekey_text(value, rng)
    # The sources hold normalized identifiers (upper case, no spaces): those move too.
    for value, kind in kinds.items():
        if kind in KINDS and value in mapping:
            mapping.setdefault(KINDS[kind].normalize(value), mapping[value])
    return mapping


def fresh_copy(persona: Persona, rng: random.Random) -> Persona:
    """The same persona with new identifiers (ID numbers, credit codes, cards, VINs, licence
    numbers), on the same day: another person in the same situation, for a test that needs
    someone nobody has applied for yet (one grant per subject). Load its `reference_items`."""
    service = find(persona.service_id)
    same_day = Shift(0, 0)
    mapping = _new_identifiers(service, persona.application, persona.evidence, rng, same_day)
    return Persona(
        service_id=persona.service_id,
        name=persona.name,
        application=_replace(persona.application, mapping, same_day),
        evidence=_replace(persona.evidence, mapping, same_day),
        expected_outcome=persona.expected_outcome,
        expected_failing=list(persona.expected_failing),
        expected_outputs=dict(persona.expected_outputs),
        bulk=persona.bulk,
    )


def identifiers_of(persona: Persona) -> list[str]:
    """The values of a persona's application that identify someone or something."""
    return sorted(_kinds_by_value(find(persona.service_id), persona.application))


def generate(on: dt.date, copies: int = 0, seed: int = 2018) -> tuple[list[Persona], list[str]]:
    """Personas for every case of every service on day `on`, plus `copies` bulk copies of each."""
    services = load_catalogue(SERVICES_DIR)
    rng = random.Random(seed)
    personas: list[Persona] = []
    dropped: list[str] = []
    used: dict[tuple[str, str], str] = {}
    for loaded in all_cases(services, SERVICES_DIR):
        if loaded.again or _holds_grant(loaded):
            continue
        service = services[loaded.service_id]
        assert loaded.case.date is not None
        shift = Shift.between(loaded.case.date, on)
        for copy in range(copies + 1):
            for _attempt in range(20):
                application, evidence = _rekey(service, loaded, rng, shift)
                keys = evidence_keys(service, application)
                if all((source, key) not in used for source, key in keys.values()):
                    break
            else:
                dropped.append(f"{loaded.id}: no free identifiers")
                continue
            persona = Persona(
                service_id=service.id,
                name=loaded.case.name if copy == 0 else f"{loaded.case.name} #{copy}",
                application=application,
                evidence=evidence,
                expected_outcome=loaded.case.expect.outcome,
                expected_failing=sorted(loaded.case.expect.failing),
                expected_outputs={
                    k: _replace(v, {}, shift) for k, v in (loaded.case.expect.outputs or {}).items()
                },
                bulk=copy > 0,
            )
            problem = _verify(service, persona, loaded, on)
            if problem:
                dropped.append(f"{loaded.id}: {problem}")
                continue
            for source, key in keys.values():
                used[(source, key)] = persona.name
            personas.append(persona)
    return personas, dropped


def _holds_grant(loaded: LoadedCase) -> bool:
    grant = loaded.evidence.get(GRANT_ALIAS)
    return grant is not None and grant.status is not EvidenceStatus.ABSENT


def evidence_keys(
    service: ServiceDefinition, application: dict[str, Any]
) -> dict[str, tuple[str, str]]:
    """Per evidence alias, the (source, key) an application's evidence is looked up by."""
    normalized = normalize(service.form_model, application)
    requests, _ = evidence_requests(service, normalized)
    return {r.alias: (r.source, r.key) for r in requests}


def _verify(
    service: ServiceDefinition, persona: Persona, loaded: LoadedCase, on: dt.date
) -> str | None:
    rule_set = service.rule_set_on(on)
    if rule_set is None:
        return "no rule set in force"
    application = normalize(service.form_model, persona.application)
    evidence = {alias: evidence_item(v) for alias, v in persona.evidence.items()}
    decision = decide(service, rule_set, application, evidence, on)
    # Outputs such as the first payment month follow the day; the outcome must not.
    shifted = loaded.case.model_copy(
        update={"expect": loaded.case.expect.model_copy(update={"outputs": None})}
    )
    problems = mismatches(
        LoadedCase(loaded.service_id, loaded.file, shifted, persona.application, evidence), decision
    )
    if not problems:
        persona.expected_outputs = {k: str(v) for k, v in decision.outputs.items()}
    return "; ".join(problems) or None


def reference_items(
    personas: list[Persona], digest: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Items for the reference-data table and for the credit list."""
    reference: list[dict[str, Any]] = []
    credit: list[dict[str, Any]] = []
    for persona in personas:
        service = find(persona.service_id)
        for alias, (source, key) in evidence_keys(service, persona.application).items():
            value = persona.evidence.get(alias)
            if value is None:
                continue
            if source == CREDIT_LIST_SOURCE:
                if value == UNAVAILABLE:
                    credit.append({"subjectHash": digest(key), SIMULATE_ATTRIBUTE: UNAVAILABLE})
                else:
                    credit.append({"subjectHash": digest(key), **value})
            elif value == UNAVAILABLE:
                reference.append({"source": source, "key": key, SIMULATE_ATTRIBUTE: UNAVAILABLE})
            else:
                reference.append({"source": source, "key": key, "record": value})
    return reference, credit


def persona_identity(persona: Persona) -> LocalIdentity:
    """Who signs in as a persona: whom its application is for, by the service's first way of
    applying (`applicants`: the person by their ID number, the enterprise by its credit code),
    with the name the form gives, if any."""
    service = find(persona.service_id)
    application = normalize(service.form_model, persona.application)
    [(_way, identifier), *_] = applicant_identifiers(service, application, {})
    name = str(persona.application.get("name") or persona.name)
    if uscc.is_valid(identifier):
        return LocalIdentity.legal_person(identifier, name)
    return LocalIdentity.person(identifier, name)


def write_personas(path: Path, personas: list[Persona]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps([asdict(p) for p in personas], ensure_ascii=False, indent=1), encoding="utf-8"
    )


def read_personas(path: Path) -> list[Persona]:
    return [Persona(**p) for p in json.loads(path.read_text(encoding="utf-8"))]


def _batches(items: list[dict[str, Any]], size: int = 25) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def put_all(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    from miaopi_platform.aws.dynamo import to_item

    for batch in _batches(items):
        request = {table: [{"PutRequest": {"Item": to_item(item)}} for item in batch]}
        while request:
            answer = dynamodb.batch_write_item(RequestItems=request)
            request = answer.get("UnprocessedItems") or {}


#: bulk copies of every case: with ~130 cases, about 2,600 personas for load tests
DEFAULT_COPIES = 20


# ---------------------------------------------------------------- through the departments' loader


def source_files(
    personas: list[Persona], version: int
) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[str, str]]]:
    """What each department would deliver for the personas: per source, the lines of its file
    (docs/intake.md), from the same items `reference_items` makes; and the (source, key) of each
    record that simulates a source not answering, which no file can say."""
    reference, credit = reference_items(personas, str)  # the loader hashes the credit list's keys
    files: dict[str, list[dict[str, Any]]] = {}
    down: list[tuple[str, str]] = []
    for item in reference:
        if "record" in item:
            line = {"key": item["key"], "version": version, "record": item["record"]}
            files.setdefault(item["source"], []).append(line)
        else:
            down.append((item["source"], item["key"]))
    for entry in credit:
        key = entry.pop("subjectHash")
        if entry.get(SIMULATE_ATTRIBUTE) == UNAVAILABLE:
            down.append((CREDIT_LIST_SOURCE, key))
        else:
            files.setdefault(CREDIT_LIST_SOURCE, []).append(
                {"key": key, "version": version, "record": entry}
            )
    return files, down


def load(
    deployment: Any,
    clients: Any,
    *,
    personas_file: Path,
    runtime: Any,
    copies: int = DEFAULT_COPIES,
    on: dt.date | None = None,
) -> dict[str, Any]:
    """Deliver the local reference data and credit list as the departments would, one file per
    source into the intake bucket, loaded by the loader function (infra/local/intake.py); write
    the personas for the demo."""
    from miaopi_platform.applications.flow import CHINA
    from miaopi_platform.aws.settings import Settings
    from miaopi_platform.privacy.pii import PiiHasher

    from infra.local.intake import LocalIntake

    day = on or dt.datetime.now(CHINA).date()
    settings = next(
        Settings.from_env(f.environment)
        for f in deployment.functions.values()
        if "REFERENCE_TABLE" in f.environment
    )
    personas, dropped = generate(day, copies)
    version = int(time.time() * 1000)
    files, down = source_files(personas, version)
    intake = LocalIntake(deployment, runtime, clients)
    counts = {"loaded": 0, "unchanged": 0, "rejected": 0}
    for source, lines in sorted(files.items()):
        body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        report = intake.deliver(f"{source}/seed-{day.isoformat()}.jsonl", body.encode("utf-8"))
        for name in counts:
            counts[name] += report["counts"][name]
    # a source that does not answer is not a delivery: those few items are written as they are
    hasher = PiiHasher.from_secret(clients.secretsmanager, settings.pii_key_secret_arn)
    unavailable = {SIMULATE_ATTRIBUTE: UNAVAILABLE}
    put_all(
        clients.dynamodb,
        settings.reference_table,
        [{"source": s, "key": k, **unavailable} for s, k in down if s != CREDIT_LIST_SOURCE],
    )
    put_all(
        clients.dynamodb,
        settings.credit_list_table,
        [
            {"subjectHash": hasher.digest(k), **unavailable}
            for s, k in down
            if s == CREDIT_LIST_SOURCE
        ],
    )
    write_personas(personas_file, personas)
    return {
        "day": day.isoformat(),
        "personas": sum(not p.bulk for p in personas),
        "bulk": sum(p.bulk for p in personas),
        "referenceItems": sum(len(v) for k, v in files.items() if k != CREDIT_LIST_SOURCE)
        + sum(s != CREDIT_LIST_SOURCE for s, _ in down),
        "creditListItems": len(files.get(CREDIT_LIST_SOURCE, []))
        + sum(s == CREDIT_LIST_SOURCE for s, _ in down),
        "sources": len(files),
        "loaded": counts,
        "dropped": dropped,
    }
