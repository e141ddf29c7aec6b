"""Create every resource template.yaml declares, locally (moto server or in-process mock_aws).

Clients are injected (`AwsClients`), so the same code deploys to a moto server endpoint
and inside `moto.mock_aws`. Deploying again onto existing resources reuses them.
Lambda functions, layers and the REST API are not created in moto: the local runtime and
gateway run them (see MOTO-NOTES: moto cannot run the code and would swallow streams).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from infra.local.template import (
    DEFAULT_STACK_NAME,
    FunctionSpec,
    LocalTemplate,
    Resolver,
    default_region,
)

#: moto's fake credentials: the key, secret and session token of every local client and worker
#: (moto takes any; an access key it does not know is the default account's)
MOTO_CREDENTIAL = "testing"


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients the local stack uses; build them once and inject them."""

    dynamodb: Any
    dynamodbstreams: Any
    sqs: Any
    sns: Any
    secretsmanager: Any
    stepfunctions: Any
    region: str
    endpoint_url: str | None = None
    kms: Any = None
    events: Any = None
    #: the departments' intake bucket (infra/local/intake.py)
    s3: Any = None

    @classmethod
    def create(cls, endpoint_url: str | None = None, region: str | None = None) -> AwsClients:
        region = region or default_region()
        # Streams in-process need the legacy endpoint (MOTO-NOTES); harmless elsewhere.
        config = Config(account_id_endpoint_mode="disabled", retries={"max_attempts": 2})

        def make(service: str) -> Any:
            return boto3.client(  # type: ignore[call-overload]
                service,
                region_name=region,
                endpoint_url=endpoint_url,
                config=config,
                aws_access_key_id=MOTO_CREDENTIAL,
                aws_secret_access_key=MOTO_CREDENTIAL,
                aws_session_token=MOTO_CREDENTIAL,
            )

        return cls(
            dynamodb=make("dynamodb"),
            dynamodbstreams=make("dynamodbstreams"),
            sqs=make("sqs"),
            sns=make("sns"),
            secretsmanager=make("secretsmanager"),
            stepfunctions=make("stepfunctions"),
            kms=make("kms"),
            region=region,
            endpoint_url=endpoint_url,
            events=make("events"),
            s3=make("s3"),
        )


@dataclass
class PhysicalResource:
    logical_id: str
    type: str
    ref: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Deployment:
    """What a local deployment created, by logical id, plus the functions to run."""

    stack_name: str
    region: str
    template: LocalTemplate
    resolver: Resolver
    resources: dict[str, PhysicalResource]
    functions: dict[str, FunctionSpec]
    skipped: dict[str, str]  # logical id -> type, not created locally
    endpoint_url: str | None = None

    def _of(self, rtype: str) -> dict[str, PhysicalResource]:
        return {lid: r for lid, r in self.resources.items() if r.type == rtype}

    @property
    def tables(self) -> dict[str, str]:
        """Logical id -> table name."""
        return {lid: r.ref for lid, r in self._of("AWS::DynamoDB::Table").items()}

    @property
    def stream_arns(self) -> dict[str, str]:
        return {
            lid: r.attrs["StreamArn"]
            for lid, r in self._of("AWS::DynamoDB::Table").items()
            if "StreamArn" in r.attrs
        }

    @property
    def queues(self) -> dict[str, str]:
        """Logical id -> queue URL."""
        return {lid: r.ref for lid, r in self._of("AWS::SQS::Queue").items()}

    @property
    def topics(self) -> dict[str, str]:
        """Logical id -> topic ARN."""
        return {lid: r.ref for lid, r in self._of("AWS::SNS::Topic").items()}

    @property
    def secrets(self) -> dict[str, str]:
        """Logical id -> secret ARN."""
        return {lid: r.ref for lid, r in self._of("AWS::SecretsManager::Secret").items()}

    @property
    def state_machines(self) -> dict[str, str]:
        """Logical id -> state machine ARN."""
        out = self._of("AWS::Serverless::StateMachine") | self._of(
            "AWS::StepFunctions::StateMachine"
        )
        return {lid: r.ref for lid, r in out.items()}

    def arn_index(self) -> dict[str, PhysicalResource]:
        """ARN -> resource, for event sources and destinations given by ARN."""
        index: dict[str, PhysicalResource] = {}
        for r in self.resources.values():
            for key in ("Arn", "StreamArn", "TopicArn"):
                if key in r.attrs:
                    index[r.attrs[key]] = r
            if r.ref.startswith("arn:"):
                index[r.ref] = r
        return index

    def outputs(self) -> dict[str, str]:
        """The template's Outputs that resolve locally."""
        out: dict[str, str] = {}
        for name, decl in (self.template.raw.get("Outputs") or {}).items():
            try:
                out[name] = str(self.resolver.resolve(decl["Value"]))
            except KeyError:
                continue
        return out

    @property
    def stage(self) -> str | None:
        for lid in self.template.of_type("AWS::Serverless::Api"):
            stage = self.template.properties(lid).get("StageName")
            if stage is not None:
                return str(self.resolver.resolve(stage))
        return None


