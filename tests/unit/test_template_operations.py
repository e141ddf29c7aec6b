"""template.yaml protects its data and reaches a person, by rule rather than by resource.

Each check runs over every resource of a kind (every table, function, queue, alarm), so a table
or function added later gets the same protections or fails here: retained on stack deletion and
replacement, deletion protection, point-in-time recovery unless TTL'd, a customer-managed key, a
log group with a retention, an errors alarm that also rolls its deployment back, an alarm on
every dead-letter queue, and every metric the code emits on the dashboard.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.deploy import revision
from infra.local.template import LocalTemplate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = LocalTemplate.load(ROOT / "template.yaml").raw  # the nested services read in
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
GLOBALS = TEMPLATE["Globals"]["Function"]
PLATFORM = ROOT / "layers" / "platform" / "python"


def of_type(*types: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in RESOURCES.items() if res["Type"] in types}


def props(res: dict[str, Any]) -> dict[str, Any]:
    return dict(res.get("Properties") or {})


TABLES = of_type("AWS::DynamoDB::Table")
FUNCTIONS = of_type("AWS::Serverless::Function")
ALARMS = of_type("AWS::CloudWatch::Alarm")
KEYS = of_type("AWS::KMS::Key")


def ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def referenced(value: Any) -> str | None:
    """The logical id a Ref or GetAtt names."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return ref(value)


