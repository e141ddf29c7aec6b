"""A crash of the local stack under load (kill -9 of its whole process group) loses no
application that was answered 201: every DynamoDB write moto accepted was journaled before its
answer (infra/local/journal.py), and the restart replays the journal over the last snapshot."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import StackProcess, connect

pytestmark = pytest.mark.e2e

CLIENTS = 4
WARM_S = 90.0
#: how long the clients submit before the crash: shorter than the snapshot's period (60 s), so
#: what they were answered is in the journal only
LOAD_S = 3.0


def test_a_crash_under_load_loses_no_acknowledged_application(tmp_path: Path) -> None:
    # Given a stack with 4 applicants submitting as fast as they are answered
    stack = StackProcess(tmp_path)
    api = connect(tmp_path, stack.start())
    approved = [p for p in api.live_personas if p.expected_outcome == "APPROVED"][:CLIENTS]
    acknowledged: list[tuple[int, str]] = []
    answered = [threading.Event() for _ in approved]
    crashed = threading.Event()
    lock = threading.Lock()

    def load(index: int) -> None:
        persona = approved[index]
        client = api.applicant_for(persona)
        deadline = time.monotonic() + WARM_S + LOAD_S
        while time.monotonic() < deadline and not crashed.is_set():
            try:
                key = uuid.uuid4().hex
                answer = client.submit(persona.service_id, persona.application, key=key)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                return  # the crash: refused, reset, or an answer cut short (not acknowledged)
            if answer.status == 201:
                with lock:
                    acknowledged.append((index, answer.body["applicationId"]))
                answered[index].set()

    threads = [threading.Thread(target=load, args=(i,)) for i in range(len(approved))]
    try:
        for thread in threads:
            thread.start()
        for event in answered:
            assert event.wait(WARM_S)
        time.sleep(LOAD_S)

        # When the stack is killed mid-load (SIGKILL to the stack and its workers), then started
        # again on the same state
        assert stack.proc is not None
        os.killpg(stack.proc.pid, signal.SIGKILL)
        crashed.set()
        for thread in threads:
            thread.join(30)
        stack.proc.wait(10)
        with lock:
            before_crash = list(acknowledged)
        restarted = connect(tmp_path, stack.start())

        # Then every application answered 201 before the crash is there for its applicant,
        # decided, with its decision record
        lost = []
        for index, application_id in before_crash:
            client = restarted.applicant_for(approved[index])  # its identity provider's token
            found = client.get(f"/applications/{application_id}")
            if found.status != 200 or not (found.body.get("decision") or {}).get("decisionId"):
                lost.append((application_id, found.status))
    finally:
        stack.stop()
    print(f"{len(before_crash)} acknowledged before the crash, {len(lost)} lost: {lost[:3]}")
    assert len(before_crash) > CLIENTS
    assert lost == []
