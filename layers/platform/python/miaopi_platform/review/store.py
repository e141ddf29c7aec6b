"""The review tasks table: tasks stored from the workflow's messages, the reviewers' queue, and
the claim that lets exactly one decision through."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from miaopi_platform.aws.dynamo import ConditionFailed, dynamodb_errors, from_item, to_item
from miaopi_platform.aws.errors import Conflict
from miaopi_platform.aws.paging import decode_token, encode_token
from miaopi_platform.review.items import ReviewClaim, ReviewTask
from miaopi_platform.review.tasks import DECIDED, DECIDING, OPEN, queue_keys

#: indexes of template.yaml's ReviewTasksTable (a test pins them to the template)
BY_QUEUE = "byQueue"
BY_SERVICE_QUEUE = "byServiceQueue"
_PAGE_KEYS = {
    BY_QUEUE: frozenset({"taskId", "queue", "dueAt"}),
    BY_SERVICE_QUEUE: frozenset({"taskId", "serviceQueue", "dueAt"}),
}
_WHAT = "the review tasks"


class ReviewStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def store(self, item: ReviewTask) -> bool:
        """Store a task from the workflow's message. Stored already (a redelivery, or the
        message the workflow sends again after escalating): only the token is renewed and the
        escalation noted, never the status or a decision. True when the task is new."""
        try:
            with dynamodb_errors(_WHAT):
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(item),
                    ConditionExpression="attribute_not_exists(taskId)",
                )
                return True
        except ConditionFailed:
            pass  # stored already / a newer claim: left alone
        # Renew the token only with a newer message: a redelivered or late older message
        # (standard queues do not keep order) must not put back a token that is dead.
        update = "SET taskToken = :token, tokenAt = :sent"
        values: dict[str, Any] = {  # ExpressionAttributeValues, DynamoDB-typed
            ":token": {"S": item["taskToken"]},
            ":sent": {"S": item["tokenAt"]},
            ":decided": {"S": DECIDED},
        }
        if item["escalated"]:
            update += ", escalated = :yes"
            values[":yes"] = {"BOOL": True}
        try:
            with dynamodb_errors(_WHAT):
                self._client.update_item(
                    TableName=self._table,
                    Key={"taskId": {"S": item["taskId"]}},
                    UpdateExpression=update,
                    ConditionExpression="#status <> :decided AND "
                    "(attribute_not_exists(tokenAt) OR tokenAt < :sent)",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=values,
                )
        except ConditionFailed:
            pass  # decided already, or an older message: stale
        return False

    def get(self, task_id: str) -> ReviewTask | None:
        with dynamodb_errors(_WHAT):
            answer = self._client.get_item(
                TableName=self._table, Key={"taskId": {"S": task_id}}, ConsistentRead=True
            )
        item = answer.get("Item")
        return _task(item) if item else None

    def queue(
        self,
        status: str,
        service_id: str | None,
        limit: int,
        next_token: str | None,
        among: Collection[str] | None = None,
    ) -> tuple[list[ReviewTask], str | None]:
        """Tasks in a status, the earliest deadline first; one service's, those of the services
        `among` (a page may then hold fewer than `limit`: the others are filtered out after
        reading), or all."""
        if among is not None and not service_id:
            if not among:
                return [], None
            if len(among) == 1:
                service_id = next(iter(among))
                among = None
        if service_id:
            index, name, value = BY_SERVICE_QUEUE, "serviceQueue", f"{service_id}#{status}"
        else:
            index, name, value = BY_QUEUE, "queue", status
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :k",
            "ExpressionAttributeNames": {"#k": name},
            "ExpressionAttributeValues": {":k": {"S": value}},
            "ScanIndexForward": True,
            "Limit": limit,
        }
        if among is not None and not service_id:
            names = {f":s{n}": {"S": s} for n, s in enumerate(sorted(among))}
            query["FilterExpression"] = f"serviceId IN ({', '.join(names)})"
            query["ExpressionAttributeValues"].update(names)
        if next_token:
            query["ExclusiveStartKey"] = decode_token(next_token, _PAGE_KEYS[index], {name: value})
        with dynamodb_errors(_WHAT):
            answer = self._client.query(**query)
        items = [_task(i) for i in answer.get("Items", [])]
        return items, encode_token(answer.get("LastEvaluatedKey"))

    def claim(self, task: ReviewTask, claim: ReviewClaim, stale_before: str) -> None:
        """OPEN -> DECIDING with the reviewer's decision, or 409: a task is decided once. A
        claim older than `stale_before` that the workflow never recorded (the claiming function
        died before handing it over) may be claimed again."""
        values = to_item({f":{k}": v for k, v in claim.items()})
        # every name aliased: some (e.g. comment) are DynamoDB reserved words
        names = {f"#{k}": k for k in claim if f":{k}" in values}
        sets = ", ".join(f"#{k} = :{k}" for k in claim if f":{k}" in values)
        keys = queue_keys(task["serviceId"], DECIDING)
        try:
            with dynamodb_errors(_WHAT):
                self._client.update_item(
                    TableName=self._table,
                    Key={"taskId": {"S": task["taskId"]}},
                    UpdateExpression=f"SET #status = :deciding, #queue = :queue, "
                    f"serviceQueue = :serviceQueue, {sets}",
                    ConditionExpression="#status = :open OR "
                    "(#status = :deciding AND #claimedAt < :stale)",
                    ExpressionAttributeNames={
                        "#status": "status",
                        "#queue": "queue",
                        "#claimedAt": "claimedAt",
                        **names,
                    },
                    ExpressionAttributeValues={
                        **values,
                        ":deciding": {"S": DECIDING},
                        ":open": {"S": OPEN},
                        ":stale": {"S": stale_before},
                        ":queue": {"S": keys["queue"]},
                        ":serviceQueue": {"S": keys["serviceQueue"]},
                    },
                )
        except ConditionFailed:
            raise Conflict(
                "this task has already been decided",
                [{"field": "taskId", "code": "already_decided"}],
            ) from None

    def release(self, task: ReviewTask, claim_id: str) -> None:
        """DECIDING -> OPEN when the workflow did not take this claim's decision (so it can be
        sent again); a newer claim is left alone."""
        keys = queue_keys(task["serviceId"], OPEN)
        try:
            with dynamodb_errors(_WHAT):
                self._client.update_item(
                    TableName=self._table,
                    Key={"taskId": {"S": task["taskId"]}},
                    UpdateExpression="SET #status = :open, #queue = :queue, serviceQueue = :sq "
                    "REMOVE decisionId, claimId, outcome, reviewerId, reasonCodes, #comment, "
                    "claimedAt",
                    ConditionExpression="#status = :deciding AND claimId = :id",
                    ExpressionAttributeNames={
                        "#status": "status",
                        "#queue": "queue",
                        "#comment": "comment",
                    },
                    ExpressionAttributeValues={
                        ":open": {"S": OPEN},
                        ":deciding": {"S": DECIDING},
                        ":id": {"S": claim_id},
                        ":queue": {"S": keys["queue"]},
                        ":sq": {"S": keys["serviceQueue"]},
                    },
                )
        except ConditionFailed:
            pass  # stored already / a newer claim: left alone


def _task(item: dict[str, Any]) -> ReviewTask:
    """A stored task, as the workflow's message and the reviewer's claim wrote it."""
    return cast("ReviewTask", from_item(item))
