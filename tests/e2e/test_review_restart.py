"""A restart of the local stack loses no open review task: the tables come back from the
snapshot, the review workflows of pending applications start again, and the task that was open
before the restart is decided after it, with the application showing the reviewer's decision."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import StackProcess, connect

WAIT_S = 30.0


def wait_for(predicate: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_open_review_tasks_survive_a_restart(tmp_path: Path) -> None:
    # Given a stack with a referred application and a sampled approval, both tasks open
    stack = StackProcess(tmp_path)
    api = connect(tmp_path, stack.start())
    try:
        reviewer = api.client("reviewer")
        graduate, citizen = api.fresh_applicant(
            next(
                p
                for p in api.live_personas
                if p.service_id == "graduate-hukou" and p.expected_outcome == "PENDING_REVIEW"
            )
        )
        submitted = citizen.submit("graduate-hukou", graduate.application).body
        app_id = submitted["applicationId"]
        task_id = "TSK" + app_id[3:]
        wait_for(lambda: reviewer.get(f"/reviews/{task_id}").status == 200, "the task")
        filing, enterprise = api.fresh_applicant(
            next(
                p
                for p in api.live_personas
                if p.service_id == "enterprise-investment-filing"
                and p.expected_outcome == "APPROVED"
                and not p.expected_failing
            )
        )
        major = {**filing.application, "totalInvestment": "80000000.00"}  # always spot-checked
        approved = enterprise.submit("enterprise-investment-filing", major).body
        assert approved["status"] == "APPROVED", approved
        spot_id = "SPT" + approved["applicationId"][3:]
        wait_for(lambda: reviewer.get(f"/reviews/{spot_id}").status == 200, "the spot check")
    finally:
        # When the stack stops (its waiting workflow dies with moto) and starts again
        stack.stop()
    restarted = stack.start()
    try:
        assert restarted["restored"] is True
        api = connect(tmp_path, restarted)
        citizen, reviewer = api.applicant_for(graduate), api.client("reviewer")
        # Then the task is still in the queue and the applicant still sees it pending
        listed = reviewer.get("/reviews", params={"serviceId": "graduate-hukou"}).body
        assert task_id in [t["taskId"] for t in listed["items"]]
        assert citizen.get(f"/applications/{app_id}").body["status"] == "PENDING_REVIEW"

        # And a reviewer decides it: the resumed workflow takes the decision and records it
        def decided() -> bool:
            answer = reviewer.request(
                "POST",
                f"/reviews/{task_id}/decision",
                data=json.dumps({"decision": "APPROVE"}),
                headers={"Content-Type": "application/json"},
            )
            assert answer.status in (202, 503), answer.text  # 503: token not yet renewed
            return answer.status == 202

        wait_for(decided, "the resumed workflow to take the decision")
        wait_for(
            lambda: citizen.get(f"/applications/{app_id}").body["status"] == "APPROVED",
            "the reviewer's decision to be recorded",
        )
        mine = citizen.get(f"/applications/{app_id}").body
        assert mine["decision"]["decidedBy"] == "REVIEWER"

        # And the spot check is decided too, after its workflow was resumed
        def checked() -> bool:
            answer = reviewer.request(
                "POST",
                f"/reviews/{spot_id}/decision",
                data=json.dumps({"decision": "VALID"}),
                headers={"Content-Type": "application/json"},
            )
            assert answer.status in (202, 503), answer.text
            return answer.status == 202

        wait_for(checked, "the resumed spot-check workflow to take the finding")
        wait_for(
            lambda: reviewer.get(f"/reviews/{spot_id}").body["status"] == "DECIDED",
            "the spot check to be recorded",
        )
    finally:
        stack.stop()
