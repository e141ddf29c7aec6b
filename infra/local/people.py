"""New people for a running local stack: copies of personas with fresh identifiers, their
departments' records loaded into the stack, and a token for each.

One grant per subject means the same persona is approved once per stack: the demo (run again
and again on one `make run`) and the end-to-end tests ask for someone new in the persona's
situation instead (seed.fresh_copy) — another elder aged 85 in Bao'an, another clean driver.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from miaopi.model import GRANT_SOURCE
from miaopi_platform.catalogue.services import find
from miaopi_platform.evidence.port import CREDIT_LIST_SOURCE
from miaopi_platform.privacy.pii import PiiHasher

from infra.local.idp import LocalIdentity
from infra.local.seed import (
    Persona,
    evidence_keys,
    fresh_copy,
    identifiers_of,
    persona_identity,
    put_all,
    read_personas,
    reference_items,
)
from infra.local.stack_file import issuer, local_client

#: the reference-data source under which the identifiers handed out to new people are kept
ISSUED = "local-issued-identifiers"
MAX_DRAWS = 20


def load(info: dict[str, Any], personas: list[Persona]) -> None:
    """Put the personas' records into the departments' data of the stack `info` describes
    (its reference data and credit list; the credit list is keyed by the PII hash)."""
    hasher = PiiHasher.from_secret(
        local_client(info, "secretsmanager"), info["secrets"]["PiiHashKeySecret"]
    )
    reference, credit = reference_items(personas, hasher.digest)
    dynamodb = local_client(info, "dynamodb")
    put_all(dynamodb, info["tables"]["ReferenceDataTable"], reference)
    put_all(dynamodb, info["tables"]["CreditListTable"], credit)


def fresh(info: dict[str, Any], personas: list[Persona], rng: random.Random) -> list[Persona]:
    """New people in the personas' situations, known to the stack's departments. Fresh
    identifiers share the persona's birth date (ages decide), so they are drawn from a few
    thousand per day: each copy is checked against the records the stack holds and against the
    identifiers handed out before (a marker per identifier, written with the copy), and drawn
    again when one is taken."""
    dynamodb = local_client(info, "dynamodb")
    table = info["tables"]["ReferenceDataTable"]
    seeded = _seeded_identifiers(info)
    copies: list[Persona] = []
    for persona in personas:
        shared = set(_keys(persona))  # what every copy keeps (a phone, an industry code)
        kept = set(identifiers_of(persona))
        for _attempt in range(MAX_DRAWS):
            copy = fresh_copy(persona, rng)
            keys = [key for key in _keys(copy) if key not in shared]
            mine = set(identifiers_of(copy)) - kept
            if not mine & seeded and not _any_taken(dynamodb, table, keys):
                break
        else:
            raise RuntimeError(f"no free identifiers for {persona.name!r} after {MAX_DRAWS} draws")
        put_all(
            dynamodb, table, [{"source": ISSUED, "key": value} for value in identifiers_of(copy)]
        )
        copies.append(copy)
    load(info, copies)
    return copies


_SEEDED: dict[tuple[str, int], frozenset[str]] = {}


def _seeded_identifiers(info: dict[str, Any]) -> frozenset[str]:
    """Every identifier of the stack's seeded personas, bulk copies included: some have no
    record in any department (a graduate unknown to the population register), so only the
    personas file knows they are taken, and a load run may have applied with them."""
    path = info.get("personasFile")
    if not path or not Path(path).exists():
        return frozenset()
    key = (path, Path(path).stat().st_mtime_ns)  # a stack seeded again writes the file again
    if key not in _SEEDED:
        _SEEDED[key] = frozenset(
            value for persona in read_personas(Path(path)) for value in identifiers_of(persona)
        )
    return _SEEDED[key]


def _keys(persona: Persona) -> list[tuple[str, str]]:
    """The reference-data keys the persona's records live under, and its identifiers' markers."""
    own = [
        key
        for key in evidence_keys(find(persona.service_id), persona.application).values()
        if key[0] not in (CREDIT_LIST_SOURCE, GRANT_SOURCE)
    ]
    return sorted({*own, *((ISSUED, value) for value in identifiers_of(persona))})


def _any_taken(dynamodb: Any, table: str, keys: list[tuple[str, str]]) -> bool:
    for start in range(0, len(keys), 100):
        wanted = [{"source": {"S": s}, "key": {"S": k}} for s, k in keys[start : start + 100]]
        answer = dynamodb.batch_get_item(
            RequestItems={
                table: {
                    "Keys": wanted,
                    "ProjectionExpression": "#s",
                    "ExpressionAttributeNames": {"#s": "source"},
                }
            }
        )
        if answer["Responses"].get(table):
            return True
    return False


def token(info: dict[str, Any], persona: Persona) -> str:
    """A token of whom the persona's application is for (seed.persona_identity)."""
    return issuer(info).mint(persona_identity(persona))


def person_token(info: dict[str, Any], id_number: str, name: str) -> str:
    """A token of a person by their ID number (an agent the form names, say)."""
    return issuer(info).mint(LocalIdentity.person(id_number, name))
