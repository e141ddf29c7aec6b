"""The applications and decisions tables: one atomic write per decided application."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from miaopi_platform.aws.dynamo import from_item, to_item, unavailable
from miaopi_platform.aws.errors import AlreadyRecorded
from miaopi_platform.aws.paging import decode_token, encode_token

BY_APPLICANT = "byApplicant"
_PAGE_KEYS = frozenset({"applicationId", "applicantId", "submittedAt"})
_DUPLICATE = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


class ApplicationStore:
    def __init__(self, client: Any, applications_table: str, decisions_table: str) -> None:
        self._client = client
        self._applications = applications_table
        self._decisions = decisions_table

    def record(self, application: dict[str, Any], decision: dict[str, Any]) -> None:
        """Write the application and its decision record together, or neither."""
        try:
            self._client.transact_write_items(
                TransactItems=[
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
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reasons = exc.response.get("CancellationReasons") or []
            # A duplicate lost the race: the condition failed, or (under real DynamoDB) the
            # two transactions conflicted. Either way the caller reads what was recorded.
            duplicate = any(r.get("Code") in _DUPLICATE for r in reasons)
            if error.get("Code") == "TransactionCanceledException" and duplicate:
                raise AlreadyRecorded from None
            raise unavailable(exc, "the application store") from None
        except BotoCoreError as exc:
            raise unavailable(exc, "the application store") from None

    def get(self, application_id: str) -> dict[str, Any] | None:
        try:
            answer = self._client.get_item(
                TableName=self._applications,
                Key={"applicationId": {"S": application_id}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "the application store") from None
        item = answer.get("Item")
        return from_item(item) if item else None

    def list_for(
        self, applicant_id: str, limit: int, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        query: dict[str, Any] = {
            "TableName": self._applications,
            "IndexName": BY_APPLICANT,
            "KeyConditionExpression": "applicantId = :a",
            "ExpressionAttributeValues": {":a": {"S": applicant_id}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            query["ExclusiveStartKey"] = decode_token(
                next_token, _PAGE_KEYS, {"applicantId": applicant_id}
            )
        try:
            answer = self._client.query(**query)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "the application store") from None
        items = [from_item(i) for i in answer.get("Items", [])]
        return items, encode_token(answer.get("LastEvaluatedKey"))

    def get_decision(self, decision_id: str) -> dict[str, Any] | None:
        try:
            answer = self._client.get_item(
                TableName=self._decisions,
                Key={"decisionId": {"S": decision_id}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "the decision records") from None
        item = answer.get("Item")
        return from_item(item) if item else None
