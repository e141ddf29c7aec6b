"""Stopping the local stack under load (make run's Ctrl-C): every request is answered or its
connection refused, and none gets a 500 — what was in flight is answered, what came after is a
503 with Retry-After that recorded nothing."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests

from infra.local.seed import read_personas
from infra.local.stack_file import STACK_FILE_NAME
from tests.e2e.conftest import Api, StackProcess

pytestmark = pytest.mark.e2e

CLIENTS = 4
#: the longest the clients may wait for their first answer (cold starts), and load after it
WARM_S = 90.0
LOAD_S = 1.0
AFTER_STOP_S = 30.0


def test_a_stop_under_load_answers_in_flight_requests_and_never_500s(tmp_path: Path) -> None:
    # Given a stack of its own, with 4 applicants submitting as fast as they are answered
    stack = StackProcess(tmp_path)
    info = stack.start()
    api = Api(
        info["apiUrl"],
        info,
        tmp_path / STACK_FILE_NAME,
        read_personas(tmp_path / "personas.json"),
        0.0,
    )
    approved = [p for p in api.live_personas if p.expected_outcome == "APPROVED"][:CLIENTS]
    statuses: Counter[str] = Counter()
    retry_after: set[str] = set()
    stopped = threading.Event()
    answered = [threading.Event() for _ in approved]
    lock = threading.Lock()

    def load(persona_index: int) -> None:
        persona = approved[persona_index]
        client = api.applicant_for(persona)
        deadline = time.monotonic() + WARM_S + LOAD_S + AFTER_STOP_S
        refused = 0
        while time.monotonic() < deadline and refused < 3:
            try:
                answer = client.submit(
                    persona.service_id, persona.application, key=uuid.uuid4().hex
                )
                outcome = str(answer.status)
                if answer.status == 503:
                    retry_after.add(answer.headers.get("Retry-After", ""))
                if answer.status == 201:
                    answered[persona_index].set()
                refused = 0
            except requests.ConnectionError:
                outcome = "connection refused or closed"
                refused += 1 if stopped.is_set() else 0
            with lock:
                statuses[outcome] += 1

    threads = [threading.Thread(target=load, args=(i,)) for i in range(len(approved))]
    try:
        for thread in threads:
            thread.start()
        for event in answered:  # every client past its function's cold start
            assert event.wait(WARM_S)
        time.sleep(LOAD_S)

        # When the stack is told to stop (SIGINT, as Ctrl-C) while they are submitting
        assert stack.proc is not None
        stack.proc.send_signal(signal.SIGINT)
        stopped.set()
        for thread in threads:
            thread.join(WARM_S + LOAD_S + AFTER_STOP_S)
    finally:
        stack.stop()

    # Then none of all the requests was a 500 (what was in flight was answered, what came after
    # was a 503 or a closed connection), and any refused during the stop said when to retry
    print(dict(statuses))
    assert statuses["201"] >= len(approved)
    assert not {s for s in statuses if s.startswith("5") and s != "503"}, statuses
    assert retry_after <= {"5"}
