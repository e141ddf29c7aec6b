"""AWS API calls per submitted application: the real submit flow in process, under moto."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

from tests.bench.bench_common import TEMPLATE, Section, fake_aws, median


class CallCounter:
    """Counts every AWS API call (botocore `before-call`) of the clients of one session."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sends = 0

    def on_call(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.calls[f"{service}:{operation}"] += 1

    def on_send(self, **_: Any) -> None:
        self.sends += 1

    def total(self) -> int:
        return sum(self.calls.values())


def run_aws(quick: bool) -> Section:
    section = Section("aws calls")
    with fake_aws():
        _measure(section, quick)
    return section


def _measure(section: Section, quick: bool) -> None:
    import boto3
    from botocore.config import Config
    from miaopi_platform.applications.flow import CHINA, submit
    from miaopi_platform.aws.settings import Settings
    from miaopi_platform.catalogue.services import one_service
    from miaopi_platform.privacy.pii import PiiHasher
    from miaopi_platform.wiring import Dependencies
    from moto import mock_aws

    from infra.local.deploy import AwsClients, deploy_in_process
    from infra.local.seed import generate, put_all, reference_items

    with mock_aws():
        deployment = deploy_in_process(TEMPLATE, "miaopi-bench")
        setup = AwsClients.create()
        envs = {
            spec.service_id: dict(spec.environment)
            for spec in deployment.functions.values()
            if spec.service_id
        }
        any_env = next(iter(envs.values()))
        seed_hasher = PiiHasher.from_secret(setup.secretsmanager, any_env["PII_KEY_SECRET_ARN"])
        day = dt.datetime.now(CHINA).date()
        personas, _dropped = generate(day, copies=0)
        reference, credit = reference_items(personas, seed_hasher.digest)
        put_all(setup.dynamodb, any_env["REFERENCE_TABLE"], reference)
        put_all(setup.dynamodb, any_env["CREDIT_LIST_TABLE"], credit)

        # One counting session; it is also the default session, so no call escapes the count.
        counter = CallCounter()
        session = boto3.Session(region_name="us-east-1")
        session.events.register("before-call.*.*", counter.on_call)
        session.events.register("before-send.*.*", counter.on_send)
        saved_default = boto3.DEFAULT_SESSION
        boto3.DEFAULT_SESSION = session
        try:
            config = Config(account_id_endpoint_mode="disabled")
            # One execution environment per service function, as in Lambda.
            containers: dict[str, tuple[Any, Dependencies]] = {}
            cold_calls: list[int] = []
            for sid, env in envs.items():
                deps = Dependencies(
                    Settings.from_env(env),
                    dynamodb=session.client("dynamodb", config=config),
                    secrets=session.client("secretsmanager", config=config),
                )
                before = counter.total()
                _ = deps.hasher, deps.evidence, deps.store  # warm: reads the PII key secret
                cold_calls.append(counter.total() - before)
                containers[sid] = (one_service(sid), deps)
            cold_ops = dict(counter.calls)

            by_outcome: dict[str, list[int]] = {}
            ops: dict[str, Counter[str]] = {}
            wrong = 0
            chosen = personas[::3] if quick else personas
            sends_before = counter.sends
            for persona in chosen:
                service, deps = containers[persona.service_id]
                before_calls = Counter(counter.calls)
                result = submit(
                    service,
                    persona.application,
                    persona_caller(service, persona.application, deps.hasher),
                    f"bench-{uuid.uuid4().hex}",
                    evidence=deps.evidence,
                    store=deps.store,
                    hasher=deps.hasher,
                )
                assert result.submission is not None and result.created
                outcome = result.submission.decision.outcome.value
                wrong += outcome != persona.expected_outcome
                delta = counter.calls - before_calls
                by_outcome.setdefault(outcome, []).append(sum(delta.values()))
                ops.setdefault(outcome, Counter()).update(delta)
            retries = counter.sends - sends_before - sum(sum(v) for v in by_outcome.values())
        finally:
            boto3.DEFAULT_SESSION = saved_default

    rows = []
    for outcome in ("APPROVED", "REJECTED", "PENDING_REVIEW"):
        counts = by_outcome.get(outcome, [])
        if not counts:
            continue
        per_op = ", ".join(f"{op} {n / len(counts):.2f}" for op, n in sorted(ops[outcome].items()))
        rows.append([outcome, len(counts), min(counts), f"{median(counts):g}", max(counts), per_op])
    approved = by_outcome.get("APPROVED", [])
    section.results["submit.aws_calls_per_auto_decision"] = median(approved) if approved else None
    section.results["submit.aws_calls_approved_min"] = min(approved, default=None)
    section.results["submit.aws_calls_approved_max"] = max(approved, default=None)
    section.results["submit.aws_calls_approved_submissions"] = len(approved)
    for outcome, counts in by_outcome.items():
        section.results[f"submit.aws_calls_median.{outcome}"] = median(counts)
    section.results["submit.aws_calls_cold_start_per_container"] = median(cold_calls)
    section.results["submit.aws_retries"] = retries
    section.results["submit.outcomes_unexpected"] = wrong
    section.tables.append(
        (
            "AWS API calls per submission (submit() in process, moto, warm container)",
            ["outcome", "submissions", "min", "median", "max", "calls per submission"],
            rows,
        )
    )
    section.notes.append(
        f"cold start, excluded above: {median(cold_calls):g} call(s) per container "
        f"({', '.join(f'{op} x{n}' for op, n in cold_ops.items())} over {len(cold_calls)}"
        f" containers: the PII key, read once per execution environment); "
        f"{retries} retried HTTP sends; {wrong} outcomes differ from the personas' expectation"
    )


def persona_caller(service: Any, application: dict[str, Any], hasher: Any) -> Any:
    """The persona signed in as whom its application is for (its service's first way of
    applying: the person in person, the enterprise itself), at assurance L2."""
    from miaopi.engine import applicant_identifiers
    from miaopi.forms import normalize
    from miaopi_platform.applications.capacity import Caller
    from miaopi_platform.identity.context import Assurance, Identity, SubjectType
    from stdnum.cn import uscc

    [(way, identifier), *_] = applicant_identifiers(
        service, normalize(service.form_model, application), {}
    )
    kind = SubjectType.LEGAL_PERSON if uscc.is_valid(identifier) else SubjectType.PERSON
    return Caller(Identity(f"bench-{way.value}", kind, hasher.digest(identifier), Assurance.L2))