def metrics_of(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """(namespace, name, dimensions) of every metric an alarm watches, plain or in its math."""
    p = props(alarm)
    if "MetricName" in p:
        return [p]
    return [m["MetricStat"]["Metric"] for m in p.get("Metrics", []) if "MetricStat" in m]


def dimension(metric: dict[str, Any], name: str) -> Any:
    return next((d["Value"] for d in metric.get("Dimensions", []) if d["Name"] == name), None)


def alarms_on(namespace: str, metric_name: str, dim: str, target: str) -> list[str]:
    """Alarms that watch `metric_name` of the resource `target` (by its dimension `dim`)."""
    return [
        lid
        for lid, alarm in ALARMS.items()
        for m in metrics_of(alarm)
        if m["Namespace"] == namespace
        and m["MetricName"] == metric_name
        and referenced(dimension(m, dim)) == target
    ]


# ---------------------------------------------------------------- data protection


@pytest.mark.parametrize("table_id", sorted(TABLES))
def test_every_table_outlives_its_stack_and_is_on_a_customer_managed_key(table_id: str) -> None:
    # Given a table of the template
    table = TABLES[table_id]
    p = props(table)
    # Then deleting or replacing the stack keeps it, and no one deletes it by mistake
    assert table.get("DeletionPolicy") == "Retain"
    assert table.get("UpdateReplacePolicy") == "Retain"
    assert p.get("DeletionProtectionEnabled") is True
    # And it is encrypted with a key of this template (not AWS's own)
    sse = p["SSESpecification"]
    assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS"
    assert ref(sse["KMSMasterKeyId"]) in KEYS
    # And what is not short-lived (TTL'd) can be restored to any second of the last 35 days
    ttl = (p.get("TimeToLiveSpecification") or {}).get("Enabled") is True
    pitr = (p.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
    assert ttl or pitr is True


def test_the_pii_hash_key_and_every_key_and_vault_outlive_the_stack() -> None:
    # Given what cannot be made again: the keys, the HMAC key of every stored hash, the backups
    kept = of_type(
        "AWS::KMS::Key",
        "AWS::SecretsManager::Secret",
        "AWS::Backup::BackupVault",
        "AWS::S3::Bucket",
    )
    assert "PiiHashKeySecret" in kept and len(KEYS) >= 1
    for lid, res in kept.items():
        # Then each is retained on deletion and on replacement
        assert res.get("DeletionPolicy") == "Retain", lid
        assert res.get("UpdateReplacePolicy") == "Retain", lid
    # And the encryption keys rotate; a signing key cannot (KMS rotates symmetric keys only):
    # it is replaced by a new key published beside it (CertificatePublishedKeyIds)
    for lid, key in KEYS.items():
        signing = props(key).get("KeyUsage") == "SIGN_VERIFY"
        assert props(key).get("EnableKeyRotation") is (not signing), lid
    assert "CertificatePublishedKeyIds" in TEMPLATE["Parameters"]
    assert ref(props(RESOURCES["PiiHashKeySecret"])["KmsKeyId"]) in KEYS


def test_the_tables_key_serves_dynamodb_and_secrets_manager_in_any_partition() -> None:
    # Given the key policy of the key the tables use
    key_ids = {ref(props(t)["SSESpecification"]["KMSMasterKeyId"]) for t in TABLES.values()}
    for key_id in key_ids:
        statements = props(KEYS[str(key_id)])["KeyPolicy"]["Statement"]
        via = [
            s["Condition"]["StringEquals"]
            for s in statements
            if "kms:ViaService" in (s.get("Condition") or {}).get("StringEquals", {})
        ]
        # Then DynamoDB and Secrets Manager may use it, for this account's callers only, at
        # their endpoints in whatever partition the stack is in
        assert via, key_id
        services = [v["Fn::Sub"] for cond in via for v in cond["kms:ViaService"]]
        assert "dynamodb.${AWS::Region}.${AWS::URLSuffix}" in services
        assert "secretsmanager.${AWS::Region}.${AWS::URLSuffix}" in services
        assert all(cond["kms:CallerAccount"] == {"Ref": "AWS::AccountId"} for cond in via)


def test_the_decision_records_are_backed_up_daily_into_a_retained_vault() -> None:
    # Given the backup selections and their plans
    selections = of_type("AWS::Backup::BackupSelection")
    selected = {
        referenced(r) for s in selections.values() for r in props(s)["BackupSelection"]["Resources"]
    }
    # Then the decision records and their chains' heads are in a plan
    assert {"DecisionsTable", "ChainHeadsTable"} <= selected
    for selection in selections.values():
        plan = props(RESOURCES[str(ref(props(selection)["BackupPlanId"]))])["BackupPlan"]
        for rule in plan["BackupPlanRule"]:
            # And each rule runs daily into a vault that outlives the stack, kept as configured
            assert rule["ScheduleExpression"].startswith("cron(0 ")
            assert RESOURCES[str(ref(rule["TargetBackupVault"]))]["DeletionPolicy"] == "Retain"
            assert ref(rule["Lifecycle"]["DeleteAfterDays"]) == "DecisionBackupRetentionDays"


# ---------------------------------------------------------------- logs


def log_groups() -> dict[str, dict[str, Any]]:
    return {
        lid: props(res)
        for lid, res in of_type("AWS::Logs::LogGroup").items()
        if isinstance(props(res).get("LogGroupName"), dict)
    }


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_function_logs_to_a_group_kept_for_the_retention_parameter(function_id: str) -> None:
    # Given the log groups of the template
    names = {p["LogGroupName"]["Fn::Sub"]: p for p in log_groups().values()}
    # Then the function's own group (the one Lambda writes to) is declared, with the retention
    group = names.get(f"/aws/lambda/${{{function_id}}}")
    assert group is not None, f"{function_id} has no log group"
    assert ref(group["RetentionInDays"]) == "LogRetentionDays"
    assert referenced(group["KmsKeyId"]) in KEYS


def test_every_log_group_outlives_its_stack_and_its_function() -> None:
    # Given every log group of the template and the services' nested templates
    groups = of_type("AWS::Logs::LogGroup")
    # Then each is retained when the stack, or a service moving to another stack, would delete it
    kept = {lid for lid, res in groups.items() if res.get("DeletionPolicy") == "Retain"}
    kept &= {lid for lid, res in groups.items() if res.get("UpdateReplacePolicy") == "Retain"}
    assert kept == set(groups)


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_function_publishes_a_new_version_for_a_new_code_revision(function_id: str) -> None:
    # Given the function (a new rules or platform layer changes none of its own properties)
    # Then its version is named by the code revision make deploy computes, so its `live` alias
    # moves to the new layers
    assert ref(props(FUNCTIONS[function_id])["AutoPublishCodeSha256"]) == revision.PARAMETER
    assert revision.PARAMETER in TEMPLATE["Parameters"]  # what make deploy sets


def test_the_workflow_and_the_api_log_with_retention_and_without_personal_data() -> None:
    groups = of_type("AWS::Logs::LogGroup")
    # Given the review workflow's logging
    logging = props(RESOURCES["ReviewStateMachine"])["Logging"]
    group = referenced(logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"])
    # Then it logs to a group kept for the retention, and never an execution's data
    assert ref(props(groups[str(group)])["RetentionInDays"]) == "LogRetentionDays"
    assert logging["IncludeExecutionData"] is False
    # And the API's access log says who, which route, status and latency
    access = props(RESOURCES["MiaopiApi"])["AccessLogSetting"]
    assert "ApiAccessLogGroup" in access["DestinationArn"]["Fn::Sub"]
    assert ref(props(groups["ApiAccessLogGroup"])["RetentionInDays"]) == "LogRetentionDays"
    fields = json.loads(access["Format"])
    assert fields["caller"] == "$context.authorizer.principalId"
    assert fields["route"] == "$context.resourcePath"
    assert {"status", "latencyMs"} <= set(fields)
    # And nothing that carries a person's data or address: no path (ids), query, body, IP
    for personal in ("$context.path", "$context.identity", "$input", "$context.requestOverride"):
        assert personal not in access["Format"]


# ---------------------------------------------------------------- alarms


def test_every_alarm_reaches_the_alarm_topic_and_an_address_can_subscribe() -> None:
    # Given every alarm of the template
    assert len(ALARMS) >= 30
    for lid, alarm in ALARMS.items():
        # Then it publishes to the alarm topic when it fires
        assert {"Ref": "AlarmTopic"} in props(alarm).get("AlarmActions", []), lid
    # And the topic has an email subscription from a parameter (when one is given)
    subscription = next(
        s
        for s in of_type("AWS::SNS::Subscription").values()
        if ref(props(s)["TopicArn"]) == "AlarmTopic"
    )
    assert props(subscription)["Protocol"] == "email"
    assert ref(props(subscription)["Endpoint"]) == "AlarmEmail"
    # And CloudWatch may use the topic's key (an AWS-managed key would refuse it)
    topic_key = KEYS[str(ref(props(RESOURCES["AlarmTopic"])["KmsMasterKeyId"]))]
    principals = [s["Principal"] for s in props(topic_key)["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_function_has_an_errors_alarm_that_rolls_its_deployment_back(
    function_id: str,
) -> None:
    # Given the function's errors and throttles alarms
    errors = alarms_on("AWS/Lambda", "Errors", "FunctionName", function_id)
    throttles = alarms_on("AWS/Lambda", "Throttles", "FunctionName", function_id)
    assert errors and throttles, function_id
    # Then its deployment preference names them, besides the API's (Globals)
    own = props(FUNCTIONS[function_id])["DeploymentPreference"]["Alarms"]
    assert {ref(a) for a in own} >= set(errors) | set(throttles)


def test_releases_publish_an_alias_and_shift_traffic_gradually() -> None:
    # Given the functions' Globals
    preference = GLOBALS["DeploymentPreference"]
    # Then every deploy publishes a version behind an alias, shifted as the parameter says
    assert GLOBALS["AutoPublishAlias"] == "live"
    assert ref(preference["Type"]) == "DeploymentType"
    declared = TEMPLATE["Parameters"]["DeploymentType"]
    assert declared["Default"].startswith(("Canary", "Linear"))
    # And the API's 5xx and latency alarms roll any of them back
    rollback = {ref(a) for a in preference["Alarms"]}
    assert set(alarms_on_api("5XXError")) <= rollback
    assert set(alarms_on_api("Latency")) <= rollback
    assert alarms_on_api("5XXError") and alarms_on_api("Latency")


def alarms_on_api(metric_name: str) -> list[str]:
    return [
        lid
        for lid, alarm in ALARMS.items()
        for m in metrics_of(alarm)
        if m["Namespace"] == "AWS/ApiGateway" and m["MetricName"] == metric_name
    ]


def test_the_api_alarms_name_the_api_and_stage_the_template_gives_it() -> None:
    # Given the API's name (a reference would make every function depend on the API)
    name = props(RESOURCES["MiaopiApi"])["Name"]
    for lid in alarms_on_api("5XXError") + alarms_on_api("Latency"):
        (metric,) = metrics_of(ALARMS[lid])
        # Then its alarms watch that API, at its stage; latency by its 95th percentile
        assert dimension(metric, "ApiName") == name, lid
        assert ref(dimension(metric, "Stage")) == "Stage", lid
    (latency,) = alarms_on_api("Latency")
    assert props(ALARMS[latency])["ExtendedStatistic"] == "p95"


@pytest.mark.parametrize("table_id", sorted(TABLES))
def test_every_table_has_a_throttles_alarm(table_id: str) -> None:
    assert alarms_on("AWS/DynamoDB", "ReadThrottleEvents", "TableName", table_id)
    assert alarms_on("AWS/DynamoDB", "WriteThrottleEvents", "TableName", table_id)


def stream_consumers() -> list[str]:
    return [
        lid
        for lid, fn in FUNCTIONS.items()
        if any(e["Type"] == "DynamoDB" for e in (props(fn).get("Events") or {}).values())
    ]


def test_every_stream_consumer_has_an_iterator_age_alarm_and_the_sequencer_stays_in_grace() -> None:
    from miaopi_platform.audit.verification import GRACE

    # Given the functions that read a table's stream
    assert "ChainSequencerFunction" in stream_consumers()
    for function_id in stream_consumers():
        # Then each has an iterator age alarm
        (alarm,) = alarms_on("AWS/Lambda", "IteratorAge", "FunctionName", function_id)
        assert props(ALARMS[alarm])["Statistic"] == "Maximum"
    # And the chain sequencer's fires before a record waits as long as the verification allows
    (sequencer,) = alarms_on("AWS/Lambda", "IteratorAge", "FunctionName", "ChainSequencerFunction")
    assert props(ALARMS[sequencer])["Threshold"] < GRACE.total_seconds() * 1000


def dead_letter_queues() -> set[str]:
    """Queues something sends what it could not process to: redrive targets (queues and
    subscriptions) and event sources' on-failure destinations."""
    found: set[str] = set()
    for res in RESOURCES.values():
        redrive = props(res).get("RedrivePolicy") or {}
        if "deadLetterTargetArn" in redrive:
            found.add(str(referenced(redrive["deadLetterTargetArn"])))
    for fn in FUNCTIONS.values():
        for event in (props(fn).get("Events") or {}).values():
            on_failure = ((event.get("Properties") or {}).get("DestinationConfig") or {}).get(
                "OnFailure"
            )
            if on_failure:
                found.add(str(referenced(on_failure["Destination"])))
    return found


def test_every_dead_letter_queue_has_a_depth_alarm() -> None:
    # Given every queue that holds what could not be processed
    queues = dead_letter_queues()
    assert {
        "ReviewDeadLetterQueue",
        "StreamFailuresQueue",
        "NotificationsDeadLetterQueue",
    } <= queues
    for queue in queues:
        # Then a message in it fires an alarm
        assert alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue), queue


def emitted_metrics() -> set[str]:
    """Every metric name the platform emits (Powertools add_metric), f-strings expanded."""
    from miaopi.model import Outcome

    dynamic = {
        # submit_route: a new application, by its status (never REVOKED: not the rules' outcome)
        "Decided{": {
            f"Decided{o.title().replace('_', '')}" for o in Outcome if o is not Outcome.REVOKED
        },
        # review flow: a reviewer's decision (approve, reject, revoke; never pending)
        "Review{": {f"Review{o.value.title()}" for o in Outcome if o is not Outcome.PENDING_REVIEW},
    }
    names: set[str] = set()
    pattern = re.compile(r'add_metric\(\s*name=(f?)"([^"]+)"')
    for path in PLATFORM.rglob("*.py"):
        for is_f, name in pattern.findall(path.read_text(encoding="utf-8")):
            if not is_f:
                names.add(name)
                continue
            family = next((k for k in dynamic if name.startswith(k)), None)
            assert family is not None, (
                f"{path}: a metric family the dashboard does not know: {name}"
            )
            names |= dynamic[family]
    return names


def test_the_audit_and_review_alarms_watch_metrics_the_code_emits_where_it_emits_them() -> None:
    emitted = emitted_metrics()
    variables = GLOBALS["Environment"]["Variables"]
    watched = {
        m["MetricName"]: m
        for alarm in ALARMS.values()
        for m in metrics_of(alarm)
        if m["Namespace"] == variables["POWERTOOLS_METRICS_NAMESPACE"]
    }
    # Then the review SLA and the audit mismatches are alarmed
    assert {
        "ReviewEscalated",
        "ChainContentMismatch",
        "ChainsNotVerified",
        "ReplayMismatches",
    } <= set(watched)
    for name, metric in watched.items():
        # And each is a metric the code emits, with the service dimension Powertools adds
        assert name in emitted, name
        assert dimension(metric, "service") == variables["POWERTOOLS_SERVICE_NAME"], name


def dashboard_body() -> Any:
    body = props(RESOURCES["Dashboard"])["DashboardBody"]["Fn::Sub"]
    # every ${...} a name, as CloudFormation substitutes it
    return json.loads(re.sub(r"\$\{[^}]+\}", "x", body))


def test_the_dashboard_shows_every_metric_the_code_emits() -> None:
    # Given the one dashboard (its body, as CloudFormation substitutes it)
    assert len(of_type("AWS::CloudWatch::Dashboard")) == 1
    body = json.dumps(dashboard_body())
    # Then every metric the functions emit is on it
    missing = sorted(
        n for n in emitted_metrics() if f'"{n}"' not in body and f'\\"{n}\\"' not in body
    )
    assert missing == []


# ---------------------------------------------------------------- capacity


def test_background_and_audit_functions_are_capped_and_submit_functions_are_not() -> None:
    # Given the functions that run on their own (streams, queues) and the auditors' function
    background = {
        lid
        for lid, fn in FUNCTIONS.items()
        if any(e["Type"] in ("DynamoDB", "SQS") for e in (props(fn).get("Events") or {}).values())
    }
    assert background and "AuditFunction" in FUNCTIONS

    def cap(lid: str) -> Any:
        value = props(FUNCTIONS[lid]).get("ReservedConcurrentExecutions")
        return value["Fn::If"] if isinstance(value, dict) else value

    for lid in background | {"AuditFunction"}:
        # Then each is capped (unless the parameter turns caps off for a small account)
        condition, limit, otherwise = cap(lid)
        assert condition == "LimitConcurrency" and isinstance(limit, int) and limit > 0, lid
        assert otherwise == {"Ref": "AWS::NoValue"}
    # And a government service's submit function keeps the account's unreserved concurrency
    submit = [lid for lid, fn in FUNCTIONS.items() if "SERVICE_ID" in str(props(fn))]
    assert submit and all(cap(lid) is None for lid in submit)


def test_each_client_is_rate_limited_by_its_token_and_its_address() -> None:
    # Given the web ACL associated with the API's stage
    (association,) = of_type("AWS::WAFv2::WebACLAssociation").values()
    assert "${MiaopiApi}/stages/${MiaopiApi.Stage}" in props(association)["ResourceArn"]["Fn::Sub"]
    acl = props(RESOURCES[str(referenced(props(association)["WebACLArn"]))])
    rules = {r["Name"]: r["Statement"]["RateBasedStatement"] for r in acl["Rules"]}
    # Then one rate counts per bearer token, one per source address, both blocking
    keys = [k["Header"]["Name"] for k in rules["per-client"]["CustomKeys"]]
    assert keys == ["authorization"]
    assert rules["per-address"]["AggregateKeyType"] == "IP"
    assert all("Block" in r["Action"] for r in acl["Rules"])
    # And no request (its token, its address) is sampled into the console
    assert acl["VisibilityConfig"]["SampledRequestsEnabled"] is False
