"""The API over real HTTP against the local stack: personas, idempotency, errors, catalogue."""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from miaopi.loader import SERVICE_FILE
from miaopi_rules import SERVICES_DIR
from openapi_spec_validator import validate

from infra.local.seed import Persona
from tests.e2e.conftest import TIMEOUT_S, Api, Client, Response, new_key
from tests.e2e.test_certificates_http import wait_for

pytestmark = pytest.mark.e2e

OUTCOMES = ("APPROVED", "REJECTED", "PENDING_REVIEW")
SERVICES = {path.parent.name for path in SERVICES_DIR.glob(f"*/{SERVICE_FILE}")}
ELDERLY = "elderly-allowance"


def persona_of(api: Api, service_id: str, outcome: str) -> Persona:
    return next(
        p for p in api.live_personas if p.service_id == service_id and p.expected_outcome == outcome
    )


def applying(api: Api, service_id: str, outcome: str) -> tuple[Persona, Client]:
    """Someone new in the situation of the service's persona with `outcome`, signed in as
    whom the application is for: no applications yet, no grant taken by another test."""
    return api.fresh_applicant(persona_of(api, service_id, outcome))


def signed(applications: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The applications once no certificate of theirs is still ISSUING, else None."""
    issuing = [a for a in applications if (a.get("certificate") or {}).get("status") == "ISSUING"]
    return None if issuing else applications


def problems_with(persona: Persona, answer: Response) -> list[str]:
    """What differs between a persona's expectations and the API's answer (empty: none)."""
    if answer.status != 201:
        return [f"status {answer.status}: {answer.text[:300]}"]
    app = answer.body
    decision = app.get("decision") or {}
    failing = sorted(r["ruleId"] for r in decision.get("reasons", []))
    out = []
    if app.get("status") != persona.expected_outcome or decision.get("outcome") != app["status"]:
        out.append(f"outcome {app.get('status')}/{decision.get('outcome')}")
    if failing != persona.expected_failing:
        out.append(f"failing {failing} != {persona.expected_failing}")
    outputs = {k: str(v) for k, v in (app.get("outputs") or {}).items()}
    # what the rules computed (an allowance) is shown only while granted; the record keeps it
    granted = app.get("status") == "APPROVED"
    shown = persona.expected_outputs if granted else {}
    if (persona.expected_outputs or not granted) and outputs != shown:
        out.append(f"outputs {outputs} != {shown}")
    if (app.get("status") == "APPROVED") != ("certificate" in app):
        out.append("a certificate exactly when approved")
    if (app.get("status") == "PENDING_REVIEW") != bool((app.get("review") or {}).get("dueBy")):
        out.append("review.dueBy exactly when pending")
    for reason in decision.get("reasons", []):
        for part in ("message", "remedy"):
            if not all((reason.get(part) or {}).get(lang) for lang in ("zh", "en")):
                out.append(f"{reason['ruleId']}: {part} without zh and en")
        if not (reason.get("legalBasis") or {}).get("citation"):
            out.append(f"{reason['ruleId']}: no legalBasis")
    return out


# ---------------------------------------------------------------- personas


@pytest.mark.parametrize("service_id", sorted(SERVICES))
def test_every_persona_gets_its_expected_decision(api: Api, service_id: str) -> None:
    # Given every non-bulk persona the stack was seeded with for the service, as someone new
    # in each one's situation (another test of this stack may hold the persona's own grant)
    personas = api.fresh_all([p for p in api.live_personas if p.service_id == service_id])
    expected = Counter(p.expected_outcome for p in personas)
    assert all(expected[o] for o in OUTCOMES), f"{service_id}: not every outcome: {expected}"

    # When each is submitted over HTTP by whom it is for
    results = [(p, api.applicant_for(p).submit(service_id, p.application)) for p in personas]

    # Then each gets its expected outcome, failing rules and outputs
    mismatches = [
        f"{persona.name}: {problem}"
        for persona, answer in results
        for problem in problems_with(persona, answer)
    ]
    counts = Counter(str((a.body or {}).get("status", a.status)) for _, a in results)
    print(f"{service_id}: {len(personas)} personas, {dict(counts)}")
    assert not mismatches, "\n".join(mismatches)
    # And the service really decided all three ways
    assert counts == expected


def test_personas_cover_every_service(api: Api) -> None:
    # Given the personas the stack wrote: every service, every outcome
    by_service = defaultdict(set)
    for persona in api.live_personas:
        by_service[persona.service_id].add(persona.expected_outcome)
    assert by_service == {s: set(OUTCOMES) for s in SERVICES}


def test_decisions_carry_certificate_review_and_explained_reasons(api: Api) -> None:
    # Given one approved, one rejected and one referred elder of the elderly allowance
    elders = [applying(api, ELDERLY, o) for o in OUTCOMES]

    # When each submits their application
    a, r, p = (elder.submit(ELDERLY, persona.application).body for persona, elder in elders)

    # Then the approval carries a certificate and no reasons
    assert a["status"] == "APPROVED" and a["decision"]["reasons"] == []
    assert a["certificate"]["number"] and a["certificate"]["title"]["zh"]
    assert "review" not in a
    # And the referral a review due date (a date, not before today) and no certificate
    assert p["status"] == "PENDING_REVIEW" and "certificate" not in p
    due = dt.date.fromisoformat(p["review"]["dueBy"])
    assert due >= dt.date.fromisoformat(p["submittedAt"][:10])
    # And every reason says why in both languages, what to do, and on which legal basis
    for app in (r, p):
        assert app["decision"]["reasons"], app
        for reason in app["decision"]["reasons"]:
            assert reason["ruleId"] and reason["onFail"] in ("REJECT", "REFER")
            assert reason["message"]["zh"] and reason["message"]["en"]
            assert reason["remedy"]["zh"] and reason["remedy"]["en"]
            assert reason["legalBasis"]["citation"]
    assert {x["decision"]["decidedBy"] for x in (a, r, p)} == {"SYSTEM"}
    assert all(x["decision"]["latencyMs"] >= 0 for x in (a, r, p))


# ---------------------------------------------------------------- idempotency


def test_the_same_key_and_body_again_returns_the_same_application(api: Api) -> None:
    # Given an application submitted once
    persona, applicant = applying(api, ELDERLY, "APPROVED")
    key = new_key()
    first = applicant.submit(ELDERLY, persona.application, key=key)
    assert first.status == 201, first.text

    # When the same key and body are sent again
    again = applicant.submit(ELDERLY, persona.application, key=key)

    # Then it is the same application, answered 200, and listed once
    assert again.status == 200, again.text
    assert again.body["applicationId"] == first.body["applicationId"]
    assert again.body["decision"]["decisionId"] == first.body["decision"]["decisionId"]
    ids = [a["applicationId"] for a in applicant.applications()]
    assert ids == [first.body["applicationId"]]


def test_the_same_key_with_another_body_is_a_conflict_and_writes_nothing(api: Api) -> None:
    # Given an application submitted with a key
    approved, applicant = applying(api, ELDERLY, "APPROVED")
    key = new_key()
    first = applicant.submit(ELDERLY, approved.application, key=key)
    assert first.status == 201, first.text

    # When the same key comes with another body (the same elder, another phone number: a body
    # about someone else would be refused before the key is looked at, 403 not_the_applicant)
    other_phone = "13700137000" if approved.application["phone"] != "13700137000" else "13600136000"
    conflict = applicant.submit(ELDERLY, {**approved.application, "phone": other_phone}, key=key)

    # Then 409, and the first application is all there is, unchanged
    assert conflict.status == 409, conflict.text
    assert conflict.body["error"]["code"]
    listed = applicant.applications()
    assert [a["applicationId"] for a in listed] == [first.body["applicationId"]]
    stored = applicant.get(f"/applications/{first.body['applicationId']}")
    assert stored.status == 200
    assert stored.body["status"] == first.body["status"] == "APPROVED"
    assert stored.body["decision"] == first.body["decision"]


def test_concurrent_duplicates_make_exactly_one_application(api: Api) -> None:
    # Given 8 clients of the same elder holding the same key and body
    persona, applicant = applying(api, ELDERLY, "PENDING_REVIEW")
    key = new_key()
    body = json.dumps(persona.application, ensure_ascii=False).encode()
    barrier = threading.Barrier(8)

    def send(_: int) -> Response:
        barrier.wait()
        answer = requests.post(
            f"{applicant.base_url}/services/{ELDERLY}/applications",
            data=body,
            headers=applicant.headers({"Idempotency-Key": key, "Content-Type": "application/json"}),
            timeout=TIMEOUT_S,
        )
        return Response(answer.status_code, answer.json(), answer.text, dict(answer.headers))

    # When they all submit at once
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))

    # Then one was created (201) and the others got it back (200), all the same application
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] * 7 + [201], [(a.status, a.text[:200]) for a in answers]
    assert len({a.body["applicationId"] for a in answers}) == 1
    # And the applicant has exactly one application
    assert len(applicant.applications()) == 1


# ---------------------------------------------------------------- errors write nothing


def invalid_requests(valid: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    wrong_types = {**valid, "name": 123, "district": "NOWHERE"}
    bad_id = dict(valid)
    bad_id["idNumber"] = valid["idNumber"][:-1] + ("0" if valid["idNumber"][-1] != "0" else "1")
    too_large = {**valid, "padding": "x" * (64 * 1024)}
    return [
        ("malformed JSON", {"raw": b'{"idNumber": '}),
        ("wrong types", {"body": wrong_types}),
        ("bad check digit", {"body": bad_id}),
        ("unknown service", {"body": valid, "service": "no-such-service"}),
        ("too large", {"body": too_large}),
        ("no token", {"body": valid, "token": None}),
        ("bad token", {"body": valid, "token": "not.a.token"}),
    ]


ERROR_CASES = {
    "malformed JSON": (400, None),
    "wrong types": (422, {"name", "district"}),
    "bad check digit": (422, {"idNumber"}),
    "unknown service": (404, None),
    "too large": (413, None),
    "no token": (401, None),
    "bad token": (401, None),
}


def test_rejected_requests_answer_their_status_and_write_nothing(api: Api) -> None:
    # Given an applicant with one application
    persona, applicant = applying(api, ELDERLY, "APPROVED")
    assert applicant.submit(ELDERLY, persona.application).status == 201
    # (its certificate signed: the issuer's ISSUING -> VALID is not a write of these requests)
    before = wait_for(lambda: signed(applicant.applications()), seconds=30.0)
    problems = []
    for name, spec in invalid_requests(persona.application):
        # When a request is malformed, invalid, misrouted, too large or unauthenticated
        client = applicant
        if "token" in spec:
            client = Client(applicant.base_url, spec["token"])
        answer = client.submit(spec.get("service", ELDERLY), spec.get("body"), raw=spec.get("raw"))
        status, fields = ERROR_CASES[name]
        # Then it gets the status and our error format
        if answer.status != status:
            problems.append(f"{name}: {answer.status} != {status}: {answer.text[:300]}")
            continue
        error = (answer.body or {}).get("error") or {}
        if not (error.get("code") and error.get("message") and "details" in error):
            problems.append(f"{name}: not the error format: {answer.text[:300]}")
        if fields is not None:
            # with one detail per field, naming the field
            named = [d.get("field") for d in error.get("details", [])]
            if sorted(named) != sorted(fields):
                problems.append(f"{name}: details name {named}, expected {sorted(fields)}")
        # And nothing was written
        if applicant.applications() != before:
            problems.append(f"{name}: the applicant's applications changed")
    assert not problems, "\n".join(problems)


def test_a_bad_check_digit_is_named_and_the_number_never_echoed(api: Api) -> None:
    # Given an elder's own ID number with a wrong check digit
    persona, applicant = applying(api, ELDERLY, "APPROVED")
    application = copy.deepcopy(persona.application)
    number = application["idNumber"]
    application["idNumber"] = number[:-1] + ("0" if number[-1] != "0" else "1")

    # When it is submitted
    answer = applicant.submit(ELDERLY, application)

    # Then 422 names the field and the code, and the number appears nowhere in the answer
    assert answer.status == 422, answer.text
    details = answer.body["error"]["details"]
    assert [(d["field"], d["code"]) for d in details] == [("idNumber", "invalid_check_digit")]
    assert application["idNumber"] not in answer.text
    assert application["idNumber"][:17] not in answer.text
    assert applicant.applications() == []


def test_wrong_types_get_one_detail_per_field(api: Api) -> None:
    # Given an elder's valid application with two fields of the wrong type or value
    persona, applicant = applying(api, ELDERLY, "APPROVED")
    application = {**persona.application}
    application.update(name=123, district="NOWHERE")

    # When it is submitted
    answer = applicant.submit(ELDERLY, application)

    # Then 422 with exactly one detail for each, naming the field
    assert answer.status == 422, answer.text
    by_field = {d["field"]: d for d in answer.body["error"]["details"]}
    assert len(answer.body["error"]["details"]) == 2
    assert set(by_field) == {"name", "district"}
    assert all(d["code"] and d["message"] for d in by_field.values())
    assert applicant.applications() == []


# ---------------------------------------------------------------- reading applications


def test_another_users_application_is_not_found(api: Api, citizen2: Client) -> None:
    # Given an elder's own application ("citizen" below)
    persona, citizen = applying(api, ELDERLY, "REJECTED")
    created = citizen.submit(ELDERLY, persona.application)
    assert created.status == 201, created.text
    app_id = created.body["applicationId"]

    # When citizen2 asks for it, and citizen does
    theirs = citizen2.get(f"/applications/{app_id}")
    mine = citizen.get(f"/applications/{app_id}")

    # Then citizen2 gets 404 (as for one that does not exist), citizen gets it
    assert theirs.status == 404, theirs.text
    assert theirs.body["error"]["code"] == "NOT_FOUND"
    assert citizen2.get("/applications/APPDOESNOTEXIST").status == 404
    assert mine.status == 200 and mine.body == created.body
    assert app_id not in {a["applicationId"] for a in citizen2.applications()}


def test_pagination_walks_every_application_once(api: Api) -> None:
    # Given an applicant with 7 applications: an elder who applied 7 times (each one rejected
    # for the same reason; one may apply only for oneself, and for an allowance once at a time)
    persona, applicant = applying(api, ELDERLY, "REJECTED")
    answers = [applicant.submit(ELDERLY, persona.application) for _ in range(7)]
    assert [a.status for a in answers] == [201] * 7, [a.text[:200] for a in answers]
    created = {a.body["applicationId"] for a in answers}
    assert len(created) == 7

    # When GET /applications is walked with limit=2
    pages = []
    token = None
    while True:
        params = {"limit": 2, **({"nextToken": token} if token else {})}
        page = applicant.get("/applications", params=params)
        assert page.status == 200, page.text
        pages.append([a["applicationId"] for a in page.body["items"]])
        token = page.body.get("nextToken")
        if not token:
            break

    # Then pages hold at most 2, and together every application exactly once
    assert all(len(p) <= 2 for p in pages) and len(pages) >= 4
    walked = [a for p in pages for a in p]
    assert len(walked) == len(set(walked)) == 7
    assert set(walked) == created
    # And newest first
    listed = applicant.applications(limit=100)
    assert [a["applicationId"] for a in listed] == walked
    submitted = [a["submittedAt"] for a in listed]
    assert submitted == sorted(submitted, reverse=True)


# ---------------------------------------------------------------- catalogue and docs


def test_services_list_every_service_and_each_has_its_form_schema(api: Api) -> None:
    anonymous = api.client(None)
    # When the catalogue is read without a token
    services = anonymous.get("/services")
    # Then it lists every service once, each with a rule set in force
    assert services.status == 200, services.text
    items = services.body["items"]
    assert sorted(s["serviceId"] for s in items) == sorted(SERVICES)
    for summary in items:
        assert summary["name"]["zh"] and summary["ruleSet"]["hash"]
        # And each service's detail carries its form as JSON Schema
        detail = anonymous.get(f"/services/{summary['serviceId']}")
        assert detail.status == 200, detail.text
        schema = detail.body["formSchema"]
        assert schema["type"] == "object" and schema["properties"], schema
        assert set(schema.get("required", [])) <= set(schema["properties"])
    assert anonymous.get("/services/no-such-service").status == 404


def test_rules_in_force_on_a_date(api: Api) -> None:
    anonymous = api.client(None)
    for service_id in sorted(SERVICES):
        # When the rules in force on 2026-11-27 are asked for
        answer = anonymous.get(f"/services/{service_id}/rules", params={"date": "2026-11-27"})
        # Then they come with version, hash and rules that cite their legal basis
        assert answer.status == 200, answer.text
        body = answer.body
        assert body["hash"].startswith("sha256:") and body["version"] and body["effectiveFrom"]
        assert body["rules"]
        for rule in body["rules"]:
            assert rule["ruleId"] and rule["onFail"] in ("REJECT", "REFER")
            assert rule["legalBasis"]["citation"] and rule["title"]["zh"]
        # And before any rule set took effect there is none
        early = anonymous.get(f"/services/{service_id}/rules", params={"date": "1990-01-01"})
        assert early.status == 404, early.text
        assert early.body["error"]["code"] == "NOT_FOUND"


def test_openapi_document_is_valid_and_docs_render(api: Api) -> None:
    anonymous = api.client(None)
    # When the OpenAPI document is fetched
    answer = anonymous.get("/openapi.json")
    # Then it is a valid OpenAPI document with the API's paths
    assert answer.status == 200, answer.text
    validate(answer.body)
    paths = set(answer.body["paths"])
    assert {
        "/services",
        "/services/{serviceId}",
        "/services/{serviceId}/rules",
        f"/services/{ELDERLY}/applications",
        "/applications",
        "/applications/{applicationId}",
    } <= paths
    assert "post" in answer.body["paths"][f"/services/{ELDERLY}/applications"]
    # And /docs is an HTML page
    docs = requests.get(f"{api.base_url}/docs", timeout=TIMEOUT_S)
    assert docs.status_code == 200
    assert docs.headers["Content-Type"].startswith("text/html")
    assert "<html" in docs.text.lower() and "openapi.json" in docs.text
