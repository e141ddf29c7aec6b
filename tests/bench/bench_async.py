"""What the stream consumers have done for an application, read from the local stack's tables.

Shared by the http section (the lag from a 201 to each consumer's effect, one application at a
time) and the load section (every application's effects at the end, and when they were all
there). Read with the stack's own moto (no API request: the consumers do not wait for these).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from miaopi_platform.review.tasks import REFERRAL, task_id

#: how often an effect is looked for, seconds
POLL_S = 0.02
#: at most this share of the time goes to looking: a look at thousands of ids costs moto (one
#: process, one lock, shared with the consumers) more than 20 ms, and looking every 20 ms took
#: most of its time from the consumers being watched (the load's drain read twice as long)
LOOK_SHARE = 0.2


@dataclass(frozen=True)
class Effects:
    """The tables that hold each consumer's effect (logical id -> name, from the stack)."""

    dynamodb: Any
    decisions: str
    supervision: str
    review_tasks: str

    @classmethod
    def of(cls, stack: Any) -> Effects:
        from infra.local.deploy import AwsClients

        tables = stack.info["tables"]
        clients = AwsClients.create(stack.endpoint_url, stack.region)
        return cls(
            clients.dynamodb,
            tables["DecisionsTable"],
            tables["SupervisionTable"],
            tables["ReviewTasksTable"],
        )

    def chained(self, decision_ids: Iterable[str]) -> set[str]:
        """The decisions that have their chain position."""
        found = self._items(self.decisions, "decisionId", decision_ids, "decisionId, chainSeq")
        return {i["decisionId"]["S"] for i in found if "chainSeq" in i}

    def supervised(self, decision_ids: Iterable[str]) -> set[str]:
        """The approvals whose supervision record exists."""
        found = self._items(self.supervision, "decisionId", decision_ids, "decisionId")
        return {i["decisionId"]["S"] for i in found}

    def queued(self, application_ids: Iterable[str]) -> set[str]:
        """The referred applications whose review task is in the reviewers' queue."""
        by_task = {task_id(REFERRAL, a): a for a in application_ids}
        found = self._items(self.review_tasks, "taskId", by_task, "taskId")
        return {by_task[i["taskId"]["S"]] for i in found}

    def _items(self, table: str, key: str, values: Iterable[str], projection: str) -> list[Any]:
        values = list(dict.fromkeys(values))
        out: list[Any] = []
        for start in range(0, len(values), 100):
            request: dict[str, Any] = {
                table: {
                    "Keys": [{key: {"S": v}} for v in values[start : start + 100]],
                    "ProjectionExpression": projection,
                    "ConsistentRead": True,
                }
            }
            while request:
                answer = self.dynamodb.batch_get_item(RequestItems=request)
                out.extend(answer["Responses"].get(table, []))
                request = answer.get("UnprocessedKeys") or {}
        return out

    def wait(self, expected: dict[str, list[str]], timeout: float) -> dict[str, float | None]:
        """For each effect (chained, supervised, queued) and its ids: seconds from now until it
        holds for every id (None: not within `timeout`)."""
        check = {"chained": self.chained, "supervised": self.supervised, "queued": self.queued}
        started = time.perf_counter()
        pending = {what: set(ids) for what, ids in expected.items()}
        done: dict[str, float | None] = dict.fromkeys(expected)
        while any(pending.values()) and time.perf_counter() - started < timeout:
            looked = time.perf_counter()
            for what, ids in pending.items():
                if ids:
                    ids -= check[what](ids)
                    if not ids:
                        done[what] = time.perf_counter() - started
            if any(pending.values()):
                took = time.perf_counter() - looked
                time.sleep(max(POLL_S, took * (1 - LOOK_SHARE) / LOOK_SHARE))
        for what, ids in pending.items():
            if not ids and done[what] is None:
                done[what] = time.perf_counter() - started
        return done
