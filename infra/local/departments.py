"""Stand-ins for the departments that receive outcome events (结果推送), locally.

In production each department's system reads its own queue (template.yaml: one rule on the
outcome bus per department, matching its name in the event's `departments`). Here one thread
per such queue plays the department: it applies the service's `results:` effect to the local
reference data (the e-licence library, the allowance payment roll, the population register), so
the next application sees the world as the department would. The record it changes is marked
with the event (`effectOf`): a redelivered event changes nothing a second time, and supervision
recognises the approval's own effect. The application is read from the decision records, as a
department would read it over the data-sharing exchange by its id (the event carries ids only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, cast

from botocore.exceptions import ClientError
from miaopi_platform.aws.dynamo import from_item, to_item
from miaopi_platform.catalogue.services import find
from miaopi_platform.evidence.port import EFFECT_MARK
from miaopi_platform.outcomes.effects import Effect, effects
from miaopi_platform.outcomes.events import SOURCE, VERSION, OutcomeDetail

from infra.local import doorbell
from infra.local.deploy import AwsClients, Deployment
from infra.local.priority import RequestPriority
from infra.local.streams import Reachability

log = logging.getLogger("miaopi.local.departments")

REFERENCE_TABLE = "ReferenceDataTable"
DECISIONS_TABLE = "DecisionsTable"
BY_APPLICATION = "byApplication"


@dataclass(frozen=True)
class DepartmentQueue:
    department: str
    queue_url: str


def department_queues(deployment: Deployment) -> list[DepartmentQueue]:
    """Each department the template routes outcome events to, and its queue: read from the
    rules themselves (their `detail.departments` pattern and SQS target)."""
    out: list[DepartmentQueue] = []
    index = deployment.arn_index()
    for lid in deployment.template.of_type("AWS::Events::Rule"):
        props = deployment.resolver.resolve(deployment.template.properties(lid))
        names = (props["EventPattern"].get("detail") or {}).get("departments") or []
        for department in names:
            for target in props.get("Targets") or []:
                queue = index.get(str(target["Arn"]))
                if queue is not None:
                    out.append(DepartmentQueue(str(department), queue.ref))
    return out


class Department:
    """One department's system: applies the effects of the events addressed to it."""

    def __init__(self, deployment: Deployment, clients: AwsClients, department: str) -> None:
        self.department = department
        self._clients = clients
        self._reference = deployment.tables[REFERENCE_TABLE]
        self._decisions = deployment.tables[DECISIONS_TABLE]

    def receive(self, body: str) -> list[Effect]:
        """Apply one delivered event; the effects applied now (none on a redelivery)."""
        event = json.loads(body)
        detail = event.get("detail") or {}
        if event.get("source") != SOURCE or detail.get("version") != VERSION:
            return []
        outcome = cast(OutcomeDetail, detail)
        application = self._application(outcome["applicationId"])
        if application is None:
            return []
        service = find(outcome["serviceId"])
        applied = []
        for effect in effects(service, outcome, application, self.department):
            if self._apply(effect, outcome["eventId"]):
                applied.append(effect)
        return applied

    def _application(self, application_id: str) -> dict[str, Any] | None:
        """The normalised application its first decision record holds."""
        answer = self._clients.dynamodb.query(
            TableName=self._decisions,
            IndexName=BY_APPLICATION,
            KeyConditionExpression="applicationId = :a",
            ExpressionAttributeValues={":a": {"S": application_id}},
        )
        for item in answer.get("Items", []):
            record = from_item(item)
            if record.get("application"):
                return dict(record["application"])
        return None

    def _apply(self, effect: Effect, event_id: str) -> bool:
        key = {"source": {"S": effect.source}, "key": {"S": effect.key}}
        found = self._clients.dynamodb.get_item(
            TableName=self._reference, Key=key, ConsistentRead=True
        ).get("Item")
        document: dict[str, Any] = (
            from_item(found) if found else {"source": effect.source, "key": effect.key}
        )
        record = dict(document.get("record") or {})
        if (record.get(EFFECT_MARK) or {}).get("eventId") == event_id:
            return False  # applied already: a redelivery
        document["record"] = {**record, **effect.attributes}
        try:
            self._clients.dynamodb.put_item(
                TableName=self._reference,
                Item=to_item(document),
                ConditionExpression="attribute_not_exists(#r.#m) OR #r.#m.eventId <> :e",
                ExpressionAttributeNames={"#r": "record", "#m": EFFECT_MARK},
                ExpressionAttributeValues={":e": {"S": event_id}},
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        # the key may be personal (a plate, an ID number's hash): only a digest of it is logged
        digest = hashlib.sha256(effect.key.encode()).hexdigest()[:12]
        log.info(
            "%s: a %s record (%s) changed by %s", self.department, effect.source, digest, event_id
        )
        return True


class DepartmentStandIns:
    """One polling thread per department queue; with a doorbell (infra/local/doorbell.py) an
    idle one waits for its queue to be written, up to `idle_wait`, instead of polling."""

    def __init__(
        self,
        deployment: Deployment,
        clients: AwsClients,
        poll_interval: float = 0.2,
        *,
        bell: doorbell.Doorbell | None = None,
        idle_wait: float = 2.0,
        priority: RequestPriority | None = None,
    ) -> None:
        self._stop = threading.Event()
        self._priority = priority
        self._clients = clients
        self._interval = poll_interval
        self._bell = bell
        self._idle_wait = idle_wait
        self.threads = [
            threading.Thread(
                target=self._run,
                args=(Department(deployment, clients, q.department), q.queue_url),
                name=f"department-{q.department}",
                daemon=True,
            )
            for q in department_queues(deployment)
        ]

    def start(self) -> DepartmentStandIns:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._bell is not None:
            self._bell.ring([doorbell.EVERY_NAME])
        for thread in self.threads:
            thread.join(timeout)

    def _run(self, department: Department, queue_url: str) -> None:
        name = doorbell.queue(queue_url.rsplit("/", 1)[-1])
        reach = Reachability(f"{department.department} stand-in", log)
        while not self._stop.is_set():
            rung = self._bell.count(name) if self._bell is not None else 0
            if self._priority is not None:
                self._priority.yield_to_requests()
            try:
                busy = self.poll_once(department, queue_url)
                reach.answered()
            except Exception as err:
                reach.failed(err)
                busy = False
            if busy:
                continue
            if self._bell is not None:
                self._bell.wait(name, rung, self._idle_wait)
            else:
                self._stop.wait(self._interval)

    def poll_once(self, department: Department, queue_url: str) -> bool:
        messages = self._clients.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        for message in messages:
            try:
                department.receive(message["Body"])
            except Exception:  # left for the visibility timeout, then the dead-letter queue
                log.exception("%s: an event failed", department.department)
                continue
            self._clients.sqs.delete_message(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        return bool(messages)
