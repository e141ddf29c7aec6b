"""A nested services template (and its invoke permissions), and the root template's blocks.

A service's resources are written here as if they were in the root template (long-form
intrinsics naming root resources); `Parameterizer` turns those names into parameters of the
nested stack and remembers what the root passes for each.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from infra.deploy import revision
from infra.deploy.services.stacks import Service, Stack
from infra.local.template import SERVICE_ID_VARIABLE

#: the root parameter whose value publishes a new version of every function (make deploy sets
#: it to a hash of the code and layers): SAM versions a function by its code's location,
#: environment and memory, so a new rules layer alone would leave the `live` alias where it was
REVISION_PARAMETER = revision.PARAMETER
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")
#: what a nested parameter keeps of the root parameter it stands for (never its default: the root
#: always passes the value)
_DECLARATION = (
    "Type",
    "AllowedValues",
    "AllowedPattern",
    "MinLength",
    "MaxLength",
    "MinValue",
    "MaxValue",
    "NoEcho",
    "Description",
)


def service_resources(service: Service, code_uri: str) -> dict[str, Any]:
    """One service's function, log group and errors alarm, in the root's terms."""
    fn = service.function_id
    alarm = f"{fn}ErrorsAlarm"
    return {
        fn: {
            "Type": "AWS::Serverless::Function",
            "Metadata": {"checkov": {"skip": _FUNCTION_CHECKOV_SKIPS}},
            "Properties": {
                "Description": f"{service.name_zh} ({service.name_en})",
                "CodeUri": code_uri,
                "Handler": "app.lambda_handler",
                "AutoPublishCodeSha256": {"Ref": REVISION_PARAMETER},
                "DeploymentPreference": {"Alarms": [{"Ref": alarm}]},
                "Environment": {"Variables": {SERVICE_ID_VARIABLE: service.id}},
                "Policies": [{"Statement": _SUBMIT_STATEMENTS}],
            },
        },
        # kept when the function moves to another stack or the stack goes: the logs are records
        f"{fn}LogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{fn}}}"},
                "RetentionInDays": {"Ref": "LogRetentionDays"},
                "KmsKeyId": {"Fn::GetAtt": ["DataKey", "Arn"]},
            },
        },
        alarm: {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": f"{fn} failed or was throttled (Lambda Errors + Throttles)",
                "AlarmActions": [{"Ref": "AlarmTopic"}],
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": 0,
                "EvaluationPeriods": 1,
                "TreatMissingData": "notBreaching",
                "Metrics": [
                    {
                        "Id": "failures",
                        "Label": "errors and throttles",
                        "Expression": "FILL(errors, 0) + FILL(throttles, 0)",
                    },
                    _lambda_metric("errors", "Errors", fn),
                    _lambda_metric("throttles", "Throttles", fn),
                ],
            },
        },
    }


def _lambda_metric(metric_id: str, name: str, function_id: str) -> dict[str, Any]:
    return {
        "Id": metric_id,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": name,
                "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function_id}}],
            },
            "Period": 60,
            "Stat": "Sum",
        },
    }


_FUNCTION_CHECKOV_SKIPS = [
    {
        "id": "CKV_AWS_116",
        "comment": "Invoked synchronously by the API; no asynchronous invocation to dead-letter",
    },
    {
        "id": "CKV_AWS_117",
        "comment": "Reaches only AWS APIs (DynamoDB, Secrets Manager) over TLS with IAM; no "
        "private resource needs a VPC",
    },
    {
        "id": "CKV_AWS_173",
        "comment": "Environment variables hold resource names and settings only, no secret (the "
        "PII key is read from Secrets Manager)",
    },
    {
        "id": "CKV_AWS_115",
        "comment": "Not capped, so the submit functions keep the account's unreserved "
        "concurrency; the audit, stream and queue functions are capped instead",
    },
]

#: a submission reads the evidence and the grant, and writes the application, its decision
#: record and the grant in one transaction (miaopi_platform/submission)
_SUBMIT_STATEMENTS = [
    {
        "Effect": "Allow",
        "Action": "dynamodb:BatchGetItem",
        "Resource": [
            {"Fn::GetAtt": ["ReferenceDataTable", "Arn"]},
            {"Fn::GetAtt": ["CreditListTable", "Arn"]},
            {"Fn::GetAtt": ["GrantsTable", "Arn"]},
        ],
    },
    {
        "Effect": "Allow",
        "Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:ConditionCheckItem"],
        "Resource": [
            {"Fn::GetAtt": ["ApplicationsTable", "Arn"]},
            {"Fn::GetAtt": ["DecisionsTable", "Arn"]},
            {"Fn::GetAtt": ["GrantsTable", "Arn"]},
        ],
    },
    {
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": {"Ref": "PiiHashKeySecret"},
    },
]


class Parameterizer:
    """Turns references to the root stack's resources and parameters into parameters of a
    nested stack, and remembers what the root passes for each."""

    def __init__(self, root: Mapping[str, Any], local: Iterable[str]) -> None:
        self.root_parameters: Mapping[str, Any] = root.get("Parameters") or {}
        self.root_resources: Mapping[str, Any] = root["Resources"]
        self.root_conditions: Mapping[str, Any] = root.get("Conditions") or {}
        self.local = set(local)
        #: nested parameter -> (its declaration, what the root passes)
        self.parameters: dict[str, tuple[dict[str, Any], Any]] = {}
        self.conditions: dict[str, Any] = {}

    def convert(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.convert(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return {"Ref": self._ref(str(arg))}
            if key == "Fn::GetAtt":
                target, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
                if target in self.local:
                    return value
                return {"Ref": self._att(str(target), str(attr))}
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    own = set(arg[1])  # the Sub's own variables are neither root nor local names
                    return {"Fn::Sub": [self._sub(str(arg[0]), own), self.convert(arg[1])]}
                return {"Fn::Sub": self._sub(str(arg), set())}
            if key == "Fn::If":
                name, yes, no = arg
                self._condition(str(name))
                return {"Fn::If": [name, self.convert(yes), self.convert(no)]}
            if key == "Condition" and isinstance(arg, str):
                self._condition(arg)
                return value
        return {k: self.convert(v) for k, v in value.items()}

    def _ref(self, name: str) -> str:
        base = name.split(".", 1)[0]
        if name.startswith("AWS::") or base in self.local:
            return name
        if name in self.root_parameters:
            decl = {k: v for k, v in self.root_parameters[name].items() if k in _DECLARATION}
            self.parameters.setdefault(name, (decl, {"Ref": name}))
        elif name in self.root_resources:
            decl = {"Type": "String", "Description": f"The root stack's {name} (Ref)"}
            self.parameters.setdefault(name, (decl, {"Ref": name}))
        else:
            raise SystemExit(f"a nested template refers to {name!r}, unknown to template.yaml")
        return name

    def _att(self, target: str, attr: str) -> str:
        if target not in self.root_resources:
            raise SystemExit(f"a nested template refers to {target}.{attr}, unknown to the root")
        name = f"{target}{attr.replace('.', '')}"
        decl = {"Type": "String", "Description": f"The root stack's {target}.{attr}"}
        self.parameters.setdefault(name, (decl, {"Fn::GetAtt": [target, attr]}))
        return name

    def _sub(self, text: str, own: set[str]) -> str:
        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("AWS::") or expr in own:
                return match.group(0)
            if "." in expr:
                target, attr = expr.split(".", 1)
                if target in self.local or target not in self.root_resources:
                    return match.group(0)
                return "${" + self._att(target, attr) + "}"
            return "${" + self._ref(expr) + "}"

        return _SUB_VAR.sub(replace, text)

    def _condition(self, name: str) -> None:
        if name not in self.root_conditions:
            raise SystemExit(f"a nested template uses the condition {name!r}, unknown to the root")
        if name not in self.conditions:
            self.conditions[name] = None  # a condition that names itself ends here
            self.conditions[name] = self.convert(self.root_conditions[name])


def nested_template(
    stack: Stack, root: Mapping[str, Any], code_uri: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the nested template of a stack's services, the parameters the root passes it)."""
    resources: dict[str, Any] = {}
    for service in stack.services:
        resources.update(service_resources(service, code_uri))
    convert = Parameterizer(root, resources)
    globals_ = convert.convert(copy.deepcopy(root.get("Globals") or {}))
    resources = convert.convert(resources)
    template = _template(
        f"miaopi: the government services of {_authority(stack)}, one function each",
        {name: decl for name, (decl, _) in sorted(convert.parameters.items())},
    )
    if convert.conditions:
        template["Conditions"] = convert.conditions
    template["Globals"] = globals_
    template["Resources"] = resources
    template["Outputs"] = {
        s.function_id: {
            "Description": f"{s.id}: the live alias API Gateway invokes",
            "Value": {"Ref": f"{s.function_id}.Alias"},
        }
        for s in stack.services
    }
    passed = {name: value for name, (_, value) in sorted(convert.parameters.items())}
    return template, passed


