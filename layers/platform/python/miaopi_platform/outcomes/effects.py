"""What an approval changes in a receiving department's data (the service's `results:` effect),
as the record to write: the local stack's department stand-ins apply it, marked with the event
that caused it, so supervision recognises the approval's own effect (evidence.port.caused_by)
and a redelivered event changes nothing twice."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from miaopi.engine import evidence_requests
from miaopi.model import ServiceDefinition
from miaopi.workdays import CHINA

from miaopi_platform.evidence.port import EFFECT_MARK
from miaopi_platform.outcomes.events import OutcomeDetail


@dataclass(frozen=True)
class Effect:
    department: str
    #: the reference data's (source, key) the department's record lives under
    source: str
    key: str
    #: the attributes to set on the record (the mark included)
    attributes: dict[str, Any]


def effects(
    service: ServiceDefinition,
    detail: OutcomeDetail,
    application: dict[str, Any],
    department: str,
) -> list[Effect]:
    """The records `department` changes for this event: only an approval has effects; the
    `application` is the normalised one the approval was decided on."""
    if detail["outcome"] != "APPROVED" or department not in detail["departments"]:
        return []
    requests, _skipped = evidence_requests(service, application)
    keys = {r.alias: r.key for r in requests}
    decided_at = dt.datetime.fromisoformat(detail["occurredAt"].replace("Z", "+00:00"))
    day = decided_at.astimezone(CHINA).date().isoformat()
    out: list[Effect] = []
    for result in service.file.results:
        effect = result.effect
        if effect is None or result.department != department:
            continue
        if effect.evidence is not None:
            source, key = service.evidence[effect.evidence].source, keys.get(effect.evidence)
        else:
            source, key = str(effect.source), detail["certificateNumber"]
        if not key:
            continue
        mark = {
            "eventId": detail["eventId"],
            "applicationId": detail["applicationId"],
            "decisionId": detail["decisionId"],
        }
        attributes = {**effect.set, **dict.fromkeys(effect.dated, day), EFFECT_MARK: mark}
        out.append(Effect(department, source, key, attributes))
    return out
