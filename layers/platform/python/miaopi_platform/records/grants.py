"""One grant per subject: the platform's own register of what each service grants once.

A service declares in its data what a grant is unique by (the elder, the vehicle, the enterprise
and project name); the engine turns it into an evidence request of the `platform-grants` source,
so the rules read "is one in force or being decided?" like any other evidence, in the same
BatchGetItem, and reject a second application with a reason, a remedy and a legal basis.

The register is race-free by construction: the decision's own transaction takes the grant with a
conditional Put (free, released, or already this application's). Two concurrent applications
for the same elder cannot both pass the condition: the loser is decided again with the fresh
evidence, and the grant rule rejects it. A reviewer's approval confirms the grant (IN_FORCE); a
reviewer's rejection or a revocation releases it, so the subject may apply again.

The table's key is a keyed hash of the service and the unique-by values (an ID number is
personal data); the item holds the holding application's id, its state and when it changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast

from miaopi.engine import evidence_requests
from miaopi.model import (
    GRANT_DECIDING,
    GRANT_IN_FORCE,
    GRANT_SOURCE,
    EvidenceRequest,
    Outcome,
    ServiceDefinition,
)

from miaopi_platform.aws.dynamo import to_item
from miaopi_platform.privacy.pii import PiiHasher

GRANT_KEY = "grantKey"

GrantStatus = Literal["IN_FORCE", "DECIDING", "RELEASED"]
#: what the rules read (miaopi.model), and the state a released grant is kept in
IN_FORCE = cast(GrantStatus, GRANT_IN_FORCE)
DECIDING = cast(GrantStatus, GRANT_DECIDING)
RELEASED: GrantStatus = "RELEASED"
#: what the rules see of a grant: whether it is in force or being decided, and since when
EVIDENCE_ATTRIBUTES = ("status", "since")

#: the Put that takes a grant: nobody holds it, it was released, or it is already ours (a retry)
TAKE_CONDITION = f"attribute_not_exists({GRANT_KEY}) OR #status = :released OR applicationId = :app"
#: the Update that confirms or releases a grant: only the holder's (or one never taken)
HOLDER_CONDITION = f"attribute_not_exists({GRANT_KEY}) OR applicationId = :app"


def table_key(hasher: PiiHasher, service_id: str, unique_by: str) -> str:
    """The grants table's key: a keyed hash of the service and what the grant is unique by."""
    return hasher.derive("grant", service_id, unique_by)


def scoped(
    hasher: PiiHasher, service_id: str, requests: Iterable[EvidenceRequest]
) -> list[EvidenceRequest]:
    """The evidence requests with the grant's request keyed as the grants table is: the port
    reads the register by that hash and never sees the identifiers."""
    return [
        EvidenceRequest(r.alias, r.source, table_key(hasher, service_id, r.key))
        if r.source == GRANT_SOURCE
        else r
        for r in requests
    ]


def grant_key_of(
    hasher: PiiHasher, service: ServiceDefinition, application: dict[str, Any]
) -> str | None:
    """The grants table key of an application (None when its service grants nothing once or
    the application leaves what a grant is unique by empty)."""
    requests, _ = evidence_requests(service, application)
    for request in scoped(hasher, service.id, requests):
        if request.source == GRANT_SOURCE:
            return request.key
    return None


def status_for(outcome: Outcome) -> GrantStatus | None:
    """What a decision does to its grant: an approval holds it, a referral reserves it while a
    reviewer decides; a rejection takes nothing."""
    if outcome is Outcome.APPROVED:
        return IN_FORCE
    if outcome is Outcome.PENDING_REVIEW:
        return DECIDING
    return None


def take(
    table: str,
    key: str,
    service_id: str,
    application_id: str,
    status: GrantStatus,
    since: str,
    at: str,
) -> dict[str, Any]:
    """The transaction item that takes the grant for an application: `since` is the
    application date (what the rules read), `at` the moment."""
    item = {
        GRANT_KEY: key,
        "serviceId": service_id,
        "applicationId": application_id,
        "status": status,
        "since": since,
        "changedAt": at,
    }
    return {
        "Put": {
            "TableName": table,
            "Item": to_item(item),
            "ConditionExpression": TAKE_CONDITION,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": to_item({":released": RELEASED, ":app": application_id}),
        }
    }


def settle(
    table: str, key: str, application_id: str, status: GrantStatus, decision_id: str, at: str
) -> dict[str, Any]:
    """The transaction item that confirms (IN_FORCE) or releases (RELEASED) the application's
    grant, naming the decision that did it."""
    return {"Update": {"TableName": table, **change(key, application_id, status, decision_id, at)}}


def change(
    key: str, application_id: str, status: GrantStatus, decision_id: str, at: str
) -> dict[str, Any]:
    """`settle`'s Update without its table: what the review workflow is handed to record with
    a reviewer's decision (the workflow names the table)."""
    return {
        "Key": {GRANT_KEY: {"S": key}},
        "UpdateExpression": "SET #status = :status, changedAt = :at, applicationId = :app, "
        "changedBy = :decision",
        "ConditionExpression": HOLDER_CONDITION,
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": to_item(
            {":status": status, ":at": at, ":app": application_id, ":decision": decision_id}
        ),
    }


def held_by(hasher: PiiHasher, service: ServiceDefinition, record: Mapping[str, Any]) -> str:
    """The grants table key a decided application holds (or held): from its recorded
    application; one of its own when its service grants nothing once, so that settling it
    never touches another application's grant."""
    application = record.get("application")
    key = grant_key_of(hasher, service, application) if isinstance(application, dict) else None
    return key or hasher.derive("grant", service.id, "application", str(record["applicationId"]))
