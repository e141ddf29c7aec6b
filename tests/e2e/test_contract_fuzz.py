"""Generated requests (schemathesis) against the OpenAPI document a local stack serves.

Every operation gets schema-valid and schema-invalid requests, with the token of a user in the
group its security requirement names (now and then another role's, or none), and every answer
is checked: no 5xx, a documented status, a body of the documented schema, invalid data
rejected, and a rejected request wrote nothing (the tables a request can write are counted
around each operation's batch and must have grown by exactly what its successes wrote).

Identifier fields are generated valid (check digits included) in schema-valid requests, a
citizen's application is submitted by whom it is for (the person or enterprise its identifiers
name: one may apply only for oneself), and ids the API gave (applications, tasks, decisions,
listed subjects) are fed back in, so requests get past validation to the flows. The stack is
one of its own: the fuzzer submits hundreds of applications, decides review tasks and lists
subjects, which no other test should see. The seed is fixed (MIAOPI_FUZZ_SEED to explore
others): the same requests on every run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import string
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from miaopi.engine import applicant_identifiers
from miaopi.errors import DomainError
from miaopi.forms import normalize
from miaopi.workdays import CHINA
from miaopi_platform.catalogue.services import find
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from stdnum import luhn
from stdnum.cn import ric, uscc
from vininfo import Vin

from infra.local.idp import LocalIdentity
from tests.e2e.conftest import ROOT, TIMEOUT_S, Api, running_api

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("MIAOPI_FUZZ_SEED", "20261111"))
#: examples per operation and generation mode (fewer when an operation has fewer to give)
EXAMPLES = {GenerationMode.POSITIVE: 38, GenerationMode.NEGATIVE: 17}
MIN_REQUESTS = 1_000
#: a what-if candidate that loads, for the what-if requests that should get past validation
CANDIDATE = ROOT / "infra/whatif/elderly-allowance-minimum-age-85-overrides.yaml"
#: the demo user of each staff role the document's security requirements name (city-wide)
ROLE_USERS = {"reviewer": "reviewer", "auditor": "auditor", "admin": "admin"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
#: a generated value too long for the request line is refused by the gateway itself: 413
#: (API Gateway's REQUEST_TOO_LARGE), a rejection like any 4xx the library expects
FUZZ_CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    *("400", "401", "403", "404", "405", "406", "409", "413"),
                    *("415", "422", "428", "429", "5xx"),
                ]
            }
        }
    }
)
#: what a success of each operation writes: table -> items (decisions by the workflow, later)
WRITES: dict[str, dict[str, int]] = {
    "decideReview": {"DecisionsTable": 1},
    "addCreditEntry": {"CreditListTable": 1, "CreditListHistoryTable": 1},
    "repairCreditEntry": {"CreditListHistoryTable": 1},
}
SUBMIT_WRITES = {"ApplicationsTable": 1, "DecisionsTable": 1}
COUNTED = ("ApplicationsTable", "DecisionsTable", "CreditListTable", "CreditListHistoryTable")
#: run in this order: what a later operation needs, an earlier one made
ORDER = (
    "submit",
    "listApplications",
    "getApplication",
    "listReviews",
    "getReview",
    "decideReview",
    "addCreditEntry",
    "lookupCreditEntry",
    "repairCreditEntry",
)


# -- valid identifiers, by the kinds in the forms' x-identifier-kinds


def _ric(area: str, born: dt.date, serial: int) -> str:
    body = f"{area}{born:%Y%m%d}{serial:03d}"
    return body + ric.calc_check_digit(body + "0")


def _uscc(head: str, rest: str) -> str:
    body = head + rest
    return body + uscc.calc_check_digit(body)


def _vin(head: str, tail: str) -> str:
    return next(
        vin
        for check in "0123456789X"
        if Vin(vin := f"{head}{check}{tail}").verify_checksum(check_year=False)
    )


_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
IDENTIFIERS: dict[str, st.SearchStrategy[str]] = {
    "cn.ric": st.builds(
        _ric,
        st.sampled_from(["440303", "440304", "440305", "440306", "440307", "440309"]),
        st.dates(dt.date(1930, 1, 1), dt.date(2007, 12, 31)),
        st.integers(0, 999),
    ),
    "cn.uscc": st.builds(
        _uscc,
        st.text(string.digits, min_size=8, max_size=8),
        st.text(_USCC_CHARS, min_size=9, max_size=9),
    ),
    "bankcard": st.text(string.digits, min_size=15, max_size=18).map(
        lambda d: d + luhn.calc_check_digit(d)
    ),
    "cn.mobile": st.from_regex(r"1[3-9]\d{9}", fullmatch=True),
    "vin": st.builds(
        _vin,
        st.text(_VIN_CHARS, min_size=8, max_size=8),
        st.text(_VIN_CHARS, min_size=8, max_size=8),
    ),
    "cn.plate": st.from_regex(r"粤[A-HJ-NP-Z][A-HJ-NP-Z0-9]{5}", fullmatch=True),
}
for _kind, _strategy in IDENTIFIERS.items():
    schemathesis.openapi.format(f"miaopi.{_kind}", _strategy)


def with_identifier_formats(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with each identifier field given a format whose strategy is valid."""
    for schema in spec["components"]["schemas"].values():
        for prop in schema.get("properties", {}).values():
            if "x-identifier-kinds" in prop:
                prop["format"] = f"miaopi.{prop['x-identifier-kinds'][0]}"
    return spec