# ---------------------------------------------------------------- deploy


def deploy(
    template: LocalTemplate | str | Path,
    clients: AwsClients,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    parameters: dict[str, str] | None = None,
) -> Deployment:
    """Create (or reuse) every locally supported resource, in dependency order."""
    tpl = template if isinstance(template, LocalTemplate) else LocalTemplate.load(template)
    parameters = {**push_parameters(tpl, clients, stack_name), **(parameters or {})}
    resolver = tpl.resolver(stack_name, clients.region, parameters)
    created: dict[str, PhysicalResource] = {}
    skipped: dict[str, str] = {}
    for lid in tpl.deployment_order(tpl.resources):
        res = tpl.resources[lid]
        if "Condition" in res and not resolver.condition(res["Condition"]):
            skipped[lid] = res["Type"]
            continue
        creator = _CREATORS.get(res["Type"])
        if creator is None:
            skipped[lid] = res["Type"]
            continue
        resolver.lenient = True
        try:
            props = resolver.resolve(tpl.properties(lid))
        finally:
            resolver.lenient = False
        physical = creator(lid, props, resolver, clients)
        if physical is None:  # a type created only in some of its forms (KMS keys)
            skipped[lid] = res["Type"]
            continue
        resolver.bind(lid, physical.ref, **physical.attrs)
        created[lid] = physical
    functions = {spec.logical_id: spec for spec in tpl.function_specs(resolver)}
    return Deployment(
        stack_name=stack_name,
        region=clients.region,
        template=tpl,
        resolver=resolver,
        resources=created,
        functions=functions,
        skipped=skipped,
        endpoint_url=clients.endpoint_url,
    )


#: the platform the local stack pushes through (Firebase Cloud Messaging, SNS's GCM)
LOCAL_PUSH_PLATFORM = "GCM"


def push_parameters(tpl: LocalTemplate, clients: AwsClients, stack_name: str) -> dict[str, str]:
    """Mobile push, locally: an SNS platform application in moto (it accepts any credential and
    keeps what is published to its endpoints) and the template parameter that names it, found
    by the variable it sets, so the name is written once (template.yaml). None for a template
    that pushes nothing."""
    try:
        name = tpl.parameter_of_variable("PUSH_PLATFORM_APPLICATIONS")
    except KeyError:
        return {}
    answer = clients.sns.create_platform_application(
        Name=f"{stack_name}-push",
        Platform=LOCAL_PUSH_PLATFORM,
        Attributes={"PlatformCredential": "local-stand-in"},
    )
    return {name: f"{LOCAL_PUSH_PLATFORM}={answer['PlatformApplicationArn']}"}


def deploy_in_process(
    template_path: str | Path,
    stack_name: str = DEFAULT_STACK_NAME,
    parameters: dict[str, str] | None = None,
) -> Deployment:
    """Deploy inside an active `moto.mock_aws` (tests); clients need no endpoint. The template's
    OIDC parameters name an identity provider that is not running unless `parameters` say
    otherwise: in process, nothing calls the authorizer (tests pass the identity context)."""
    from infra.local.idp import oidc_parameters

    tpl = LocalTemplate.load(template_path)
    given = {**oidc_parameters(tpl, "https://idp.invalid", "miaopi-tests"), **(parameters or {})}
    return deploy(tpl, AwsClients.create(), stack_name=stack_name, parameters=given)