def invoke_template(stack: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the template of the permissions API Gateway invokes a stack's aliases with, scoped to the
    API and each service's route, the parameters the root passes it)."""
    parameters: dict[str, Any] = {
        "RestApiId": {"Type": "String", "Description": "The root stack's API (Ref MiaopiApi)"}
    }
    passed: dict[str, Any] = {"RestApiId": {"Ref": "MiaopiApi"}}
    resources: dict[str, Any] = {}
    for s in stack.services:
        alias = f"{s.function_id}Alias"
        parameters[alias] = {"Type": "String", "Description": f"{s.id}: the live alias's ARN"}
        passed[alias] = {"Fn::GetAtt": [stack.logical_id, f"Outputs.{s.function_id}"]}
        resources[f"{s.function_id}ApiPermission"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Ref": alias},
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": {
                    "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:"
                    f"${{AWS::AccountId}}:${{RestApiId}}/*/POST{s.path}"
                },
            },
        }
    template = _template(
        f"miaopi: API Gateway may invoke the government services of {_authority(stack)}",
        parameters,
    )
    template["Resources"] = resources
    return template, passed


def _authority(stack: Stack) -> str:
    first = stack.services[0]
    return f"{first.authority_zh} ({first.authority_en})"


def _template(description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"{description} (generated by infra/deploy/services from the rules layer)",
        "Parameters": parameters,
    }


