"""The applications and decisions tables: one atomic write per decided application (with the
grant it takes, records.grants), and an applicant's own applications."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from miaopi_platform.aws.dynamo import (
    CONDITION_FAILED,
    ConditionFailed,
    TransactionConflicted,
    dynamodb_errors,
    from_item,
    to_item,
)
from miaopi_platform.aws.errors import AlreadyRecorded
from miaopi_platform.aws.paging import decode_token, encode_token, newest_of, partition_page
from miaopi_platform.records.items import ApplicationItem, DecisionRecord

if TYPE_CHECKING:  # the stubs are a development dependency only
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef

BY_APPLICANT = "byApplicant"
BY_HOLDER = "byHolder"
#: a page of one's own applications ends at (submittedAt, applicationId), newest first
_CURSOR_KEYS = frozenset({"applicationId", "submittedAt"})


class GrantTaken(Exception):
    """The grant the decision would take is held by another application (a concurrent one
    won): decide again with the fresh evidence."""


class ApplicationStore:
    def __init__(
        self,
        client: DynamoDBClient,
        applications_table: str,
        decisions_table: str,
        grants_table: str,
    ) -> None:
        self._client = client
        self._applications = applications_table
        self._decisions = decisions_table
        #: taken in the decision's transaction (records.grants.take names the table)
        self.grants_table = grants_table

    def record(
        self,
        application: ApplicationItem,
        decision: DecisionRecord,
        grant: dict[str, Any] | None = None,
    ) -> None:
        """Write the application and its decision record together, with the transaction item
        that takes its grant (`records.grants.take`) when it takes one, or nothing.

        AlreadyRecorded: the application id is taken (a retry or a concurrent duplicate);
        GrantTaken: only the grant's condition failed (another application holds it)."""
        items: list[Any] = [
            {
                "Put": {
                    "TableName": self._applications,
                    "Item": to_item(application),
                    "ConditionExpression": "attribute_not_exists(applicationId)",
                }
            },
            {
                "Put": {
                    "TableName": self._decisions,
                    "Item": to_item(decision),
                    "ConditionExpression": "attribute_not_exists(decisionId)",
                }
            },
        ]
        if grant is not None:
            items.append(grant)
        try:
            with dynamodb_errors("the application store"):
                self._client.transact_write_items(TransactItems=items)
        except ConditionFailed as failed:
            if grant is not None and failed.reasons == ("None", "None", CONDITION_FAILED):
                raise GrantTaken from None
            # A duplicate lost the race: the caller reads what was recorded.
            raise AlreadyRecorded from None
        except TransactionConflicted:
            # Under real DynamoDB two transactions on the same keys conflict: a duplicate of
            # this submission, or another application for the same grant. The caller reads
            # what was recorded; if nothing was, it decides again.
            if grant is not None:
                raise GrantTaken from None
            raise AlreadyRecorded from None

    def get(self, application_id: str) -> ApplicationItem | None:
        with dynamodb_errors("the application store"):
            answer = self._client.get_item(
                TableName=self._applications,
                Key={"applicationId": {"S": application_id}},
                ConsistentRead=True,
            )
        item = answer.get("Item")
        return cast(ApplicationItem, from_item(item)) if item else None

    def list_own(
        self, applicant_id: str, holder_hash: str, limit: int, next_token: str | None
    ) -> tuple[list[ApplicationItem], str | None]:
        """One's own applications, newest first: what the account submitted (byApplicant) and
        what was submitted for the person or enterprise it signs in as, by an agent or at a
        counter (byHolder). The page token is the last item returned, so the two indexes
        page together."""
        cursor: tuple[str, str] | None = None
        if next_token:
            start = decode_token(next_token, _CURSOR_KEYS, {})
            cursor = (str(start["submittedAt"].get("S")), str(start["applicationId"].get("S")))
        parts = (
            self._newest(BY_APPLICANT, "applicantId", applicant_id, cursor, limit),
            self._newest(BY_HOLDER, "holderHash", holder_hash, cursor, limit),
        )
        page, more = newest_of(parts, lambda item: item["applicationId"], _position, limit)
        if not more:
            return page, None
        last = page[-1]
        return page, encode_token(
            {
                "submittedAt": {"S": last["submittedAt"]},
                "applicationId": {"S": last["applicationId"]},
            }
        )

    def _newest(
        self, index: str, name: str, value: str, cursor: tuple[str, str] | None, limit: int
    ) -> tuple[list[ApplicationItem], bool]:
        """Up to `limit` items of one index's partition older than `cursor`, and whether the
        partition has no more."""
        query: QueryInputTypeDef = {
            "TableName": self._applications,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": name},
            "ExpressionAttributeValues": {":v": {"S": value}},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if cursor is not None:
            query["KeyConditionExpression"] += " AND submittedAt <= :t"
            query["ExpressionAttributeValues"] = {":v": {"S": value}, ":t": {"S": cursor[0]}}
        # the key condition keeps the cursor's second (<=): the item itself and older ones
        # of that second are told apart by their id
        return partition_page(
            self._client,
            query,
            limit,
            "the application store",
            keep=lambda item: cursor is None or _position(item) < cursor,
        )

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        with dynamodb_errors("the decision records"):
            answer = self._client.get_item(
                TableName=self._decisions,
                Key={"decisionId": {"S": decision_id}},
                ConsistentRead=True,
            )
        item = answer.get("Item")
        return cast(DecisionRecord, from_item(item)) if item else None


def _position(item: ApplicationItem) -> tuple[str, str]:
    return item["submittedAt"], item["applicationId"]