def local_secret_value(stack_name: str, logical_id: str, length: int = 64) -> str:
    """A deterministic secret, so a restarted local stack keeps its HMAC hashes stable."""
    out = ""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"{stack_name}/{logical_id}/{counter}".encode()).hexdigest()
        counter += 1
    return out[:length]


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


Creator = Callable[[str, dict[str, Any], Resolver, AwsClients], PhysicalResource | None]


def _table(lid: str, props: dict[str, Any], r: Resolver, c: AwsClients) -> PhysicalResource:
    name = r.declared_name(lid)
    try:
        table = c.dynamodb.describe_table(TableName=name)["Table"]
    except ClientError as err:
        if _code(err) != "ResourceNotFoundException":
            raise
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = props.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                kwargs[key] = [
                    {k: v for k, v in index.items() if k in _INDEX_KEYS} for index in props[key]
                ]
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        table = c.dynamodb.create_table(**kwargs)["TableDescription"]
        pitr = (props.get("PointInTimeRecoverySpecification") or {}).get(
            "PointInTimeRecoveryEnabled"
        )
        if pitr:
            c.dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
    attrs = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attrs["StreamArn"] = table["LatestStreamArn"]
    return PhysicalResource(lid, "AWS::DynamoDB::Table", name, attrs)


_INDEX_KEYS = {"IndexName", "KeySchema", "Projection", "ProvisionedThroughput"}

_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedrivePolicy",
    "RedriveAllowPolicy",
)


def _queue(lid: str, props: dict[str, Any], r: Resolver, c: AwsClients) -> PhysicalResource:
    name = r.declared_name(lid)
    attributes: dict[str, str] = {}
    for key in _QUEUE_ATTRIBUTES:
        if key in props:
            value = props[key]
            if isinstance(value, dict):
                attributes[key] = json.dumps(value)
            elif isinstance(value, bool):
                attributes[key] = "true" if value else "false"
            else:
                attributes[key] = str(value)
    try:
        url = c.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as err:
        if "QueueAlreadyExists" not in _code(err) and "QueueNameExists" not in _code(err):
            raise
        url = c.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        settable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
        if settable:
            c.sqs.set_queue_attributes(QueueUrl=url, Attributes=settable)
    arn = c.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return PhysicalResource(
        lid, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url}
    )


def _topic(lid: str, props: dict[str, Any], r: Resolver, c: AwsClients) -> PhysicalResource:
    name = r.declared_name(lid)
    attributes = {
        k: ("true" if v is True else "false" if v is False else str(v))
        for k, v in props.items()
        if k in ("FifoTopic", "ContentBasedDeduplication", "DisplayName")
    }
    arn = c.sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    for sub in props.get("Subscription") or []:
        _subscribe(c, arn, str(sub["Protocol"]), str(sub["Endpoint"]), {})
    return PhysicalResource(lid, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})


