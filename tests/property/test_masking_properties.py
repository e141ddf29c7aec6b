"""No personal data in clear in any auditor or applicant view, over generated people.

Generated names (Chinese, and Latin-script), resident ID numbers with valid check digits,
mobile numbers and bank cards (valid Luhn digit) go through the real submit flow (an
elderly-allowance application, its evidence naming the applicant and a card holder), then a
reviewer's decision whose comment quotes all of them and names a relative no record holds.
Each view an auditor or the applicant gets is rendered as the API sends it, and none of the
generated values may appear in it: the audit detail (the rules' record and the reviewer's),
list rows, statistics, the replay and what-if pages, the applicant's application view, and
the reviewer's comment as another reviewer reads it in the task (whose evidence a reviewer
reads in clear, by design).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from miaopi import EvidenceItem, EvidenceStatus
from miaopi.workdays import CHINA
from miaopi_platform.applications.capacity import Caller
from miaopi_platform.applications.flow import submit
from miaopi_platform.audit.auditor import (
    decision_detail,
    list_decisions,
    period_stats,
    replay_page,
    what_if_page,
)
from miaopi_platform.audit.queries import DecisionFilter, Period
from miaopi_platform.audit.replay import load_candidate
from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.catalogue.services import find
from miaopi_platform.identity.context import Assurance, Identity, Role, SubjectType
from miaopi_platform.privacy.pii import PiiHasher
from miaopi_platform.records.indexes import PARTITION_KEYS, SORT_KEYS
from miaopi_platform.records.views import view
from miaopi_platform.review.flow import case_of
from miaopi_platform.review.tasks import ReviewerChoice, reviewer_decision
from stdnum import luhn
from stdnum.cn import ric

SERVICE = find("elderly-allowance")
WHEN = dt.datetime(2025, 3, 4, 10, 0, tzinfo=CHINA)
PERIOD = Period(WHEN.date(), WHEN.date())
CANDIDATE = load_candidate(
    SERVICE,
    (
        Path(__file__).resolve().parents[2] / "infra/whatif/elderly-allowance-minimum-age-85.yaml"
    ).read_text(encoding="utf-8"),
)
HASHER = PiiHasher(b"property-test-key")

_SURNAMES = [
    *"王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶",
    *"程苏魏吕丁沈姚卢钟谭陆范金廖贾夏邹熊秦江薛雷侯龙史陶贺顾毛郝龚邵万钱严武戴孔汤",
    *["欧阳", "司马", "诸葛", "上官"],
]
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国玉志红梅林萍辉鹏飞婷雪琳慧嘉怡浩宇"

chinese_names = st.builds(
    lambda surname, given: surname + given,
    st.sampled_from(_SURNAMES),
    st.text(alphabet=_GIVEN, min_size=1, max_size=2),
)
latin_names = st.from_regex(r"[A-Z][a-z]{3,8} [A-Z][a-z]{3,9}", fullmatch=True)
names = st.one_of(chinese_names, latin_names)


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["440306", "440106", "110101", "310104", "510104"]))
    born = draw(st.dates(dt.date(1925, 1, 1), dt.date(1944, 12, 31)))
    body = f"{region}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return body + ric.calc_check_digit(body + "0")  # it reads a whole number, check included


phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@st.composite
def bank_cards(draw: st.DrawFn) -> str:
    body = "62" + draw(st.from_regex(r"[0-9]{14,16}", fullmatch=True))
    return body + luhn.calc_check_digit(body)


@st.composite
def people(draw: st.DrawFn) -> dict[str, str]:
    person = {
        "name": draw(names),
        "idNumber": draw(id_numbers()),
        "phone": draw(phones),
        "card": draw(bank_cards()),
        "agentName": draw(names),
        "agentId": draw(id_numbers()),
        "holder": draw(names),
        "relative": draw(chinese_names),
    }
    # distinct, and none inside another (a short name inside a long one proves nothing)
    values = list(person.values())
    if any(a != b and a in b for a in values for b in values) or len(set(values)) < len(values):
        from hypothesis import reject

        reject()
    return person


class Evidence:
    """Other departments' records about the generated person."""

    def __init__(self, person: dict[str, str]) -> None:
        self.person = person

    def gather(self, requests: Iterable[Any]) -> dict[str, EvidenceItem]:
        p = self.person
        records: dict[str, dict[str, Any]] = {
            "population": {
                "name": p["name"],
                "hukouCity": "深圳",
                "hukouDistrict": "宝安",
                "alive": True,
            },
            "bank": {"holderIdNumber": p["idNumber"], "holderName": p["holder"]},
        }
        return {
            r.alias: EvidenceItem(EvidenceStatus.FOUND, records[r.alias])
            if r.alias in records
            else EvidenceItem(EvidenceStatus.ABSENT)
            for r in requests
        }


