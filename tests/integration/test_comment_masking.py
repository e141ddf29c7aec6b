"""A reviewer's comment, as other readers get it (issue 11, point 1): an auditor reading the
reviewer's decision record (which holds no application or evidence) and another reviewer
reading the task see the applicant's name, ID number and phone masked, and a name no record
holds masked by its shape; the comment's author reads it in clear."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Invoke, Stack, staff
from tests.integration.test_audit_api import AUDITOR, Audit
from tests.integration.test_review_flow import REVIEWER, SERVICE, Review

OTHER_REVIEWER = staff("33333333-aaaa-bbbb-cccc-000000000099", "reviewer:*")
#: the reviewer who wrote the comment, who is an auditor too
AUTHOR_AUDITING = staff(REVIEWER["principalId"], "reviewer:*", "auditor:*")


def test_a_reviewers_comment_is_masked_for_everyone_but_its_author(
    stack: Stack, invoke: Invoke
) -> None:
    # Given a referred application, and its reviewer's approval with a comment that quotes the
    # applicant (name, ID number, phone) and names a relative no record holds
    stack.clear("REVIEW_TASKS_TABLE")
    review = Review(stack, invoke)
    application = stack.persona(SERVICE, "PENDING_REVIEW").application
    name, id_number, phone = application["name"], application["idNumber"], application["phone"]
    app_id = review.refer(key="key-comment-0001")
    review.start(app_id)
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    comment = f"已核实: {name} 身份证 {id_number} 手机 {phone}；已电话联系林玉国本人"
    answer = review.api(
        "POST", f"/reviews/{task_id}/decision", body={"decision": "APPROVE", "comment": comment}
    )
    assert answer["statusCode"] == 202, answer["json"]
    assert review.wait_finished(app_id)["status"] == "SUCCEEDED"
    decision_id = answer["json"]["decisionId"]
    secrets = (name, id_number, phone, "林玉国")
    audit = Audit(stack, invoke)

    # When an auditor reads the reviewer's decision record
    shown = _comment(audit.api(f"decisions/{decision_id}", caller=AUDITOR))
    # Then none of them is in clear, and the comment still reads
    assert not [s for s in secrets if s in shown], shown
    assert shown.startswith("已核实: ") and "本人" in shown

    # When another reviewer reads the task, then the same
    other = _comment(review.api("GET", f"/reviews/{task_id}", caller=OTHER_REVIEWER))
    assert not [s for s in secrets if s in other], other

    # When its author reads it, as a reviewer or as an auditor, then it is in clear
    assert _comment(review.api("GET", f"/reviews/{task_id}", caller=REVIEWER)) == comment
    mine = audit.api(f"decisions/{decision_id}", caller=AUTHOR_AUDITING)
    assert _comment(mine) == comment


def _comment(answer: dict[str, Any]) -> str:
    assert answer["statusCode"] == 200, answer["json"]
    return str(answer["json"]["comment"])