def _subscribe(
    c: AwsClients, topic_arn: str, protocol: str, endpoint: str, attributes: dict[str, str]
) -> str:
    paginator = c.sns.get_paginator("list_subscriptions_by_topic")
    for page in paginator.paginate(TopicArn=topic_arn):
        for sub in page["Subscriptions"]:
            if sub["Protocol"] == protocol and sub["Endpoint"] == endpoint:
                return str(sub["SubscriptionArn"])
    return str(
        c.sns.subscribe(
            TopicArn=topic_arn,
            Protocol=protocol,
            Endpoint=endpoint,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
    )


def _subscription(lid: str, props: dict[str, Any], r: Resolver, c: AwsClients) -> PhysicalResource:
    attributes: dict[str, str] = {}
    for key in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy"):
        if key in props:
            value = props[key]
            attributes[key] = (
                json.dumps(value)
                if isinstance(value, dict)
                else ("true" if value is True else "false" if value is False else str(value))
            )
    arn = _subscribe(
        c, str(props["TopicArn"]), str(props["Protocol"]), str(props["Endpoint"]), attributes
    )
    return PhysicalResource(lid, "AWS::SNS::Subscription", arn)


def _event_bus(lid: str, props: dict[str, Any], r: Resolver, c: AwsClients) -> PhysicalResource:
    name = str(props.get("Name") or r.physical_name(lid))
    try:
        arn = c.events.create_event_bus(Name=name)["EventBusArn"]
    except ClientError as err:
        if "ResourceAlreadyExists" not in _code(err):
            raise
        arn = c.events.describe_event_bus(Name=name)["Arn"]
    return PhysicalResource(lid, "AWS::Events::EventBus", name, {"Arn": arn, "Name": name})


def _event_rule(lid: str, props: dict[str, Any], r: Resolver, c: AwsClients) -> PhysicalResource:
    """The rule and its targets: moto's EventBridge delivers matching events to SQS targets
    itself (in server mode too), as EventBridge would."""
    name = str(props.get("Name") or r.physical_name(lid))
    bus = str(props.get("EventBusName") or "default")
    arn = c.events.put_rule(
        Name=name,
        EventBusName=bus,
        EventPattern=json.dumps(props["EventPattern"]),
        State=str(props.get("State", "ENABLED")),
        Description=str(props.get("Description", "")),
    )["RuleArn"]
    targets = [
        {k: v for k, v in target.items() if k in ("Id", "Arn", "RetryPolicy", "DeadLetterConfig")}
        for target in props.get("Targets") or []
    ]
    if targets:
        c.events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    return PhysicalResource(lid, "AWS::Events::Rule", arn, {"Arn": arn})


def _bucket(lid: str, props: dict[str, Any], r: Resolver, c: AwsClients) -> PhysicalResource:
    """The bucket, versioned as declared; its notifications are delivered by the local stack
    (infra/local/intake.py): moto cannot invoke the function they name."""
    name = r.declared_name(lid)
    create: dict[str, Any] = {"Bucket": name}
    if c.region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": c.region}
    try:
        c.s3.create_bucket(**create)
    except ClientError as err:
        if _code(err) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    versioning = (props.get("VersioningConfiguration") or {}).get("Status")
    if versioning:
        c.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    arn = f"arn:{r.pseudo('AWS::Partition')}:s3:::{name}"
    return PhysicalResource(lid, "AWS::S3::Bucket", name, {"Arn": arn})


def _secret(lid: str, props: dict[str, Any], r: Resolver, c: AwsClients) -> PhysicalResource:
    name = r.declared_name(lid)
    try:
        described = c.secretsmanager.describe_secret(SecretId=name)
    except ClientError as err:
        if _code(err) != "ResourceNotFoundException":
            raise
        if "SecretString" in props:
            value = str(props["SecretString"])
        else:
            gen = props.get("GenerateSecretString") or {}
            generated = local_secret_value(r.stack_name, lid, int(gen.get("PasswordLength", 32)))
            if "SecretStringTemplate" in gen and "GenerateStringKey" in gen:
                doc = json.loads(gen["SecretStringTemplate"])
                doc[gen["GenerateStringKey"]] = generated
                value = json.dumps(doc)
            else:
                value = generated
        described = c.secretsmanager.create_secret(
            Name=name, Description=str(props.get("Description", "")), SecretString=value
        )
    arn = str(described["ARN"])
    return PhysicalResource(lid, "AWS::SecretsManager::Secret", arn, {"Id": arn})


def _signing_key(
    lid: str, props: dict[str, Any], r: Resolver, c: AwsClients
) -> PhysicalResource | None:
    """An asymmetric signing key (the certificates'): its private key is needed to sign, so it
    is created in moto; symmetric keys are not (moto stores data unencrypted). Found again by
    an alias of the stack's on a redeploy. moto keeps no key across a restart: a restarted
    local stack signs with a new key (docs/certificates.md)."""
    if props.get("KeyUsage") != "SIGN_VERIFY":
        return None
    alias = f"alias/{r.stack_name}/{lid}"
    try:
        key_id = str(c.kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"])
    except ClientError as err:
        if _code(err) != "NotFoundException":
            raise
        key_id = str(
            c.kms.create_key(
                Description=str(props.get("Description", "")),
                KeySpec=str(props.get("KeySpec", "ECC_NIST_P256")),
                KeyUsage="SIGN_VERIFY",
            )["KeyMetadata"]["KeyId"]
        )
        c.kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    arn = r.arn("kms", f"key/{key_id}")
    return PhysicalResource(lid, "AWS::KMS::Key", key_id, {"Arn": arn, "KeyId": key_id})


def _state_machine(lid: str, props: dict[str, Any], r: Resolver, c: AwsClients) -> PhysicalResource:
    rtype = r.template.resources[lid]["Type"]
    name = r.declared_name(lid)
    definition = _state_machine_definition(r.template.base_dir, props)
    substitutions = {
        str(k): str(v) for k, v in (props.get("DefinitionSubstitutions") or {}).items()
    }
    definition = _substitute(definition, substitutions)
    role = (
        props.get("Role") or props.get("RoleArn") or r.arn("iam", f"role/{name}-role", region=False)
    )
    sm_type = props.get("Type") or props.get("StateMachineType") or "STANDARD"
    text = json.dumps(definition)
    arn = None
    for page in c.stepfunctions.get_paginator("list_state_machines").paginate():
        for sm in page["stateMachines"]:
            if sm["name"] == name:
                arn = sm["stateMachineArn"]
    if arn is None:
        arn = c.stepfunctions.create_state_machine(
            name=name, definition=text, roleArn=str(role), type=str(sm_type)
        )["stateMachineArn"]
    else:
        c.stepfunctions.update_state_machine(
            stateMachineArn=arn, definition=text, roleArn=str(role)
        )
    return PhysicalResource(lid, rtype, str(arn), {"Arn": str(arn), "Name": name})


def _state_machine_definition(base_dir: Path, props: dict[str, Any]) -> Any:
    if "Definition" in props:
        return props["Definition"]
    if "DefinitionString" in props:
        return json.loads(str(props["DefinitionString"]))
    uri = props.get("DefinitionUri")
    if not isinstance(uri, str):
        raise ValueError(
            "state machine needs Definition, DefinitionString or a local DefinitionUri"
        )
    path = base_dir / uri
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _substitute(value: Any, substitutions: dict[str, str]) -> Any:
    """SAM DefinitionSubstitutions: replace ${name} inside every string of the definition."""
    if isinstance(value, str):
        for key, sub in substitutions.items():
            value = value.replace("${" + key + "}", sub)
        return value
    if isinstance(value, list):
        return [_substitute(v, substitutions) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, substitutions) for k, v in value.items()}
    return value


#: What the local stack knowingly does not create, and why; a resource of any other type that
#: has no creator fails `uncovered_types` (tests/integration/test_local_template.py), so a type
#: added to template.yaml is either made here or named here.
SKIPPED_LOCALLY: dict[str, str] = {
    "AWS::Serverless::Function": "the local runtime runs the code (infra/local/runtime.py)",
    "AWS::Serverless::LayerVersion": "the local runtime puts the layers' python dirs on the path",
    "AWS::Serverless::Api": "the local gateway serves the routes (infra/local/gateway.py)",
    "AWS::SQS::QueuePolicy": "moto does not enforce resource policies",
    "AWS::S3::BucketPolicy": "moto does not enforce resource policies",
    "AWS::KMS::Key": "symmetric keys: moto stores data unencrypted (signing keys are created)",
    "AWS::KMS::Alias": "as its key",
    "AWS::IAM::Role": "moto does not enforce IAM",
    "AWS::Lambda::Permission": "the local gateway invokes the functions itself",
    "AWS::Logs::LogGroup": "the functions log to the stack's own output, as make run shows",
    "AWS::CloudWatch::Alarm": "nothing publishes metrics locally",
    "AWS::CloudWatch::Dashboard": "nothing publishes metrics locally",
    "AWS::Backup::BackupVault": "no backups of a local stack (.local is its persistence)",
    "AWS::Backup::BackupPlan": "as the vault",
    "AWS::Backup::BackupSelection": "as the vault",
    "AWS::WAFv2::WebACL": "the local gateway does not rate-limit clients",
    "AWS::WAFv2::WebACLAssociation": "as the web ACL",
}


def uncovered_types(template: LocalTemplate) -> set[str]:
    """Resource types of the template the local stack neither creates nor knowingly skips."""
    types = {res["Type"] for res in template.resources.values()}
    return types - set(_CREATORS) - set(SKIPPED_LOCALLY)


_CREATORS: dict[str, Creator] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::Events::EventBus": _event_bus,
    "AWS::Events::Rule": _event_rule,
    "AWS::Serverless::StateMachine": _state_machine,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::KMS::Key": _signing_key,
    "AWS::S3::Bucket": _bucket,
}