class Tables:
    """The applications and decisions as stored, read the ways the views read them."""

    grants_table = "grants"

    def __init__(self) -> None:
        self.applications: dict[str, dict[str, Any]] = {}
        self.decisions: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.grants: list[dict[str, Any]] = []

    # records.store.ApplicationStore
    def record(
        self, application: dict[str, Any], decision: dict[str, Any], grant: Any = None
    ) -> None:
        self.applications[application["applicationId"]] = application
        self.decisions[decision["decisionId"]] = decision
        if grant is not None:
            self.grants.append(grant)

    def get(self, key: str) -> dict[str, Any] | None:  # an application, or a decision (audit)
        return self.applications.get(key) or self.decisions.get(key) or self.tasks.get(key)

    def get_decision(self, decision_id: str) -> dict[str, Any] | None:
        return self.decisions.get(decision_id)

    # audit.store.AuditStore
    def query(
        self, index: str, key: str, low: Any, high: Any, after: Any, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        sort = SORT_KEYS[index]
        rows = sorted(
            (r for r in self.decisions.values() if r.get(PARTITION_KEYS[index]) == key),
            key=lambda r: (r[sort], r["decisionId"]),
        )
        rows = [r for r in rows if low is None or low <= r[sort] <= high]
        rows = [r for r in rows if after is None or (r[sort], r["decisionId"]) > tuple(after)]
        return rows[:limit], len(rows) > limit

    def records(self, ids: Iterable[str], fields: tuple[str, ...] = ()) -> dict[str, Any]:
        return {i: self.decisions[i] for i in ids if i in self.decisions}

    def at(self, chain_id: str, seq: int) -> list[dict[str, Any]]:
        return []


class Ports:
    def __init__(self, tables: Tables) -> None:
        self.store = tables
        self.reviews = tables


def reviewer(subject: str) -> Identity:
    """A city-wide reviewer, as the authorizer would pass them."""
    return Identity(subject, SubjectType.PERSON, "0" * 64, Assurance.L3, frozenset({ALL}))


ALL = Role.parse("reviewer:*")


def rendered(*views: Any) -> str:
    return "\n".join(json.dumps(v, ensure_ascii=False, default=str) for v in views)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(person=people())
def test_no_generated_personal_value_appears_in_clear_in_any_view(person: dict[str, str]) -> None:
    # Given an application by the generated person, decided by the rules on its evidence
    tables = Tables()
    body = {
        "idNumber": person["idNumber"],
        "name": person["name"],
        "district": "BAOAN",
        "bankCardNumber": person["card"],
        "bankName": "中国银行",
        "phone": person["phone"],
        "agent": {"name": person["agentName"], "idNumber": person["agentId"], "relation": "CHILD"},
    }
    # (submitted by the agent the form names, signed in with their ID number)
    agent = Identity(
        "applicant-1", SubjectType.PERSON, HASHER.digest(person["agentId"]), Assurance.L2
    )
    done = submit(
        SERVICE,
        body,
        Caller(agent),
        "key-property-0001",
        evidence=Evidence(person),
        store=tables,  # type: ignore[arg-type]
        hasher=HASHER,
        now=WHEN,
    )
    source: Any = next(iter(tables.decisions.values()))
    # and a reviewer's decision whose comment quotes every value and names a relative
    comment = (
        f"已核实: {person['name']} 身份证 {person['idNumber']} 手机 {person['phone']} "
        f"卡 {person['card']}；代办人{person['agentName']}（{person['agentId']}）；"
        f"持卡人为{person['holder']}；已电话联系{person['relative']}本人"
    )
    task: Any = {
        "taskId": "TSK" + done.item["applicationId"].removeprefix("APP"),
        "kind": "REFERRAL",
        "status": "DECIDED",
        "serviceId": SERVICE.id,
        "applicationId": done.item["applicationId"],
        "sourceDecisionId": source["decisionId"],
        "applicantId": "applicant-1",
        "dueBy": "2025-03-06",
        "dueAt": "2025-03-06T15:59:59Z",
        "referredRules": [],
        "escalated": False,
        "createdAt": "2025-03-04T02:00:00Z",
        "reviewerId": "reviewer-1",
        "comment": comment,
    }
    choice = ReviewerChoice("APPROVE", (), comment, "reviewer-1")
    decided = reviewer_decision(
        SERVICE,
        task,
        source,
        choice,
        "DEC" + "1" * 21,
        WHEN + dt.timedelta(hours=1),
        grant_key="g" * 64,
    )
    reviewer_record: Any = from_item(decided.workflow_output["decision"])
    tables.decisions[reviewer_record["decisionId"]] = reviewer_record
    tables.tasks[task["taskId"]] = task

    # When every auditor and applicant view is rendered as the API sends it
    everything = DecisionFilter(service_id=SERVICE.id, period=PERIOD)
    store: Any = tables  # the audit store's reads (Tables above)
    shown = rendered(
        decision_detail(store, SERVICE, source, "auditor-1").wire(),
        decision_detail(store, SERVICE, reviewer_record, "auditor-1").wire(),
        list_decisions(store, everything, 50, None).wire(),
        list_decisions(
            store, DecisionFilter(application_id=done.item["applicationId"]), 50, None
        ).wire(),
        period_stats(store, SERVICE.id, PERIOD).wire(),
        replay_page(store, SERVICE, PERIOD, 50, None).wire(),
        what_if_page(store, SERVICE, CANDIDATE, PERIOD, 50, None).wire(),
        view(done.item).wire(),
    )
    other_reviewer = case_of(Ports(tables), task["taskId"], reviewer("reviewer-2"))  # type: ignore[arg-type]

    # Then no generated value appears in clear in any of them
    assert [v for v in person.values() if v in shown] == []
    assert [v for v in person.values() if v in str(other_reviewer.comment)] == []
    # and the views did show the records (not empty pages)
    assert source["decisionId"] in shown and reviewer_record["decisionId"] in shown
    # while the comment's author reads it in clear
    author = case_of(Ports(tables), task["taskId"], reviewer("reviewer-1"))  # type: ignore[arg-type]
    assert author.comment == comment
