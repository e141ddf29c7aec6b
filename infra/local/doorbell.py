"""Wake a local poller when what it polls was written, instead of asking moto every 250 ms.

Lambda's pollers run beside the function, not in front of it; locally they share one process
and one moto with the API, so eight pollers and the departments' stand-ins asking several
times a second cost every request a wait. The local moto (infra/local/moto_server.py) rings
this bell after each write it accepted: a table by name (PutItem, UpdateItem, DeleteItem,
BatchWriteItem, TransactWriteItems: its stream has a new record), a queue by name (SendMessage,
SendMessageBatch) and every queue at once for what moto delivers to queues by itself
(EventBridge PutEvents, SNS Publish). A poller that found nothing waits for its name's count
to change, or for its longest idle wait (what the bell cannot see: a message whose visibility
timeout ended, a retry).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

EVERY_QUEUE = "queue/*"
EVERY_NAME = "*"


def table(name: str) -> str:
    """The bell's name of a DynamoDB table (and its stream)."""
    return f"table/{name}"


def queue(name: str) -> str:
    """The bell's name of an SQS queue."""
    return f"queue/{name}"


class Doorbell:
    """Counts the writes to each name; `wait` returns when a name's count moved on."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._counts: dict[str, int] = {}

    def ring(self, names: Iterable[str]) -> None:
        with self._changed:
            for name in names:
                self._counts[name] = self._counts.get(name, 0) + 1
            self._changed.notify_all()

    def count(self, name: str) -> int:
        """Writes to `name` so far (those to every queue or to every name included)."""
        counts = self._counts
        total = counts.get(name, 0) + counts.get(EVERY_NAME, 0)
        if name.startswith("queue/"):
            total += counts.get(EVERY_QUEUE, 0)
        return total

    def wait(self, name: str, seen: int, timeout: float) -> bool:
        """True when `name` was written since its count was `seen`; False after `timeout`."""
        with self._changed:
            return self._changed.wait_for(lambda: self.count(name) != seen, timeout)
