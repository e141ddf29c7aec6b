"""After a restart of the local stack: start the review workflows of pending applications again.

moto keeps Step Functions executions in memory, so a restarted stack has its tables back (see
persist.py) but no waiting workflow and no valid task token. For every open task (referrals and
spot checks) this starts its workflow again under its usual name, from the stored task: the new
workflow sends the task again, the task function renews the stored token (status, escalation
and history kept), and a reviewer's decision goes through as before. A claim left DECIDING by
the stop (sent to a workflow that no longer exists, nothing recorded) is released so it can be
sent again. An escalated task is resumed escalated: supervisors are not told twice. Referred
applications whose task was not stored yet start from the application.

It runs in the background once the stack serves (`Resume`), a few starts at a time, and says
how far it got every few seconds: thousands of pending reviews take a while, and the API need
not wait for them (a decision sent before its task's workflow is back answers 503, retried).
It uses the stores and the Step Functions client directly, not the functions' code: nothing of
Powertools (its metrics refuse to flush without a namespace) lives in the stack's process.

On AWS executions outlive any restart; this is the local stack's counterpart of that.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from botocore.exceptions import ClientError
from miaopi.model import Outcome
from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.aws.settings import Settings
from miaopi_platform.records.items import ApplicationItem
from miaopi_platform.review.items import ReviewTask, WorkflowInput
from miaopi_platform.review.store import ReviewStore
from miaopi_platform.review.tasks import (
    DECIDING,
    OPEN,
    REFERRAL,
    execution_name,
    referral_input,
    resumed_input,
)

from infra.local.deploy import AwsClients, Deployment
from infra.local.persist import table_items

log = logging.getLogger("miaopi.local.resume")

PENDING_REVIEW = Outcome.PENDING_REVIEW.value
#: workflows started at once (moto starts each on threads of its own)
PARALLEL = 4
#: seconds between two progress lines
PROGRESS_EVERY_S = 5.0
#: the longest the resume waits for the resumed tasks' new tokens
RENEWAL_TIMEOUT_S = 300.0


class Resume:
    """Start again the workflows of every open review task and every referral without one."""

    def __init__(
        self,
        deployment: Deployment,
        clients: AwsClients,
        stopping: threading.Event | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        self.clients = clients
        self.stopping = stopping or threading.Event()
        self.now = now or dt.datetime.now(dt.UTC)
        functions = deployment.functions
        self.enabled = {"ReviewStarterFunction", "ReviewsFunction"} <= set(functions)
        if self.enabled:  # the names as the functions get them (template.yaml's)
            settings = Settings.from_env(
                {
                    **functions["ReviewStarterFunction"].environment,
                    **functions["ReviewsFunction"].environment,
                }
            )
            self.state_machine_arn = settings.review_state_machine_arn
            self.tasks_table = settings.review_tasks_table
            self.applications_table = settings.applications_table
        self.region = deployment.region
        self.started = 0
        self.existing = 0
        self.total = 0
        self.renewed = 0
        self.failed = 0
        #: task id -> its token before the restart (dead): renewed when it changes
        self.tokens: dict[str, str] = {}

    def run(self) -> int:
        """Start them and wait for their tasks' new tokens; returns how many were started
        (those running already are not)."""
        if not self.enabled:
            return 0  # a template without manual review
        began = time.monotonic()
        inputs = list(self._inputs())
        self.total = len(inputs)
        if not inputs:
            return 0
        log.info("resuming %d review workflows", self.total)
        done = threading.Event()
        reporter = threading.Thread(
            target=self._report, args=(done,), name="resume-progress", daemon=True
        )
        reporter.start()
        try:
            with ThreadPoolExecutor(PARALLEL, thread_name_prefix="resume") as pool:
                for started in pool.map(self._start, inputs):
                    if started:
                        self.started += 1
                    else:
                        self.existing += 1
            log.info(
                "resumed %d review workflows in %.1f s (%d running already, %d failed)",
                self.started,
                time.monotonic() - began,
                self.existing - self.failed,
                self.failed,
            )
            left = self._wait_renewed(self.tokens)
        finally:
            done.set()
        if left:
            log.warning(
                "%d of %d resumed review tasks have no new token yet: the reconciler checks them",
                left,
                len(self.tokens),
            )
        elif self.tokens:
            log.info(
                "every resumed review task waits for its reviewer again "
                "(%d tokens renewed %.1f s after the start)",
                len(self.tokens),
                time.monotonic() - began,
            )
        return self.started

    def _report(self, done: threading.Event) -> None:
        while not done.wait(PROGRESS_EVERY_S):
            if self.started + self.existing < self.total:
                log.info(
                    "resuming review workflows: %d of %d started",
                    self.started + self.existing,
                    self.total,
                )
            else:
                log.info(
                    "resuming review workflows: %d of %d tasks sent to the reviewers again",
                    self.renewed,
                    len(self.tokens),
                )

    def _inputs(self) -> Iterator[WorkflowInput]:
        reviews = ReviewStore(self.clients.dynamodb, self.tasks_table)
        resumed: set[str] = set()
        tasks = self._items(self.tasks_table, {OPEN, DECIDING})
        for task in cast("list[ReviewTask]", tasks):
            if task["status"] == DECIDING:  # sent to a workflow that no longer exists
                reviews.release(task, str(task.get("claimId", "")))
            resumed.add(task["applicationId"] + "#" + task["kind"])
            self.tokens[task["taskId"]] = str(task.get("taskToken", ""))
            yield resumed_input(task, self.now)
        pending = self._items(self.applications_table, {PENDING_REVIEW})
        for application in pending:
            if f"{application.get('applicationId')}#{REFERRAL}" in resumed:
                continue
            if not {"review", "decision", "applicantId"} <= set(application):
                log.warning(
                    "not resumed (not a referred application): %s", application.get("applicationId")
                )
                continue
            # referred before the stop, its task not stored yet
            yield referral_input(cast("ApplicationItem", application), self.now)

    def _start(self, workflow_input: WorkflowInput) -> bool:
        """Start one workflow under its fixed name; False when it runs already (or the stack
        is stopping)."""
        if self.stopping.is_set():
            return False
        try:
            self.clients.stepfunctions.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=execution_name(workflow_input["task"]),
                input=json.dumps(workflow_input, ensure_ascii=False),
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ExecutionAlreadyExists":
                return False
            # e.g. moto out of threads: the reconciler's next run starts it
            self.failed += 1
            self.tokens.pop(workflow_input["task"]["taskId"], None)  # not waited for
            log.warning("a review workflow did not start again (%s)", code)
            return False
        return True

    def _items(self, table: str, statuses: set[str]) -> list[dict[str, Any]]:
        """The items of a table in one of `statuses`, read from the moto in this process (a
        Scan through the API deep-copies the table for every page)."""
        return [
            from_item(item)
            for item in table_items(table, self.region)
            if item.get("status", {}).get("S") in statuses
        ]

    def _wait_renewed(self, tokens: dict[str, str]) -> int:
        """Wait until each resumed task's token is renewed (its workflow sent it again and the
        task function stored it), or RENEWAL_TIMEOUT_S; returns how many were not."""
        deadline = time.monotonic() + RENEWAL_TIMEOUT_S
        left = dict(tokens)
        while left and not self.stopping.is_set():
            for item in table_items(self.tasks_table, self.region):
                task_id = item.get("taskId", {}).get("S")
                if task_id in left and item.get("taskToken", {}).get("S") != left[task_id]:
                    del left[task_id]
            self.renewed = len(tokens) - len(left)
            if not left or time.monotonic() > deadline:
                break
            self.stopping.wait(1.0)
        return len(left)


def resume_reviews(
    deployment: Deployment,
    clients: AwsClients,
    now: dt.datetime | None = None,
    stopping: threading.Event | None = None,
) -> int:
    """Start the workflow of every open review task and every referral without a task again;
    returns how many were started."""
    return Resume(deployment, clients, stopping, now).run()


#: what runs after a restore, in the background once the stack serves
RestoreHook = Callable[[Deployment, AwsClients, threading.Event], None]


def resume_hook(deployment: Deployment, clients: AwsClients, stopping: threading.Event) -> None:
    resume_reviews(deployment, clients, stopping=stopping)
