"""The supervision table: one record per supervised approval, written in one transaction with
its revocation when re-verification fails (and the subject's credit-list entry when the data
was false)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from miaopi_platform.aws.dynamo import (
    CONDITION_FAILED,
    ConditionFailed,
    dynamodb_errors,
    from_item,
    to_item,
)
from miaopi_platform.credit.store import EntryChanged
from miaopi_platform.supervision.items import (
    REVOKED,
    UNDER_SUPERVISION,
    Revocation,
    SupervisionRecord,
    VerificationRecord,
)

_WHAT = "the supervision records"


class SupervisionStore:
    """Supervision records (one per automatic approval), with their revocations."""

    BY_SUBJECT = "bySubject"

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, decision_id: str) -> SupervisionRecord | None:
        with dynamodb_errors(_WHAT):
            answer = self._client.get_item(
                TableName=self._table, Key={"decisionId": {"S": decision_id}}, ConsistentRead=True
            )
        item = answer.get("Item")
        return _record(item) if item else None

    def create(
        self,
        item: SupervisionRecord,
        revoke: Revocation | None,
        decisions_table: str,
        applications_table: str,
        listing: Sequence[dict[str, Any]] = (),
    ) -> bool:
        """The supervision record, with the revocation when there is one and the subject's
        credit-list writes (`listing`) when it was for false data: all or nothing. False when it
        was written already (a redelivered record); EntryChanged when the credit-list entry
        changed since the listing was prepared (the stream record is tried again)."""
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(item),
                    "ConditionExpression": "attribute_not_exists(decisionId)",
                }
            }
        ]
        if revoke:
            writes += _revocation_writes(revoke, decisions_table, applications_table)
        try:
            return self._transact([*writes, *listing], ours=len(writes))
        except ConditionFailed:
            raise EntryChanged("the credit-list entry changed meanwhile; read it again") from None

    def revoke_supervised(
        self,
        decision_id: str,
        recheck: VerificationRecord,
        revoke: Revocation,
        decisions_table: str,
        applications_table: str,
    ) -> bool:
        writes: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"decisionId": {"S": decision_id}},
                    "UpdateExpression": "SET #status = :revoked, recheck = :recheck",
                    "ConditionExpression": "#status = :under",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": to_item(
                        {":revoked": REVOKED, ":recheck": recheck, ":under": UNDER_SUPERVISION}
                    ),
                }
            },
            *_revocation_writes(revoke, decisions_table, applications_table),
        ]
        return self._transact(writes)

    def mark_revoked(self, decision_id: str, revocation_id: str) -> None:
        if not decision_id:
            return
        try:
            with dynamodb_errors(_WHAT):
                self._client.update_item(
                    TableName=self._table,
                    Key={"decisionId": {"S": decision_id}},
                    UpdateExpression="SET #status = :revoked, revokedBy = :by",
                    ConditionExpression="attribute_exists(decisionId)",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":revoked": {"S": REVOKED},
                        ":by": {"S": revocation_id},
                    },
                )
        except ConditionFailed:
            pass  # no such record: nothing to mark

    def under_supervision(self, subject_hash: str, today: str) -> list[SupervisionRecord]:
        """The subject's approvals whose supervision has not ended (an index, never a scan)."""
        items: list[SupervisionRecord] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": self.BY_SUBJECT,
            "KeyConditionExpression": "subjectHash = :s AND supervisedUntil >= :today",
            "FilterExpression": "#status = :under",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": to_item(
                {":s": subject_hash, ":today": today, ":under": UNDER_SUPERVISION}
            ),
        }
        while True:
            with dynamodb_errors(_WHAT):
                answer = self._client.query(**query)
            items += [_record(i) for i in answer.get("Items", [])]
            if not answer.get("LastEvaluatedKey"):
                return items
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _transact(self, writes: list[dict[str, Any]], ours: int | None = None) -> bool:
        """True when written; False when a condition of one of the first `ours` writes (all
        by default) failed. A failed condition of a later write is raised (ConditionFailed)."""
        try:
            with dynamodb_errors(_WHAT):
                self._client.transact_write_items(TransactItems=writes)
        except ConditionFailed as failed:
            if CONDITION_FAILED in failed.reasons[len(writes) if ours is None else ours :]:
                raise
            return False
        return True


def _revocation_writes(
    revoke: Revocation, decisions_table: str, applications_table: str
) -> list[dict[str, Any]]:
    record = revoke.record
    return [
        {
            "Put": {
                "TableName": decisions_table,
                "Item": to_item(record),
                "ConditionExpression": "attribute_not_exists(decisionId)",
            }
        },
        {
            "Update": {
                "TableName": applications_table,
                "Key": {"applicationId": {"S": record["applicationId"]}},
                "UpdateExpression": revoke.update,
                "ConditionExpression": "#status = :expected AND decision.decisionId = :approval",
                "ExpressionAttributeNames": revoke.names,
                "ExpressionAttributeValues": to_item(revoke.values),
            }
        },
        *([revoke.grant] if revoke.grant is not None else []),
    ]


def _record(item: dict[str, Any]) -> SupervisionRecord:
    """A stored supervision record, as `supervision_item` wrote it."""
    return cast("SupervisionRecord", from_item(item))