# -- the run


@dataclass
class Fuzz:
    api: Api
    schema: Any
    tokens: dict[str, str]
    statuses: Counter[str] = field(default_factory=Counter)
    by_operation: dict[str, Counter[int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    #: ids the API answered, fed back into later operations
    seen: dict[str, list[str]] = field(default_factory=dict)
    #: application id -> the token of whom it is for (who submitted it), in submission order
    holders: dict[str, str] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)

    def remember(self, kind: str, value: Any) -> None:
        if isinstance(value, str) and value not in self.seen.setdefault(kind, []):
            self.seen[kind].append(value)

    def token(self, caller: str | None, operation_id: str, case: Any) -> str | None:
        """The caller's token. A citizen is whom the application is for: for a submission, the
        one its form names (any other body is refused before identity matters); for reading an
        application the API gave, whoever it is for; for the list, the last one who applied."""
        if caller is None:
            return None
        if caller == "citizen" and operation_id.startswith("submit"):
            holder = holder_of(case.path, case.body)
            if holder is not None:
                return self.api.signed_in(holder, "holder").token
        if caller == "citizen" and operation_id == "getApplication":
            app_id = (case.path_parameters or {}).get("applicationId")
            return self.holders.get(app_id, self.tokens[caller])
        if caller == "citizen" and operation_id == "listApplications" and self.holders:
            return list(self.holders.values())[-1]
        return self.tokens[caller]

    def callers(self, operation: Any) -> st.SearchStrategy[str | None]:
        """Mostly a user the operation admits; sometimes another role, or no token."""
        requirements = operation.definition.raw.get("security", [])
        if not requirements:
            return st.just(None)
        roles = next(iter(requirements[0].values()))
        right = [ROLE_USERS[r] for r in roles] or ["citizen"]
        others = [u for u in self.tokens if u not in right]
        return st.one_of(
            st.sampled_from(right), st.sampled_from(right), st.sampled_from([*others, None])
        )


def holder_of(path: str, body: Any) -> LocalIdentity | None:
    """Whom an application is for (its service's first way of applying), if it is one."""
    try:
        service = find(path.split("/")[2])
        form = normalize(service.form_model, body)
        [(_way, identifier), *_] = applicant_identifiers(service, form, {})
    except (DomainError, IndexError, ValueError):
        return None
    if uscc.is_valid(identifier):
        return LocalIdentity.legal_person(identifier, "申请单位")
    return LocalIdentity.person(identifier, "申请人")


def table_counts(api: Api) -> dict[str, int]:
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=api.info["motoEndpoint"],
        region_name=api.info["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    counts = {}
    for logical in COUNTED:
        total, start = 0, None
        while True:
            page = dynamodb.scan(
                TableName=api.info["tables"][logical],
                Select="COUNT",
                **({"ExclusiveStartKey": start} if start else {}),
            )
            total += page["Count"]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        counts[logical] = total
    return counts


def feed(fuzz: Fuzz, operation_id: str) -> Callable[[Any, st.DataObject], None]:
    """Replaces some generated ids with ones the API gave, so requests reach the flows."""
    path_ids = {
        "getApplication": ("applicationId", "applicationId"),
        "getReview": ("taskId", "taskId"),
        "decideReview": ("taskId", "referralTaskId"),
        "getAuditDecision": ("decisionId", "decisionId"),
    }

    today = dt.datetime.now(CHINA).date()

    def apply(case: Any, data: st.DataObject) -> None:
        if not data.draw(st.booleans()):
            return
        if operation_id in path_ids:
            name, kind = path_ids[operation_id]
            if fuzz.seen.get(kind):
                case.path_parameters[name] = data.draw(st.sampled_from(fuzz.seen[kind]))
        subjects = fuzz.seen.get("subject")
        by_subject = operation_id in ("lookupCreditEntry", "repairCreditEntry")
        if by_subject and subjects and isinstance(case.body, dict):
            case.body["subjectId"] = data.draw(st.sampled_from(subjects))
        if operation_id == "decideReview":
            case.body = {"decision": "APPROVE", "reasonCodes": []}
        if operation_id == "addCreditEntry" and isinstance(case.body, dict):
            case.body["validUntil"] = (today + dt.timedelta(days=365)).isoformat()
        if operation_id == "runAuditWhatIf" and isinstance(case.body, dict):
            case.body |= {"serviceId": "elderly-allowance", "ruleSet": CANDIDATE.read_text()}
        week = {"from": (today - dt.timedelta(days=6)).isoformat(), "to": today.isoformat()}
        if isinstance(case.body, dict) and "from" in case.body:
            case.body |= week
        if case.query and "from" in case.query:
            case.query = {**case.query, **week}

    return apply


def learn(
    fuzz: Fuzz, operation_id: str, case: Any, response: requests.Response, token: str | None
) -> None:
    """Ids in successful answers (and who may read an application), for later operations."""
    if response.status_code >= 300:
        return
    body = response.json()
    if operation_id.startswith("submit"):
        fuzz.remember("applicationId", body.get("applicationId"))
        if isinstance(body.get("applicationId"), str) and token:
            fuzz.holders[body["applicationId"]] = token
        fuzz.remember("decisionId", (body.get("decision") or {}).get("decisionId"))
    if operation_id == "listReviews":
        for item in body.get("items", []):
            fuzz.remember("taskId", item["taskId"])
            if item["kind"] == "REFERRAL" and item["status"] == "OPEN":
                fuzz.remember("referralTaskId", item["taskId"])
    if operation_id == "addCreditEntry" and isinstance(case.body, dict):
        fuzz.remember("subject", case.body.get("subjectId"))


def run_operation(fuzz: Fuzz, operation: Any) -> Counter[int]:
    answered: Counter[int] = Counter()
    for mode, examples in EXAMPLES.items():
        with contextlib.suppress(Unsatisfiable):  # nothing to make invalid: no parameters
            run_batch(fuzz, operation, mode, examples, answered)
    return answered


def run_batch(
    fuzz: Fuzz, operation: Any, mode: GenerationMode, examples: int, answered: Counter[int]
) -> None:
    """`examples` requests of one generation mode, each answer counted and checked."""
    operation_id = operation.definition.raw["operationId"]
    apply = feed(fuzz, operation_id)

    @seed(SEED)
    @settings(
        max_examples=examples,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        caller=fuzz.callers(operation),
        data=st.data(),
    )
    def send(case: Any, caller: str | None, data: st.DataObject) -> None:
        if mode is GenerationMode.POSITIVE:
            apply(case, data)
        # an empty list in a query sends nothing: no invalid request to make of it
        assume(all(value != [] for value in (case.query or {}).values()))
        token = fuzz.token(caller, operation_id, case)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call(
            base_url=fuzz.api.base_url, session=fuzz.session, headers=headers, timeout=TIMEOUT_S
        )
        answered[response.status_code] += 1
        fuzz.statuses[f"{response.status_code // 100}xx"] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            failures = [f for f in group.exceptions if not _about_our_own_token(f)]
            if failures:
                fuzz.failures.append(
                    f"{operation_id} ({mode.value}, {caller}): "
                    + "; ".join(f"{f.title}: {f.message[:300]}" for f in failures)
                    + f"\n    {case.method} {case.formatted_path} query={case.query!r}"
                    + f" body={case.body!r:.300}"
                )
        learn(fuzz, operation_id, case, response, token)

    send()


def _about_our_own_token(failure: Any) -> bool:
    """A negative case whose invalid part was its Authorization header: the header sent is the
    test's own (a real token of the caller), so that mutation never reached the API and its
    acceptance says nothing (schemathesis still names it)."""
    return "Schema-violating request accepted" in str(failure.title) and (
        "parameter `Authorization` in header" in str(failure.message)
    )


def expected_growth(operation_id: str, answered: Counter[int]) -> dict[str, int]:
    successes = sum(n for status, n in answered.items() if 200 <= status < 300)
    if operation_id.startswith("submit"):
        return {t: n * answered[201] for t, n in SUBMIT_WRITES.items()}
    return {t: n * successes for t, n in WRITES.get(operation_id, {}).items()}


def settle(api: Api, before: dict[str, int], grown: dict[str, int]) -> dict[str, int]:
    """The counts once the decisions a success starts (the review workflow's) have landed."""
    deadline = time.monotonic() + 20
    while True:
        after = table_counts(api)
        landed = after["DecisionsTable"] - before["DecisionsTable"]
        if landed >= grown.get("DecisionsTable", 0) or time.monotonic() > deadline:
            return after
        time.sleep(0.5)


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(tmp_path_factory.mktemp("fuzz-stack")) as running:
        yield running


def test_generated_requests_get_documented_answers_and_rejections_write_nothing(
    fuzz_api: Api,
) -> None:
    # Given the document the stack serves, and a token for each role
    started = time.monotonic()
    served = requests.get(f"{fuzz_api.base_url}/openapi.json", timeout=TIMEOUT_S).json()
    assert served["servers"] == [{"url": "/v1"}]
    schema = schemathesis.openapi.from_dict(with_identifier_formats(served), config=FUZZ_CONFIG)
    tokens = {"citizen": fuzz_api.new_applicant().token or ""}
    tokens |= {user: fuzz_api.token(user) for user in ROLE_USERS.values()}
    fuzz = Fuzz(fuzz_api, schema, tokens)
    operations = [result.ok() for result in schema.get_all_operations()]

    def rank(operation: Any) -> int:
        name = operation.definition.raw["operationId"]
        return next((i for i, p in enumerate(ORDER) if name.startswith(p)), len(ORDER))

    # When each operation gets its generated requests, the tables counted around each batch
    unaccounted: list[str] = []
    after = table_counts(fuzz_api)
    for operation in sorted(operations, key=rank):
        operation_id = operation.definition.raw["operationId"]
        before = after
        batch_started = time.monotonic()
        answered = run_operation(fuzz, operation)
        fuzz.seconds[operation_id] = time.monotonic() - batch_started
        fuzz.by_operation[operation_id] = answered
        grown = expected_growth(operation_id, answered)
        after = settle(fuzz_api, before, grown)
        for table in COUNTED:
            wrote, expected = after[table] - before[table], grown.get(table, 0)
            # an entry listed again replaces the repaired one: one item, two listings
            ok = wrote <= expected if table == "CreditListTable" else wrote == expected
            if not ok:
                unaccounted.append(f"{operation_id}: {table} +{wrote}, successes wrote {expected}")
    elapsed = time.monotonic() - started

    # Then no answer broke the contract, and nothing was written but by a success
    total = sum(fuzz.statuses.values())
    print(f"\nfuzzer: {total} requests in {elapsed:.0f} s, by class {dict(fuzz.statuses)}")
    for operation_id, answered in fuzz.by_operation.items():
        took = fuzz.seconds[operation_id]
        print(f"  {operation_id} ({took:.1f} s): {dict(sorted(answered.items()))}")
    print("\n".join(["contract failures:", *fuzz.failures, "writes:", *unaccounted]))
    assert fuzz.failures == []
    assert unaccounted == []
    assert fuzz.statuses["5xx"] == 0
    # And the run was big enough, reached every operation and got past validation to the flows
    assert total >= MIN_REQUESTS
    assert all(sum(a.values()) for a in fuzz.by_operation.values())
    assert fuzz.statuses["2xx"] >= 200
    assert fuzz.seen.get("referralTaskId") and fuzz.seen.get("subject")