def root_applications(
    stacks: list[Stack], passed: Mapping[str, Any], prefix: str
) -> dict[str, Any]:
    """template.yaml's nested applications: each stack and its invoke permissions."""
    out: dict[str, Any] = {}
    for stack in stacks:
        out[stack.logical_id] = {
            "Type": "AWS::Serverless::Application",
            "Properties": {
                "Location": f"{prefix}{stack.key}.yaml",
                "Parameters": passed[stack.key],
            },
        }
        out[stack.invoke_logical_id] = {
            "Type": "AWS::Serverless::Application",
            "Properties": {
                "Location": f"{prefix}invoke/{stack.key}.yaml",
                "Parameters": passed[f"invoke/{stack.key}"],
            },
        }
    return out


def root_paths(stacks: list[Stack]) -> dict[str, Any]:
    """template.yaml's submit routes, each integrating its service's alias."""
    paths: dict[str, Any] = {}
    for stack in stacks:
        for s in stack.services:
            arn = "${" + f"{stack.logical_id}.Outputs.{s.function_id}" + "}"
            paths[s.path] = {
                "post": {
                    "operationId": f"Submit{s.function_id.removesuffix('Function')}",
                    "summary": f"{s.name_zh} ({s.name_en})",
                    "x-amazon-apigateway-integration": {
                        "type": "aws_proxy",
                        "httpMethod": "POST",
                        "uri": {
                            "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:"
                            f"path/2015-03-31/functions/{arn}/invocations"
                        },
                    },
                }
            }
    return paths
