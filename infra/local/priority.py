"""The API first: background work on the local stack waits while a request is being answered.

On AWS the stream consumers run on their own Lambda capacity and DynamoDB partitions; locally
they share one moto and one Python process (one GIL) with the API, so a consumer's write can
sit in front of an applicant's. Here the gateway counts the requests it is answering, and
background work waits for a moment without one, at most `max_wait` seconds each time (then it
goes ahead: under a steady load the consumers slow down, they never stop):
- a poller before it delivers a batch (infra/local/streams.py, the departments' stand-ins),
- moto, before it serves a call of a background function: the runtime marks those functions'
  SDK calls with an app id in the User-Agent (`AWS_SDK_UA_APP_ID`, botocore's own setting), the
  functions with an event source or a schedule and no API route.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: the app id (User-Agent `app/...`) of a background function's SDK calls
BACKGROUND_APP_ID = "miaopi-local-background"


class RequestPriority:
    """Counts the API requests in flight; `yield_to_requests` waits for none (bounded)."""

    def __init__(self, max_wait: float = 0.05) -> None:
        self.max_wait = max_wait
        self._quiet = threading.Condition()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextmanager
    def request(self) -> Iterator[None]:
        """Around the answer to one API request."""
        with self._quiet:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._quiet:
                self._in_flight -= 1
                if not self._in_flight:
                    self._quiet.notify_all()

    def yield_to_requests(self, max_wait: float | None = None) -> bool:
        """Wait until no API request is in flight, at most `max_wait` (default: the instance's);
        True when it is quiet."""
        if not self._in_flight:
            return True
        with self._quiet:
            return self._quiet.wait_for(
                lambda: not self._in_flight, self.max_wait if max_wait is None else max_wait
            )
