"""template.yaml -> local resources: keys, indexes, streams, secrets, environments, routes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from infra.local.deploy import (
    SKIPPED_LOCALLY,
    AwsClients,
    Deployment,
    deploy_in_process,
    local_secret_value,
    uncovered_types,
)
from infra.local.gateway import RouteMatch, Router
from infra.local.template import SERVICE_ID_VARIABLE, LocalTemplate, load_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
#: each government service's function (logical id -> service id), as template.yaml binds them
SERVICES = LocalTemplate.load(TEMPLATE).service_functions()


@pytest.fixture(scope="module")
def local() -> Iterator[tuple[Deployment, AwsClients]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
        with mock_aws():
            yield deploy_in_process(TEMPLATE, "miaopi-test"), AwsClients.create()


def table_properties(logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = load_yaml(TEMPLATE)["Resources"][logical_id]["Properties"]
    return props


def _gsi_shape(indexes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        i["IndexName"]: (
            sorted((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]),
            i["Projection"]["ProjectionType"],
        )
        for i in indexes
    }


@pytest.mark.parametrize(
    "table_id",
    [
        "ApplicationsTable",
        "DecisionsTable",
        "ReferenceDataTable",
        "CreditListTable",
        "ChainHeadsTable",
    ],
)
def test_tables_have_exactly_the_template_keys_indexes_and_streams(
    local: tuple[Deployment, AwsClients], table_id: str
) -> None:
    # Given the template's declaration and the locally deployed table
    deployment, clients = local
    declared = table_properties(table_id)

    # When describing the table
    table = clients.dynamodb.describe_table(TableName=deployment.tables[table_id])["Table"]

    # Then keys, attributes, GSIs, billing and stream are exactly the template's
    assert table["TableName"] == f"miaopi-test-{table_id}"
    assert table["KeySchema"] == declared["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        declared["AttributeDefinitions"], key=str
    )
    assert _gsi_shape(table.get("GlobalSecondaryIndexes", [])) == _gsi_shape(
        declared.get("GlobalSecondaryIndexes", [])
    )
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    stream = declared.get("StreamSpecification")
    if stream:
        assert table["StreamSpecification"] == {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
        assert deployment.stream_arns[table_id] == table["LatestStreamArn"]
    else:
        assert "StreamSpecification" not in table or not table["StreamSpecification"].get(
            "StreamEnabled"
        )


def test_every_function_gets_its_environment_resolved(
    local: tuple[Deployment, AwsClients],
) -> None:
    # Given the deployment
    deployment, _ = local

    # Then each function has the Globals plus its own variables, all resolved to real ids
    expected_common = {
        "POWERTOOLS_SERVICE_NAME": "miaopi",
        "POWERTOOLS_METRICS_NAMESPACE": "Miaopi",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        "POWERTOOLS_TRACER_CAPTURE_ERROR": "false",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
        "APPLICATIONS_TABLE": deployment.tables["ApplicationsTable"],
        "DECISIONS_TABLE": deployment.tables["DecisionsTable"],
        "REFERENCE_TABLE": deployment.tables["ReferenceDataTable"],
        "CREDIT_LIST_TABLE": deployment.tables["CreditListTable"],
        "GRANTS_TABLE": deployment.tables["GrantsTable"],
        "PII_KEY_SECRET_ARN": deployment.secrets["PiiHashKeySecret"],
    }
    tasks = {"REVIEW_TASKS_TABLE": deployment.tables["ReviewTasksTable"]}
    # the signing key is made in moto (it must sign); the published earlier keys: none
    certificates = {
        "CERTIFICATES_TABLE": deployment.tables["CertificatesTable"],
        "CERTIFICATE_KEY_ID": deployment.resources["CertificateSigningKey"].ref,
    }
    machine = {"REVIEW_STATE_MACHINE_ARN": deployment.state_machines["ReviewStateMachine"]}
    # the local stack pushes through a GCM platform application it makes in moto
    push_app = f"arn:aws:sns:us-east-1:123456789012:app/GCM/{deployment.stack_name}-push"
    inbox = {
        "NOTIFICATIONS_TABLE": deployment.tables["NotificationsTable"],
        "DEVICES_TABLE": deployment.tables["DevicesTable"],
        "PUSH_PLATFORM_APPLICATIONS": f"GCM={push_app}",
    }
    own_env = {
        **{fid: {SERVICE_ID_VARIABLE: service_id} for fid, service_id in SERVICES.items()},
        "AuthorizerFunction": {
            "OIDC_ISSUER": "https://idp.invalid",
            "OIDC_AUDIENCE": "miaopi-tests",
            "OIDC_JWKS_URL": "https://idp.invalid/jwks.json",
        },
        "CatalogueFunction": {},
        "ApplicationsFunction": {},
        "ReviewStarterFunction": machine,
        "ReviewTaskFunction": {**tasks, "EVENT_BUS_NAME": f"{deployment.stack_name}-outcomes"},
        "ReviewsFunction": tasks,
        "SupervisionFunction": {
            "SUPERVISION_TABLE": deployment.tables["SupervisionTable"],
            "CREDIT_HISTORY_TABLE": deployment.tables["CreditListHistoryTable"],
            "IDEMPOTENCY_TABLE": deployment.tables["IdempotencyTable"],
            "APPLICANT_TOPIC_ARN": deployment.topics["ApplicantNotificationsTopic"],
            "SUPERVISOR_TOPIC_ARN": deployment.topics["SupervisorNotificationsTopic"],
            **machine,
        },
        "CreditRecheckFunction": {
            "SUPERVISION_TABLE": deployment.tables["SupervisionTable"],
            **machine,
        },
        # the scheduled reconciler: what supervision needs, the review tasks and chain heads
        "ReconcilerFunction": {
            **tasks,
            "SUPERVISION_TABLE": deployment.tables["SupervisionTable"],
            "CHAIN_HEADS_TABLE": deployment.tables["ChainHeadsTable"],
            "CREDIT_HISTORY_TABLE": deployment.tables["CreditListHistoryTable"],
            "IDEMPOTENCY_TABLE": deployment.tables["IdempotencyTable"],
            "APPLICANT_TOPIC_ARN": deployment.topics["ApplicantNotificationsTopic"],
            "SUPERVISOR_TOPIC_ARN": deployment.topics["SupervisorNotificationsTopic"],
            **machine,
        },
        "CreditAdminFunction": {
            "CREDIT_HISTORY_TABLE": deployment.tables["CreditListHistoryTable"]
        },
        "ChainSequencerFunction": {"CHAIN_HEADS_TABLE": deployment.tables["ChainHeadsTable"]},
        "CertificatesFunction": {**certificates, "CERTIFICATE_PUBLISHED_KEY_IDS": ""},
        "CertificateIssuerFunction": certificates,
        "AuditFunction": {
            "CHAIN_HEADS_TABLE": deployment.tables["ChainHeadsTable"],
            "SUPERVISION_TABLE": deployment.tables["SupervisionTable"],
        },
        # the outcome bus by name, as EventBridge's PutEvents takes it
        "OutcomePublisherFunction": {"EVENT_BUS_NAME": f"{deployment.stack_name}-outcomes"},
        "InboxFunction": inbox,
        "NotificationsFunction": inbox,
        # departments' data in: the stale threshold, the template's default
        "IntakeFunction": {"SOURCE_MAX_AGE_HOURS": "26"},
    }
    assert set(deployment.functions) == set(own_env)
    for function_id, spec in deployment.functions.items():
        own = own_env[function_id]
        assert spec.environment == {**expected_common, **own}, function_id
        # API Gateway's 29 s; replay pages, 1 GB; the loader reads a department's whole file
        audit = function_id in ("AuditFunction", "IntakeFunction")
        timeouts = {"SupervisionFunction": 30, "CreditRecheckFunction": 30}
        timeouts |= {"AuditFunction": 29, "ChainSequencerFunction": 60, "IntakeFunction": 900}
        timeouts |= {"ReconcilerFunction": 240, "CatalogueFunction": 29}
        assert spec.timeout == timeouts.get(function_id, 10), function_id
        # the auditors' API and the reconciler (every service's rules, many queries): 1 GB
        assert spec.memory == (1024 if audit or function_id == "ReconcilerFunction" else 512)
        assert [p.parent.name for p in spec.layer_dirs] == [
            "dependencies",
            "core",
            "platform",
            "rules",
        ]
        assert spec.handler == "app.lambda_handler"


def test_secret_is_deterministic_per_stack(local: tuple[Deployment, AwsClients]) -> None:
    # When reading the HMAC key secret
    deployment, clients = local
    value = clients.secretsmanager.get_secret_value(
        SecretId=deployment.secrets["PiiHashKeySecret"]
    )["SecretString"]

    # Then it is the stack's deterministic 64-character alphanumeric value
    assert value == local_secret_value("miaopi-test", "PiiHashKeySecret", 64)
    assert len(value) == 64 and value.isalnum()


def test_the_authorizer_is_the_template_s_lambda_with_the_identity_provider_s_settings(
    local: tuple[Deployment, AwsClients],
) -> None:
    # Given the deployed template (its OIDC parameters given, as the local stack gives them)
    deployment, _ = local

    # When reading the API's authorizers and the authorizer function's environment
    authorizers = deployment.template.lambda_authorizers()
    env = deployment.functions["AuthorizerFunction"].environment

    # Then the API's one authorizer is that function, called per request, keyed and cached on
    # the Authorization header for at most five minutes
    assert list(authorizers) == ["OidcAuthorizer"]
    authorizer = authorizers["OidcAuthorizer"]
    assert authorizer.function_id == "AuthorizerFunction"
    assert authorizer.payload_type == "REQUEST"
    assert authorizer.identity_headers == ("Authorization",)
    assert 0 < authorizer.ttl_seconds <= 300
    # And the function is told the issuer, audience and JWKS the parameters say, and the PII key
    assert env["OIDC_ISSUER"] == "https://idp.invalid"
    assert env["OIDC_JWKS_URL"] == "https://idp.invalid/jwks.json"
    assert env["OIDC_AUDIENCE"] == "miaopi-tests"
    assert env["PII_KEY_SECRET_ARN"] == deployment.secrets["PiiHashKeySecret"]
    # And nothing of Cognito is left in the template
    assert not [r for r in deployment.template.resources.values() if "Cognito" in r["Type"]]


def test_every_resource_type_is_created_locally_or_skipped_knowingly(
    local: tuple[Deployment, AwsClients],
) -> None:
    # Given the template and what the local deployment made of it
    deployment, _ = local
    template = LocalTemplate.load(TEMPLATE)
    # Then no resource type is left to chance: each is created, or skipped for a stated reason
    assert uncovered_types(template) == set()
    assert all(reason for reason in SKIPPED_LOCALLY.values())
    # And the deployment skipped only those (and resources whose condition is false)
    for lid, rtype in deployment.skipped.items():
        conditional = "Condition" in template.resources[lid]
        assert rtype in SKIPPED_LOCALLY or conditional, (lid, rtype)


def test_deploying_again_reuses_every_resource(local: tuple[Deployment, AwsClients]) -> None:
    # Given a deployed stack
    deployment, _ = local

    # When deploying the same template again (a restarted stack on kept state)
    again = deploy_in_process(TEMPLATE, "miaopi-test")

    # Then nothing fails and every physical id is the same
    assert {k: r.ref for k, r in again.resources.items()} == {
        k: r.ref for k, r in deployment.resources.items()
    }


def test_routes_follow_api_gateway_precedence(local: tuple[Deployment, AwsClients]) -> None:
    # Given the routes of every function
    deployment, _ = local
    router = Router(r for f in deployment.functions.values() for r in f.api_routes)

    def target(method: str, path: str) -> tuple[str, str]:
        found = router.match(method, path)
        assert isinstance(found, RouteMatch), (method, path)
        return found.route.function_id, found.route.authorizer or "NONE"

    # Then each service path goes to its own function, others to the catalogue
    signed_in = "OidcAuthorizer"
    for function_id, service_id in SERVICES.items():
        assert target("POST", f"/services/{service_id}/applications") == (function_id, signed_in)
    assert target("POST", "/services/unknown/applications") == ("CatalogueFunction", signed_in)
    assert target("GET", "/services") == ("CatalogueFunction", "NONE")
    assert target("GET", "/services/elderly-allowance") == ("CatalogueFunction", "NONE")
    assert target("GET", "/services/elderly-allowance/rules") == ("CatalogueFunction", "NONE")
    assert target("GET", "/openapi.json") == ("CatalogueFunction", "NONE")
    assert target("GET", "/docs") == ("CatalogueFunction", "NONE")
    assert target("GET", "/applications") == ("ApplicationsFunction", signed_in)
    assert target("GET", "/applications/a-1") == ("ApplicationsFunction", signed_in)
    # And a wrong method on a literal resource does not fall back to the {param} one
    assert router.match("GET", "/services/elderly-allowance/applications") == ["POST"]


def test_short_form_intrinsics_resolve() -> None:
    # Given a template using the short forms in their various shapes
    template = LocalTemplate(
        {
            "Parameters": {"Stage": {"Type": "String", "Default": "v1"}},
            "Conditions": {"IsV1": {"Fn::Equals": [{"Ref": "Stage"}, "v1"]}},
            "Resources": {"T": {"Type": "AWS::DynamoDB::Table", "Properties": {}}},
        },
        ROOT,
    )
    resolver = template.resolver("s", "eu-west-1")

    # Then Sub (both forms), Join, Select, If and GetAtt resolve locally
    assert resolver.resolve({"Fn::Sub": "${T}/${T.Arn}/${AWS::Region}/${!Lit}"}) == (
        "s-T/arn:aws:dynamodb:eu-west-1:123456789012:table/s-T/eu-west-1/${Lit}"
    )
    assert resolver.resolve({"Fn::Sub": ["${X}-${Stage}", {"X": {"Ref": "AWS::AccountId"}}]}) == (
        "123456789012-v1"
    )
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}) == "a-v1"
    assert resolver.resolve({"Fn::Select": [1, ["a", "b"]]}) == "b"
    assert resolver.resolve({"Fn::If": ["IsV1", "yes", "no"]}) == "yes"
    assert resolver.resolve({"Fn::GetAtt": ["T", "Arn"]}).endswith(":table/s-T")


def test_yaml_short_forms_load_as_long_forms(tmp_path: Path) -> None:
    # Given a template written with short-form tags
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  Q:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties:\n"
        "      A: !GetAtt T.Arn\n"
        "      B: !GetAtt [T, StreamArn]\n"
        '      C: !Sub ["${x}", {x: !Ref T}]\n'
        '      D: !Join [",", [!Ref T, !Select [0, [a]]]]\n'
        "      E: !If [Cond, !Equals [a, b], !Ref AWS::NoValue]\n"
    )

    # When loading it
    props = load_yaml(path)["Resources"]["Q"]["Properties"]

    # Then each tag is its long form
    assert props["A"] == {"Fn::GetAtt": ["T", "Arn"]}
    assert props["B"] == {"Fn::GetAtt": ["T", "StreamArn"]}
    assert props["C"] == {"Fn::Sub": ["${x}", {"x": {"Ref": "T"}}]}
    assert props["D"] == {"Fn::Join": [",", [{"Ref": "T"}, {"Fn::Select": [0, ["a"]]}]]}
    assert props["E"] == {"Fn::If": ["Cond", {"Fn::Equals": ["a", "b"]}, {"Ref": "AWS::NoValue"}]}


def test_the_keys_and_indexes_the_code_uses_are_the_templates() -> None:
    # The platform names keys and the applicant index in code; the template owns them.
    from miaopi_platform.records.indexes import PARTITION_KEYS, SORT_KEYS
    from miaopi_platform.records.store import BY_APPLICANT
    from miaopi_platform.review.store import BY_QUEUE, BY_SERVICE_QUEUE

    def keys(logical_id: str, index: str | None = None) -> list[str]:
        props = table_properties(logical_id)
        schema = props["KeySchema"]
        if index:
            schema = next(i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == index)[
                "KeySchema"
            ]
        return [k["AttributeName"] for k in schema]

    assert keys("ApplicationsTable") == ["applicationId"]
    assert keys("ApplicationsTable", BY_APPLICANT) == ["applicantId", "submittedAt"]
    assert keys("DecisionsTable") == ["decisionId"]
    assert keys("DecisionsTable", "byApplication") == ["applicationId", "decidedAt"]
    for index, partition in PARTITION_KEYS.items():  # the auditors' access patterns
        assert keys("DecisionsTable", index) == [partition, SORT_KEYS[index]], index
    assert keys("ChainHeadsTable") == ["chainId"]
    assert keys("ReferenceDataTable") == ["source", "key"]
    assert keys("CreditListTable") == ["subjectHash"]
    assert keys("ReviewTasksTable") == ["taskId"]
    assert keys("ReviewTasksTable", BY_QUEUE) == ["queue", "dueAt"]
    assert keys("ReviewTasksTable", BY_SERVICE_QUEUE) == ["serviceQueue", "dueAt"]


def test_the_review_index_never_holds_the_task_token() -> None:
    # Given the review tasks table's queue indexes (the reviewers' worklist reads them)
    from miaopi_platform.review.views import ReviewTaskSummary

    props = table_properties("ReviewTasksTable")
    for index in props["GlobalSecondaryIndexes"]:
        projected = set(index["Projection"]["NonKeyAttributes"])
        # Then the token is not projected, and everything a worklist row shows is
        assert "taskToken" not in projected
        shown = {f.alias or name for name, f in ReviewTaskSummary.model_fields.items()}
        assert shown <= projected | {"taskId", "queue", "serviceQueue", "dueAt"}


def test_the_audit_indexes_hold_what_the_audit_api_reads_from_them() -> None:
    # Given the decisions table's indexes
    from miaopi_platform.audit.views import DecisionSummary
    from miaopi_platform.records.indexes import BY_APPLICATION, BY_CHAIN, PARTITION_KEYS

    indexes = {
        i["IndexName"]: i for i in table_properties("DecisionsTable")["GlobalSecondaryIndexes"]
    }
    shown = {f.alias or name for name, f in DecisionSummary.model_fields.items()}
    for name in set(PARTITION_KEYS) - {BY_CHAIN, BY_APPLICATION}:
        projected = set(indexes[name]["Projection"]["NonKeyAttributes"])
        # Then every summary index holds every field a list row (and the statistics) show
        assert shown <= projected | {"decisionId", "decidedAt", PARTITION_KEYS[name]}, name
        # And none holds the application, the evidence or the trace (personal data, size)
        assert not projected & {"application", "evidence", "trace", "facts"}, name
    # And the chain index holds the hashes the verification walks
    chain = set(indexes[BY_CHAIN]["Projection"]["NonKeyAttributes"])
    assert {"contentHash", "prevHash", "hash"} <= chain


def test_the_stored_item_types_are_what_the_decisions_table_indexes_hold() -> None:
    # Given the decisions table's indexes and the types the code reads their items as
    from miaopi_platform.records.indexes import BY_APPLICATION, BY_CHAIN, PARTITION_KEYS
    from miaopi_platform.records.items import ChainEntry, DecisionSummaryItem, IndexKeys

    def declared(item: Any) -> set[str]:
        return set(item.__required_keys__ | item.__optional_keys__)

    indexes = {
        i["IndexName"]: i for i in table_properties("DecisionsTable")["GlobalSecondaryIndexes"]
    }
    for name in set(PARTITION_KEYS) - {BY_CHAIN, BY_APPLICATION}:
        projected = set(indexes[name]["Projection"]["NonKeyAttributes"])
        keys = {"decisionId", "decidedAt", PARTITION_KEYS[name]}
        # Then a summary declares exactly what every summary index holds (bySubject's key, the
        # subject's hash, is read from no summary), with the seal's index keys
        assert declared(DecisionSummaryItem) == (projected | keys | declared(IndexKeys)) - {
            "subjectHash"
        }, name
    # And a chain entry is exactly what the chain index holds
    chain = set(indexes[BY_CHAIN]["Projection"]["NonKeyAttributes"])
    assert declared(ChainEntry) == chain | {"decisionId", "chainId", "chainSeq"}


def test_the_review_workflow_uses_only_direct_integrations_and_declared_substitutions() -> None:
    # Given the review state machine as the template declares it
    template = LocalTemplate.load(ROOT / "template.yaml")
    props = template.properties("ReviewStateMachine")
    definition = json.loads((ROOT / props["DefinitionUri"]).read_text())
    text = json.dumps(definition)
    # Then every ${name} in the definition is substituted by the template, and none is left over
    used = set(re.findall(r"\$\{(\w+)\}", text))
    assert used == set(props["DefinitionSubstitutions"])
    # And no state runs a Lambda function: only service integrations
    resources = [s["Resource"] for s in definition["States"].values() if s["Type"] == "Task"]
    assert resources and all(r.startswith("arn:${Partition}:states:::") for r in resources)
    assert not any(":lambda:" in r for r in resources)


def test_no_partition_or_domain_is_written_into_the_template_or_the_workflow() -> None:
    # Given the template and the review workflow, as deployed to `aws` and `aws-cn` alike
    texts = {
        name: (ROOT / name).read_text()
        for name in ("template.yaml", "infra/statemachines/review.asl.json")
    }
    # Then no ARN names its partition and no endpoint its domain: ${AWS::Partition} and
    # ${AWS::URLSuffix} do (a service principal such as sns.amazonaws.com is a name, not a domain)
    found = [
        f"{name}:{number}: {line.strip()}"
        for name, text in texts.items()
        for number, line in enumerate(text.splitlines(), 1)
        if "arn:aws:" in line
        or ("amazonaws.com" in line and not line.strip().startswith("Service:"))
    ]
    assert found == []


def test_the_template_schedules_run_locally_with_the_event_eventbridge_sends(
    local: tuple[Deployment, AwsClients],
) -> None:
    import datetime as dt

    from infra.local.schedules import scheduled_event

    deployment, _clients = local
    # Given the template's scheduled functions, as the local stack reads them
    found = {
        (s.function_id, s.kind): s.every_s
        for f in deployment.functions.values()
        for s in f.schedules
    }
    # Then the reconciler runs every 5 minutes and the sources' freshness check every hour
    assert found == {
        ("ReconcilerFunction", "ScheduleV2"): 300.0,
        ("IntakeFunction", "Schedule"): 3600.0,
    }
    # And each gets what EventBridge sends: a rule its "Scheduled Event", the Scheduler {}
    at = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
    [freshness] = deployment.functions["IntakeFunction"].schedules
    sent = scheduled_event(freshness, "us-east-1", at)
    assert sent["source"] == "aws.events" and sent["detail-type"] == "Scheduled Event"
    assert sent["time"] == "2026-11-30T12:00:00Z"
    [reconcile] = deployment.functions["ReconcilerFunction"].schedules
    assert scheduled_event(reconcile, "us-east-1", at) == {}
