"""`python -m infra.deploy.smoke PYTHON`: every function `sam build` built answers one event.

`sam build` succeeding says the packages installed, not that a handler imports: a wheel for the
wrong platform, a layer missing a package or a module-level error shows only when Lambda loads
the function. So each function of the built template (.aws-sam/build/template.yaml) is loaded as
Lambda loads it, by the runtime's interpreter with nothing on its path but the built code and
the layers (infra/deploy/_smoke_child.py), and answers one event that needs no AWS call:

- a function behind the API: a request for a route it does not serve, answered 404 (or 405)
  with the API's error object;
- a stream or queue consumer: a batch of one record it cannot use (a stream record without an
  image, a message whose body is not JSON), answered as a partial batch response that names
  no other record (that one failed, or was let through), or the whole batch failed (Powertools'
  BatchProcessingError: Lambda retries it);
- the API's authorizer: a request without a token, refused ("Unauthorized" or a Deny policy).

AWS_ENDPOINT_URL points at a closed local port, so an AWS call that should not happen fails
fast instead of reaching AWS. A function with none of these events fails the check: give it one
here when you add it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local.template import FunctionSpec, LocalTemplate

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / ".aws-sam" / "build" / "template.yaml"
CHILD = Path(__file__).with_name("_smoke_child.py")
#: nothing listens here: an AWS call fails at once (connection refused)
NO_AWS = "http://127.0.0.1:9"


@dataclass(frozen=True)
class Outcome:
    function_id: str
    event_kind: str
    ok: bool
    detail: str
    seconds: float


def api_event(path: str = "/__smoke__/no-such-route") -> dict[str, Any]:
    """An API Gateway REST proxy event for a route no function serves."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": "GET",
        "headers": {"Accept": "application/json"},
        "multiValueHeaders": {"Accept": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": "GET",
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": "smoke-0001",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def authorizer_event() -> dict[str, Any]:
    """An API Gateway REQUEST authorizer event without a token."""
    return {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:api/v1/GET/applications",
        "resource": "/applications",
        "path": "/applications",
        "httpMethod": "GET",
        "headers": {},
        "queryStringParameters": {},
        "requestContext": {"stage": "v1", "requestId": "smoke-0001"},
    }


def authorizer_ids(template: LocalTemplate) -> set[str]:
    """Functions an API names as its Lambda authorizer (FunctionArn: !GetAtt X.Arn)."""
    found = set()
    for api_id in template.of_type("AWS::Serverless::Api"):
        _default, authorizers = template.api_auth(api_id)
        for authorizer in authorizers.values():
            arn = authorizer.get("FunctionArn") if isinstance(authorizer, dict) else None
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                target = arn["Fn::GetAtt"]
                found.add(str(target[0] if isinstance(target, list) else target.split(".")[0]))
    return found


def bucket_subscribers(template: LocalTemplate) -> set[str]:
    """Functions a bucket's new objects invoke (Events: Type: S3): the departments' loader."""
    return {
        function_id
        for function_id in template.function_ids()
        for event in (template.properties(function_id).get("Events") or {}).values()
        if event.get("Type") == "S3"
    }


def event_for(
    spec: FunctionSpec, authorizers: set[str], subscribers: frozenset[str] = frozenset()
) -> tuple[str, dict[str, Any]] | None:
    if spec.logical_id in authorizers:
        return "authorizer request without a token", authorizer_event()
    if spec.logical_id in subscribers:
        from infra.local.intake import object_created_event

        # a new object that is no delivery (a report): read nothing, load nothing
        return "S3 notification of no delivery", object_created_event(
            "smoke", "reports/smoke.json", 2, "us-east-1"
        )
    if spec.api_routes:
        return "API request for an unknown route", api_event()
    if spec.event_sources:
        kind = spec.event_sources[0].kind
        return f"{kind} batch of one unusable record", batch_event(kind)
    # a scheduled function (the reconciler): an event it must refuse before any AWS call
    return "scheduled run with a malformed event", {"lookbackDays": "not a number"}


#: the one record's id in a batch event (SQS messageId, a stream record's SequenceNumber)
RECORD_ID = "1000000000000000000001"


def batch_event(kind: str) -> dict[str, Any]:
    """A batch of one record the function cannot use: no image, or a body that is not JSON."""
    if kind == "SQS":
        record: dict[str, Any] = {
            "messageId": RECORD_ID,
            "receiptHandle": "smoke",
            "body": "not json",
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:smoke",
            "awsRegion": "us-east-1",
        }
    else:
        record = {
            "eventID": "smoke",
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/smoke/stream/x",
            "awsRegion": "us-east-1",
            "dynamodb": {"SequenceNumber": RECORD_ID, "StreamViewType": "NEW_IMAGE"},
        }
    return {"Records": [record]}


def judge(kind: str, result: dict[str, Any]) -> tuple[bool, str]:
    """Whether the answer is the one a healthy function gives, and what it was."""
    stage = result["stage"]
    if stage == "import":
        return False, f"did not import: {result['error']}\n{result.get('trace', '')}"
    if kind.startswith("S3"):
        answer = result.get("result")
        return stage != "raised" and answer == {"reports": []}, f"answered {json.dumps(answer)}"
    if kind.startswith("authorizer"):
        if stage == "raised":
            return "Unauthorized" in result["error"], f"raised {result['error']}"
        statements = (result["result"] or {}).get("policyDocument", {}).get("Statement", [])
        denied = bool(statements) and all(s.get("Effect") == "Deny" for s in statements)
        return denied, f"answered {json.dumps(result['result'])[:200]}"
    if kind.startswith("scheduled"):
        refused = stage == "raised" and result["error"].startswith("ValueError")
        return refused, f"{stage} {result.get('error') or json.dumps(result.get('result'))}"
    if stage == "raised":
        if not kind.startswith("API") and result["error"].startswith("BatchProcessingError:"):
            return True, "failed the whole batch (Lambda retries it)"
        return False, f"raised {result['error']}\n{result.get('trace', '')}"
    answer = result["result"]
    if kind.startswith("API"):
        status = answer.get("statusCode")
        body = json.loads(answer.get("body") or "{}")
        ok = status in (404, 405) and isinstance(body.get("error"), dict)
        return ok, f"answered {status} {body.get('error', {}).get('code')}"
    failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
    ok = isinstance(failures, list) and all(f == {"itemIdentifier": RECORD_ID} for f in failures)
    return ok, f"answered {json.dumps(answer)}"


def run_one(
    spec: FunctionSpec, kind: str, event: dict[str, Any], python: str, workdir: Path
) -> Outcome:
    out = workdir / f"{spec.logical_id}.out.json"
    config = workdir / f"{spec.logical_id}.json"
    config.write_text(
        json.dumps(
            {
                "name": spec.logical_id,
                "code_uri": str(spec.code_uri),
                "layers": [str(p) for p in spec.layer_dirs],
                "handler": spec.handler,
                "event": event,
                "out": str(out),
            }
        )
    )
    env = {
        **spec.environment,
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "smoke",
        "AWS_SECRET_ACCESS_KEY": "smoke",
        "AWS_ENDPOINT_URL": NO_AWS,
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "_HANDLER": spec.handler,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    started = time.perf_counter()
    proc = subprocess.run(
        [python, "-I", "-S", str(CHILD), str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    seconds = time.perf_counter() - started
    if not out.exists():
        detail = f"exited {proc.returncode} without an answer:\n{proc.stderr[-2000:]}"
        return Outcome(spec.logical_id, kind, False, detail, seconds)
    ok, detail = judge(kind, json.loads(out.read_text()))
    return Outcome(spec.logical_id, kind, ok, detail, seconds)


#: what each module's bytecode must say in its flags to be used as it is (PEP 552: hash-based,
#: unchecked), checked by the runtime's interpreter on every module of the layer
_UNCHECKED_HASH = """
import importlib.util, pathlib, sys
for path in sys.argv[1:]:
    cached = pathlib.Path(importlib.util.cache_from_source(path))
    head = cached.read_bytes()[:8] if cached.exists() else b""
    if head[:4] != importlib.util.MAGIC_NUMBER or int.from_bytes(head[4:8], "little") != 1:
        print(path)
"""


def without_bytecode(python: str, template: LocalTemplate) -> list[str]:
    """The modules of the built layers `layers/layer.mk` compiles (BuildMethod: makefile) that
    have no bytecode the runtime's interpreter would use as it is: Lambda's /opt is read-only,
    so those would be compiled again at every cold start."""
    missing: list[str] = []
    for logical_id in template.of_type("AWS::Serverless::LayerVersion"):
        metadata = template.resources[logical_id].get("Metadata") or {}
        if metadata.get("BuildMethod") != "makefile":
            continue
        root = template.base_dir / str(template.properties(logical_id)["ContentUri"]) / "python"
        sources = sorted(str(p) for p in root.rglob("*.py"))
        if not sources:
            missing.append(f"{logical_id}: no module built")
            continue
        done = subprocess.run(
            [python, "-I", "-c", _UNCHECKED_HASH, *sources],
            capture_output=True,
            text=True,
            check=True,
        )
        missing += [f"{logical_id}: {line}" for line in done.stdout.splitlines()]
    return missing


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m infra.deploy.smoke PYTHON (the Lambda runtime's interpreter)")
        return 2
    python = argv[0]
    if not BUILT.exists():
        print(f"{BUILT.relative_to(ROOT)} not found: run make build first")
        return 2
    template = LocalTemplate.load(BUILT)
    resolver = template.resolver("smoke", "us-east-1")
    resolver.lenient = True  # ids that exist only once deployed become placeholders
    specs = template.function_specs(resolver)
    authorizers = authorizer_ids(template)
    subscribers = frozenset(bucket_subscribers(template))
    outcomes: list[Outcome] = []
    jobs = []
    with tempfile.TemporaryDirectory(prefix="miaopi-smoke-") as tmp, ThreadPoolExecutor(2) as pool:
        for spec in specs:
            chosen = event_for(spec, authorizers, subscribers)
            if chosen is None:
                outcomes.append(Outcome(spec.logical_id, "-", False, "no event to send it", 0))
                continue
            kind, event = chosen
            jobs.append(pool.submit(run_one, spec, kind, event, python, Path(tmp)))
        outcomes += [job.result() for job in jobs]
    for o in sorted(outcomes, key=lambda o: o.function_id):
        mark = "ok  " if o.ok else "FAIL"
        print(f"{mark} {o.function_id:<36} {o.event_kind:<34} {o.seconds:5.1f}s  {o.detail}")
    failed = [o for o in outcomes if not o.ok]
    print(f"smoke: {len(outcomes) - len(failed)} of {len(outcomes)} built functions answered")
    uncompiled = without_bytecode(python, template)
    for line in uncompiled[:20]:
        print(f"FAIL no bytecode the runtime would use: {line}")
    print(f"smoke: {len(uncompiled)} modules of the built layers without their bytecode")
    return 1 if failed or not outcomes or uncompiled else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
