"""Who may apply (无差别受理, but only for oneself): the signed-in identity against the form.

Each service says in its data who may submit for the subject (`applicants` in service.yaml): the
subject in person (SELF), the agent the form names (AGENT, 代办), the enterprise whose credit
code the form carries (LEGAL_PERSON) or the enterprise's registered operator per the business
register (OPERATOR). The token carries the keyed hash of the caller's ID number or credit code;
the form's identifiers are hashed with the same key and compared, so no identifier is ever
compared in clear or logged. Anyone else is refused (403) before anything is written.

At a service hall (线下办事厅) a clerk with the `counter` role of the service's authority submits
for a person who is present, after checking their identity (an ID-card reader, say): the capacity
is that of the person present — the agent when the form names one, else the one the application
is for — and the record names the clerk and the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from miaopi.engine import applicant_identifiers
from miaopi.model import Capacity, EvidenceItem, ServiceDefinition

from miaopi_platform.aws.errors import Forbidden
from miaopi_platform.identity.context import Assurance, Identity
from miaopi_platform.privacy.pii import PiiHasher
from miaopi_platform.records.items import Submitter

#: applying online needs a real name bound to a second factor (context.py: L2)
APPLY_ASSURANCE = Assurance.L2
COUNTER_ROLE = "counter"
#: who the application is for, of the capacities a service declares: its holder
_HOLDERS = (Capacity.SELF, Capacity.LEGAL_PERSON)


class Channel(StrEnum):
    ONLINE = "ONLINE"
    #: submitted by a clerk at a service hall for a person present
    COUNTER = "COUNTER"


class IdentityCheck(StrEnum):
    """How a counter clerk checked the identity of the person present."""

    ID_CARD_READER = "ID_CARD_READER"  # the chip of the resident ID card read at the counter
    FACE_COMPARISON = "FACE_COMPARISON"  # a live face compared with the police photo
    DOCUMENT_INSPECTION = "DOCUMENT_INSPECTION"  # the card or a passport inspected by the clerk


@dataclass(frozen=True, slots=True)
class Caller:
    """Who submits: the verified identity, and at a counter the check the clerk did."""

    identity: Identity
    identity_check: IdentityCheck | None = None

    @property
    def channel(self) -> Channel:
        return Channel.ONLINE if self.identity_check is None else Channel.COUNTER


def admitted(service: ServiceDefinition, caller: Caller) -> None:
    """What the caller must be before the form is looked at: a counter clerk of the service's
    authority at a counter, an identity of sufficient assurance online. 403 otherwise."""
    identity = caller.identity
    if caller.channel is Channel.COUNTER:
        if not identity.may(COUNTER_ROLE, service.authority_id):
            raise Forbidden(
                "submitting at a counter needs the counter role of the service's authority",
                [{"field": "Counter-Identity-Check", "code": "counter_role_required"}],
            )
        return
    if identity.assurance < APPLY_ASSURANCE:
        raise Forbidden(
            f"applying needs real-name assurance {APPLY_ASSURANCE.name} or higher; "
            "raise it with the identity platform (bank card or face check)",
            [{"code": "insufficient_assurance"}],
        )


def capacity(
    service: ServiceDefinition,
    application: dict[str, object],
    evidence: Mapping[str, EvidenceItem],
    caller: Caller,
    hasher: PiiHasher,
) -> Capacity | None:
    """In what capacity the caller submits this application, or None when none of the
    service's ways matches (yet: a way read from evidence matches only once it is gathered)."""
    ways = applicant_identifiers(service, dict(application), evidence)
    if caller.channel is Channel.COUNTER:
        declared = [way for way, _ in ways]
        if Capacity.AGENT in declared:
            return Capacity.AGENT
        return declared[0] if declared else None
    mine = caller.identity.subject_id_hash
    return next((way for way, value in ways if hasher.digest(value) == mine), None)


def reads_evidence(service: ServiceDefinition) -> bool:
    """Whether one of the service's ways is read from evidence (a registered operator)."""
    return any(way.sources for way in service.applicants)


def holder_hash(
    service: ServiceDefinition, application: dict[str, object], hasher: PiiHasher
) -> str | None:
    """The keyed hash of whom the application is for (the person or enterprise in person):
    they see it in their own list whoever submitted it."""
    for way, value in applicant_identifiers(service, dict(application), {}):
        if way in _HOLDERS:
            return hasher.digest(value)
    return None


def refused() -> Forbidden:
    return Forbidden(
        "you may apply only for yourself, as the agent the form names, or for your enterprise",
        [{"code": "not_the_applicant"}],
    )


def submitter(caller: Caller, way: Capacity) -> Submitter:
    """Who submitted, in what capacity, through which channel: for the records."""
    out: Submitter = {"capacity": way.value, "channel": caller.channel.value}
    if caller.identity_check is not None:
        out["clerkId"] = caller.identity.subject
        out["identityCheck"] = caller.identity_check.value
    return out
