"""New people for a running local stack: copies of personas with fresh identifiers, their
departments' records loaded into the stack, and a token for each.

One grant per subject means the same persona is approved once per stack: the demo (run again
and again on one `make run`) and the end-to-end tests ask for someone new in the persona's
situation instead (seed.fresh_copy) — another elder aged 85 in Bao'an, another clean driver.
"""

from __future__ import annotations

import random
from typing import Any

from miaopi_platform.privacy.pii import PiiHasher

from infra.local.seed import Persona, fresh_copy, persona_identity, put_all, reference_items
from infra.local.stack_file import issuer, local_client


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
    """New people in the personas' situations, known to the stack's departments."""
    copies = [fresh_copy(p, rng) for p in personas]
    load(info, copies)
    return copies


def token(info: dict[str, Any], persona: Persona) -> str:
    """A token of whom the persona's application is for (seed.persona_identity)."""
    return issuer(info).mint(persona_identity(persona))
