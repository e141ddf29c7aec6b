"""The applications and decisions tables: one atomic write per decided application."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from miaopi_platform.aws.dynamo import (
    ConditionFailed,
    TransactionConflicted,
    dynamodb_errors,
    from_item,
    to_item,
)
from miaopi_platform.aws.errors import AlreadyRecorded
from miaopi_platform.aws.paging import decode_token, encode_token
from miaopi_platform.records.items import ApplicationItem, DecisionRecord

if TYPE_CHECKING:  # the stubs are a development dependency only
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef

BY_APPLICANT = "byApplicant"
_PAGE_KEYS = frozenset({"applicationId", "applicantId", "submittedAt"})


class ApplicationStore:
    def __init__(
        self, client: DynamoDBClient, applications_table: str, decisions_table: str
    ) -> None:
        self._client = client
        self._applications = applications_table
        self._decisions = decisions_table

    def record(self, application: ApplicationItem, decision: DecisionRecord) -> None:
        """Write the application and its decision record together, or neither."""
        try:
            with dynamodb_errors("the application store"):
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
        except (ConditionFailed, TransactionConflicted):
            # A duplicate lost the race: the condition failed, or (under real DynamoDB) the
            # two transactions conflicted. Either way the caller reads what was recorded.
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

    def list_for(
        self, applicant_id: str, limit: int, next_token: str | None
    ) -> tuple[list[ApplicationItem], str | None]:
        query: QueryInputTypeDef = {
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
        with dynamodb_errors("the application store"):
            answer = self._client.query(**query)
        items = [cast(ApplicationItem, from_item(i)) for i in answer.get("Items", [])]
        return items, encode_token(answer.get("LastEvaluatedKey"))

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        with dynamodb_errors("the decision records"):
            answer = self._client.get_item(
                TableName=self._decisions,
                Key={"decisionId": {"S": decision_id}},
                ConsistentRead=True,
            )
        item = answer.get("Item")
        return cast(DecisionRecord, from_item(item)) if item else None
