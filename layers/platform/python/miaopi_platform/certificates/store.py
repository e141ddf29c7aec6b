"""The certificates table: one item per certificate number, the signed document and its status.

Issuing and revoking are each one UpdateItem that commutes with the other and with itself: a
redelivered stream record changes nothing, and a revocation read before the approval it revokes
(the two records may sit on different stream shards) still leaves the certificate REVOKED.
"""

from __future__ import annotations

import json
from typing import Any, Literal, NotRequired, TypedDict, cast

from miaopi_platform.aws.dynamo import ConditionFailed, dynamodb_errors, from_item
from miaopi_platform.certificates.document import Document, Payload

Status = Literal["ISSUING", "VALID", "REVOKED"]
_WHAT = "the certificates"


class CertificateItem(TypedDict):
    number: str
    status: Status
    #: the canonical payload (document.canonical) as text, and its signature (base64)
    payload: NotRequired[str]
    signature: NotRequired[str]
    applicationId: NotRequired[str]
    decisionId: NotRequired[str]
    issuedAt: NotRequired[str]
    revokedAt: NotRequired[str]
    #: the revocation's decision id
    revokedBy: NotRequired[str]


def document_of(item: CertificateItem) -> Document | None:
    """The signed document an item holds, or None while it is not yet signed."""
    if "payload" not in item or "signature" not in item:
        return None
    return {"payload": cast("Payload", json.loads(item["payload"])), "signature": item["signature"]}


class CertificateStore:
    def __init__(self, client: Any, table: str, applications_table: str) -> None:
        self._client = client
        self._table = table
        self._applications = applications_table

    def get(self, number: str) -> CertificateItem | None:
        with dynamodb_errors(_WHAT):
            answer = self._client.get_item(TableName=self._table, Key={"number": {"S": number}})
        item = answer.get("Item")
        return cast("CertificateItem", from_item(item)) if item else None

    def issue(
        self,
        number: str,
        application_id: str,
        decision_id: str,
        canonical_text: str,
        signature: str,
        at: str,
    ) -> None:
        """Store the signed document once; VALID unless already revoked."""
        with dynamodb_errors(_WHAT):
            self._client.update_item(
                TableName=self._table,
                Key={"number": {"S": number}},
                UpdateExpression=(
                    "SET payload = if_not_exists(payload, :p), "
                    "signature = if_not_exists(signature, :s), "
                    "applicationId = :a, decisionId = :d, issuedAt = if_not_exists(issuedAt, :at), "
                    "#status = if_not_exists(#status, :valid)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":p": {"S": canonical_text},
                    ":s": {"S": signature},
                    ":a": {"S": application_id},
                    ":d": {"S": decision_id},
                    ":at": {"S": at},
                    ":valid": {"S": "VALID"},
                },
            )

    def revoke(self, number: str, application_id: str, revocation_id: str, at: str) -> None:
        """REVOKED from now on, whatever came before (the first revocation's time is kept)."""
        with dynamodb_errors(_WHAT):
            self._client.update_item(
                TableName=self._table,
                Key={"number": {"S": number}},
                UpdateExpression=(
                    "SET #status = :revoked, applicationId = :a, "
                    "revokedAt = if_not_exists(revokedAt, :at), "
                    "revokedBy = if_not_exists(revokedBy, :by)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":revoked": {"S": "REVOKED"},
                    ":a": {"S": application_id},
                    ":at": {"S": at},
                    ":by": {"S": revocation_id},
                },
            )

    def mark_application_valid(self, application_id: str, number: str, at: str) -> bool:
        """The application's copy of the certificate leaves ISSUING, signed `at` (and only
        that: a revocation already recorded there stays). False when there was nothing to
        change."""
        try:
            with dynamodb_errors(_WHAT):
                self._client.update_item(
                    TableName=self._applications,
                    Key={"applicationId": {"S": application_id}},
                    UpdateExpression="SET certificate.#status = :valid, certificate.signedAt = :at",
                    ConditionExpression=(
                        "certificate.#number = :n AND certificate.#status = :issuing"
                    ),
                    ExpressionAttributeNames={"#status": "status", "#number": "number"},
                    ExpressionAttributeValues={
                        ":valid": {"S": "VALID"},
                        ":issuing": {"S": "ISSUING"},
                        ":n": {"S": number},
                        ":at": {"S": at},
                    },
                )
        except ConditionFailed:
            return False
        return True
