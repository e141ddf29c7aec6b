"""Deliver a department's file to the local intake bucket and run the loader as S3 would.

moto stores the object but cannot invoke the function its notification names (MOTO-NOTES: no
code runs in moto's Lambda), so, like the stream and queue pollers, the local stack calls the
function the template subscribes to the bucket (`Events: Type: S3`) with the ObjectCreated
event S3 sends, through the local runtime: the same handler, with that function's environment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from infra.local.deploy import AwsClients, Deployment
from infra.local.runtime import Runtime


class IntakeError(RuntimeError):
    """The loader failed on a delivered file (its error, as Lambda reports it)."""


@dataclass(frozen=True)
class Subscription:
    function_id: str
    bucket: str


def subscription(deployment: Deployment) -> Subscription:
    """The function the template subscribes to the intake bucket's new objects, and the bucket."""
    template = deployment.template
    for function_id in template.function_ids():
        events = template.properties(function_id).get("Events") or {}
        for event in events.values():
            if event.get("Type") == "S3":
                bucket_id = event["Properties"]["Bucket"]["Ref"]
                return Subscription(function_id, deployment.resources[bucket_id].ref)
    raise LookupError("no function subscribes to a bucket in the template")


def object_created_event(bucket: str, key: str, size: int, region: str) -> dict[str, Any]:
    """An S3 ObjectCreated notification of one object, as Lambda receives it."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": size},
                },
            }
        ]
    }


def scheduled_event(region: str) -> dict[str, Any]:
    """The EventBridge schedule's event (the freshness check)."""
    return {
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "region": region,
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "detail": {},
    }


class LocalIntake:
    """Put files into the intake bucket and have them loaded, one invocation per file."""

    def __init__(self, deployment: Deployment, runtime: Runtime, clients: AwsClients) -> None:
        self._subscription = subscription(deployment)
        self._runtime = runtime
        self._clients = clients

    @property
    def bucket(self) -> str:
        return self._subscription.bucket

    def deliver(self, key: str, body: bytes) -> dict[str, Any]:
        """Store `body` as `key` and load it: the loader's report."""
        self._clients.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        event = object_created_event(self.bucket, key, len(body), self._clients.region)
        return dict(self._invoke(event)["reports"][0])

    def check_freshness(self) -> list[str]:
        """Run the scheduled freshness check now: the stale sources."""
        return list(self._invoke(scheduled_event(self._clients.region))["staleSources"])

    def _invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        invocation = self._runtime.invoke(self._subscription.function_id, event)
        if not invocation.ok:
            error = invocation.error or {}
            raise IntakeError(f"{error.get('errorType')}: {error.get('errorMessage')}")
        return dict(invocation.payload)
