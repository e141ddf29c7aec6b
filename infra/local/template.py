"""template.yaml as the single source of truth for the local stack.

Loads the SAM template (with its short-form intrinsics), resolves intrinsics for a local
deployment and exposes what the local stack needs as typed specs: tables, queues, topics,
secrets, state machines, functions (environment, routes, event sources) and the API's Lambda
authorizers.

Physical ids that only exist after creation (secret ARN, stream ARN, queue URL) are filled in
by `deploy` through `Resolver.bind`; everything else follows the naming convention
`{stack_name}-{LogicalId}`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_STACK_NAME = "miaopi-local"

#: the environment variable that binds a function to the government service it runs: a service
#: is its folder in the rules layer plus one function block that sets this to the folder's name
SERVICE_ID_VARIABLE = "SERVICE_ID"


# ---------------------------------------------------------------- YAML loading


@dataclass(frozen=True)
class Intrinsic:
    """An unresolved CloudFormation intrinsic function, e.g. Intrinsic("Ref", "Table")."""

    name: str
    value: Any


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that turns !Ref, !GetAtt, !Sub, ... into long-form dicts."""


_SHORT_FORMS = {
    "Ref": "Ref",
    "GetAtt": "Fn::GetAtt",
    "Sub": "Fn::Sub",
    "Join": "Fn::Join",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "If": "Fn::If",
    "Equals": "Fn::Equals",
    "Not": "Fn::Not",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "FindInMap": "Fn::FindInMap",
    "Base64": "Fn::Base64",
    "GetAZs": "Fn::GetAZs",
    "ImportValue": "Fn::ImportValue",
    "Condition": "Condition",
}


def _make_constructor(long_name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if long_name == "Fn::GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {long_name: value}

    return construct


for _short, _long in _SHORT_FORMS.items():
    _TemplateLoader.add_constructor(f"!{_short}", _make_constructor(_long))


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML file into plain data with long-form intrinsics."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise ValueError(f"{path}: not a CloudFormation template (no Resources)")
    return data


# ---------------------------------------------------------------- specs


@dataclass(frozen=True)
class ApiRoute:
    method: str  # upper case, or ANY
    path: str  # resource path template, e.g. /services/{serviceId}
    authorizer: str | None  # the name of the API's authorizer in front of it; None: public
    function_id: str
    event_id: str


@dataclass(frozen=True)
class LambdaAuthorizer:
    """A Lambda authorizer of an AWS::Serverless::Api (SAM `Auth.Authorizers`)."""

    name: str
    function_id: str  # the logical id of its function
    payload_type: Literal["TOKEN", "REQUEST"]
    #: the request headers whose values identify the caller (the cache key; none sent: 401)
    identity_headers: tuple[str, ...]
    #: seconds API Gateway caches an answer per identity (0: not cached)
    ttl_seconds: int


@dataclass(frozen=True)
class EventSource:
    """A DynamoDB stream or SQS event source mapping of a function."""

    function_id: str
    event_id: str
    kind: Literal["DynamoDB", "SQS"]
    source_id: str  # logical id of the table or queue
    source_arn: str
    batch_size: int
    maximum_batching_window_s: float
    starting_position: str  # TRIM_HORIZON | LATEST (streams only)
    maximum_retry_attempts: int  # -1 = infinite (streams only)
    maximum_record_age_s: int  # -1 = infinite (streams only)
    bisect_batch_on_function_error: bool
    report_batch_item_failures: bool
    on_failure_destination: str | None  # ARN of an SQS queue or SNS topic
    enabled: bool = True


@dataclass(frozen=True)
class ScheduledEvent:
    """A function's `Schedule` (EventBridge rule) or `ScheduleV2` (EventBridge Scheduler) event
    with a `rate(...)` expression: the local stack invokes the function at that rate."""

    function_id: str
    event_id: str
    kind: Literal["Schedule", "ScheduleV2"]
    every_s: float
    #: the event's `Input` (JSON), or None: a rule sends its scheduled event, the Scheduler {}
    input: Any = None


#: rate(value unit): EventBridge's rate expressions
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """Seconds between runs of a rate expression; None for a cron expression."""
    found = _RATE.match(expression.strip())
    if found is None:
        return None
    return float(int(found.group(1)) * _UNIT_S[found.group(2).rstrip("s")])


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_uri: Path
    handler: str
    layer_dirs: tuple[Path, ...]
    environment: dict[str, str]
    timeout: int
    memory: int
    runtime: str  # e.g. python3.13: Lambda's AWS_EXECUTION_ENV names it
    api_routes: tuple[ApiRoute, ...] = ()
    event_sources: tuple[EventSource, ...] = ()
    schedules: tuple[ScheduledEvent, ...] = ()

    @property
    def service_id(self) -> str | None:
        """The government service this function runs, None for every other function."""
        return self.environment.get(SERVICE_ID_VARIABLE)


# ---------------------------------------------------------------- resolution


class UnresolvedError(KeyError):
    """An intrinsic refers to something not known (yet)."""


_SUB_VAR = re.compile(r"\$\{([^}]+)\}")


class Resolver:
    """Resolves intrinsics against parameters, pseudo parameters and physical ids."""

    def __init__(
        self,
        template: LocalTemplate,
        *,
        stack_name: str,
        region: str,
        account_id: str = ACCOUNT_ID,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.parameters: dict[str, Any] = {}
        for name, decl in template.raw.get("Parameters", {}).items():
            if parameters and name in parameters:
                self.parameters[name] = parameters[name]
            elif "Default" in decl:
                self.parameters[name] = decl["Default"]
        # Lenient: unknown refs become placeholders (resource properties the local
        # stack does not use, e.g. a KMS key); strict for function environments.
        self.lenient = False
        self._refs: dict[str, str] = {}
        self._attrs: dict[tuple[str, str], str] = {}

    # -- binding physical ids learnt at deploy time

    def bind(self, logical_id: str, ref: str | None = None, **attrs: str) -> None:
        if ref is not None:
            self._refs[logical_id] = ref
        for attr, value in attrs.items():
            self._attrs[(logical_id, attr)] = value

    # -- conventions

    def physical_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        reg = self.region if region else ""
        return f"arn:aws:{service}:{reg}:{self.account_id}:{resource}"

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.arn("cloudformation", f"stack/{self.stack_name}/local"),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }.get(name)

    def declared_name(self, logical_id: str) -> str:
        """The resource's name: the one the template gives, else the stack convention."""
        res = self.template.resources[logical_id]
        props = res.get("Properties", {}) or {}
        key = _NAME_PROPERTY.get(res["Type"])
        if key and key in props:
            return str(self.resolve(props[key]))
        name = self.physical_name(logical_id)
        if res["Type"] == "AWS::SQS::Queue" and _truthy(props.get("FifoQueue")):
            name += ".fifo"
        return name

    # -- Ref and GetAtt

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self._refs:
            return self._refs[name]
        if name in self.template.raw.get("Parameters", {}):
            if self.lenient:
                return f"unresolved:{name}"
            raise UnresolvedError(f"the parameter {name} has no default: pass its value")
        if name not in self.template.resources:
            raise UnresolvedError(f"Ref to unknown {name!r}")
        rtype = self.template.resources[name]["Type"]
        conv = self._conventional_ref(name, rtype)
        if conv is None:
            if self.lenient:
                return f"unresolved:{name}"
            raise UnresolvedError(f"Ref {name} ({rtype}) is not known before it is deployed")
        return conv

    def get_att(self, name: str, attr: str) -> str:
        if (name, attr) in self._attrs:
            return self._attrs[(name, attr)]
        if name not in self.template.resources:
            raise UnresolvedError(f"GetAtt of unknown {name!r}")
        rtype = self.template.resources[name]["Type"]
        conv = self._conventional_att(name, rtype, attr)
        if conv is None:
            if self.lenient:
                return f"unresolved:{name}.{attr}"
            raise UnresolvedError(f"GetAtt {name}.{attr} ({rtype}) is not known before deploy")
        return conv

    def _conventional_ref(self, lid: str, rtype: str) -> str | None:
        name = self.declared_name(lid) if rtype in _NAME_PROPERTY else self.physical_name(lid)
        return {
            "AWS::DynamoDB::Table": name,
            "AWS::SNS::Topic": self.arn("sns", name),
            "AWS::Serverless::Function": name,
            "AWS::Lambda::Function": name,
            "AWS::Serverless::StateMachine": self.arn("states", f"stateMachine:{name}"),
            "AWS::StepFunctions::StateMachine": self.arn("states", f"stateMachine:{name}"),
            "AWS::Serverless::LayerVersion": self.arn("lambda", f"layer:{name}:1"),
            "AWS::Serverless::Api": "local",
            "AWS::IAM::Role": name,
            "AWS::Logs::LogGroup": name,
            "AWS::S3::Bucket": name,
        }.get(rtype)

    def _conventional_att(self, lid: str, rtype: str, attr: str) -> str | None:
        name = self.declared_name(lid) if rtype in _NAME_PROPERTY else self.physical_name(lid)
        table: dict[tuple[str, str], str] = {
            ("AWS::DynamoDB::Table", "Arn"): self.arn("dynamodb", f"table/{name}"),
            ("AWS::SQS::Queue", "Arn"): self.arn("sqs", name),
            ("AWS::SQS::Queue", "QueueName"): name,
            ("AWS::SNS::Topic", "TopicArn"): self.arn("sns", name),
            ("AWS::SNS::Topic", "TopicName"): name,
            ("AWS::Serverless::Function", "Arn"): self.arn("lambda", f"function:{name}"),
            ("AWS::Lambda::Function", "Arn"): self.arn("lambda", f"function:{name}"),
            ("AWS::Serverless::StateMachine", "Arn"): self.arn("states", f"stateMachine:{name}"),
            ("AWS::Serverless::StateMachine", "Name"): name,
            ("AWS::StepFunctions::StateMachine", "Arn"): self.arn("states", f"stateMachine:{name}"),
            ("AWS::StepFunctions::StateMachine", "Name"): name,
            ("AWS::IAM::Role", "Arn"): self.arn("iam", f"role/{name}", region=False),
            ("AWS::Serverless::Api", "RootResourceId"): "root",
            ("AWS::Logs::LogGroup", "Arn"): self.arn("logs", f"log-group:{name}:*"),
        }
        return table.get((rtype, attr))

    # -- the resolver proper

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                result = self.ref(str(arg))
                return _NO_VALUE if result is None else result
            if key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
                return self.get_att(str(parts[0]), str(self.resolve(parts[1])))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(v) for v in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
                return self._boolean(key, arg)
            if key == "Fn::FindInMap":
                mapping, top, second = (self.resolve(a) for a in arg)
                return self.template.raw["Mappings"][mapping][top][second]
            if key == "Fn::GetAZs":
                return [f"{self.region}a", f"{self.region}b"]
        out_dict = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out_dict.items() if v is not _NO_VALUE}

    def condition(self, name: str) -> bool:
        conditions = self.template.raw.get("Conditions", {})
        if name not in conditions:
            raise UnresolvedError(f"unknown condition {name!r}")
        return bool(self.resolve(conditions[name]))

    def _boolean(self, key: str, arg: Any) -> bool:
        if key == "Condition":
            return self.condition(str(arg))
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Fn::And":
            return all(self.resolve(a) for a in arg)
        return any(self.resolve(a) for a in arg)

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                lid, attr = expr.split(".", 1)
                return str(self.get_att(lid, attr))
            return str(self.ref(expr))

        return _SUB_VAR.sub(replace, str(text))


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE: Any = _NoValue()

_NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::S3::Bucket": "BucketName",
}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


# ---------------------------------------------------------------- the template


class LocalTemplate:
    """A parsed template plus the directory its relative paths are relative to.

    Nested applications with a local template (`AWS::Serverless::Application`, `Location` a
    file, as infra/services/ holds the government services) are read into this one view: their
    resources join the root's with each of their parameters replaced by what the root passes
    (so `!Ref ApplicationsTable` in a nested template is the root's table again), their code
    paths made relative to the root, their functions given their own template's `Globals`.
    The API's `DefinitionBody` routes that integrate a nested stack's output are served by the
    function that output names."""

    def __init__(self, raw: dict[str, Any], base_dir: Path) -> None:
        self.raw = raw
        self.base_dir = base_dir
        self.resources: dict[str, dict[str, Any]] = raw["Resources"]
        #: each function's Globals (a nested template's own, else the root's)
        self._function_globals: dict[str, dict[str, Any]] = {}
        #: (nested application, output name) -> the output's value, in the root's terms
        self.nested_outputs: dict[tuple[str, str], Any] = {}
        #: nested application -> its template file
        self.nested_templates: dict[str, Path] = {}
        for app_id in [
            lid for lid, res in self.resources.items() if res["Type"] == _NESTED_APPLICATION
        ]:
            self._read_nested(app_id)
        self._definition_routes = self._routes_of_definitions()

    @classmethod
    def load(cls, path: str | Path) -> LocalTemplate:
        path = Path(path).resolve()
        return cls(load_yaml(path), path.parent)

    def resolver(
        self,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> Resolver:
        return Resolver(
            self,
            stack_name=stack_name,
            region=region or default_region(),
            parameters=parameters,
        )

    # -- queries

    def of_type(self, *types: str) -> list[str]:
        return [lid for lid, res in self.resources.items() if res["Type"] in types]

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resources[logical_id].get("Properties") or {})

    def dependencies(self, logical_id: str) -> set[str]:
        """Logical ids a resource refers to (Ref, GetAtt, Sub, DependsOn)."""
        res = self.resources[logical_id]
        deps: set[str] = set()
        depends_on = res.get("DependsOn", [])
        deps.update([depends_on] if isinstance(depends_on, str) else depends_on)
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::Serverless::Function":
            # SAM makes a DeploymentPreference a CodeDeploy deployment group of its own: the
            # alarms it names watch the function (and refer to it), the function needs none
            props = {k: v for k, v in props.items() if k != "DeploymentPreference"}
        _collect_refs(props, deps)
        return {d for d in deps if d in self.resources and d != logical_id}

    def deployment_order(self, logical_ids: Iterable[str]) -> list[str]:
        """Topological order of the given resources (dependencies first, stable)."""
        wanted = list(logical_ids)
        wanted_set = set(wanted)
        done: list[str] = []
        seen: set[str] = set()

        def visit(lid: str, path: tuple[str, ...]) -> None:
            if lid in seen:
                return
            if lid in path:
                raise ValueError(f"circular dependency: {' -> '.join((*path, lid))}")
            for dep in sorted(self.dependencies(lid) & wanted_set):
                visit(dep, (*path, lid))
            seen.add(lid)
            done.append(lid)

        for lid in wanted:
            visit(lid, ())
        return done

    # -- functions

    def function_ids(self) -> list[str]:
        return self.of_type("AWS::Serverless::Function")

    def function_spec(self, logical_id: str, resolver: Resolver) -> FunctionSpec:
        res = self.resources[logical_id]
        props: dict[str, Any] = {**self._globals_of(logical_id)}
        own = res.get("Properties") or {}
        for key, value in own.items():
            if key == "Environment":
                continue
            props[key] = value
        env_raw: dict[str, Any] = {
            **((props.get("Environment") or {}).get("Variables") or {}),
            **((own.get("Environment") or {}).get("Variables") or {}),
        }
        environment = {k: _env_str(resolver.resolve(v)) for k, v in env_raw.items()}
        environment = {k: v for k, v in environment.items() if v is not None}

        layer_dirs = tuple(
            self._layer_dir(layer) for layer in props.get("Layers", []) if self._layer_dir(layer)
        )
        name = resolver.declared_name(logical_id)
        routes, sources = self._events(logical_id, own.get("Events") or {}, resolver)
        routes += self._definition_routes.get(logical_id, [])
        return FunctionSpec(
            logical_id=logical_id,
            name=name,
            arn=resolver.arn("lambda", f"function:{name}"),
            code_uri=(self.base_dir / str(resolver.resolve(props["CodeUri"]))).resolve(),
            handler=str(props["Handler"]),
            layer_dirs=tuple(p for p in layer_dirs if p is not None),
            environment=environment,  # type: ignore[arg-type]
            timeout=int(resolver.resolve(props.get("Timeout", 3))),
            memory=int(resolver.resolve(props.get("MemorySize", 128))),
            runtime=str(props["Runtime"]),
            api_routes=tuple(routes),
            event_sources=tuple(sources),
            schedules=tuple(self._schedules(logical_id, own.get("Events") or {}, resolver)),
        )

    def function_specs(self, resolver: Resolver) -> list[FunctionSpec]:
        return [self.function_spec(lid, resolver) for lid in self.function_ids()]

    def service_functions(self) -> dict[str, str]:
        """The government services' functions: each function bound by SERVICE_ID, its logical
        id to the service id it runs (a literal in the template, read without deploying)."""
        bound = {}
        for lid in self.function_ids():
            default = self._globals_of(lid).get("Environment") or {}
            own = (self.properties(lid).get("Environment") or {}).get("Variables") or {}
            value = {**(default.get("Variables") or {}), **own}.get(SERVICE_ID_VARIABLE)
            if value is not None:
                if not isinstance(value, str):
                    raise ValueError(f"{lid}: {SERVICE_ID_VARIABLE} must be a literal service id")
                bound[lid] = value
        return bound

    def _globals_of(self, function_id: str) -> dict[str, Any]:
        root = (self.raw.get("Globals") or {}).get("Function") or {}
        return dict(self._function_globals.get(function_id, root))

    # -- nested applications

    def _read_nested(self, app_id: str) -> None:
        """Replace a nested application by its template's resources, in the root's terms."""
        props = self.resources[app_id].get("Properties") or {}
        location = props.get("Location")
        if not isinstance(location, str) or location.startswith(("s3://", "https://")):
            return  # a published application: nothing local to run
        path = (self.base_dir / location).resolve()
        child = load_yaml(path)
        passed = props.get("Parameters") or {}
        values: dict[str, Any] = {}
        for name, decl in (child.get("Parameters") or {}).items():
            if name in passed:
                values[name] = passed[name]
            elif "Default" in decl:
                values[name] = decl["Default"]
            else:
                raise ValueError(f"{app_id} ({location}): no value for its parameter {name}")
        child = _bind_parameters(child, values)
        for name, condition in (child.get("Conditions") or {}).items():
            root_conditions = self.raw.setdefault("Conditions", {})
            if root_conditions.setdefault(name, condition) != condition:
                raise ValueError(f"{app_id}: its condition {name} differs from the root's")
        child_globals = (child.get("Globals") or {}).get("Function") or {}
        del self.resources[app_id]
        for lid, res in child["Resources"].items():
            if lid in self.resources:
                raise ValueError(f"{app_id} ({location}): {lid} is in the root template too")
            child_props = res.get("Properties") or {}
            for key in ("CodeUri", "DefinitionUri"):
                if isinstance(child_props.get(key), str):
                    here = path.parent / child_props[key]
                    child_props[key] = os.path.relpath(here, self.base_dir)
            if res["Type"] == "AWS::Serverless::Function":
                self._function_globals[lid] = child_globals
            self.resources[lid] = res
        for name, output in (child.get("Outputs") or {}).items():
            self.nested_outputs[(app_id, name)] = output.get("Value")
        self.nested_templates[app_id] = path

    def _routes_of_definitions(self) -> dict[str, list[ApiRoute]]:
        """The routes an API's DefinitionBody integrates with a function (by its ARN or alias,
        or a nested stack's output naming one), by function."""
        found: dict[str, list[ApiRoute]] = {}
        for api_id in self.of_type("AWS::Serverless::Api"):
            body = self.properties(api_id).get("DefinitionBody") or {}
            default, _ = self.api_auth(api_id)
            for path, methods in (body.get("paths") or {}).items():
                for method, operation in (methods or {}).items():
                    integration = (operation or {}).get("x-amazon-apigateway-integration") or {}
                    function_id = self._integrated_function(integration.get("uri"))
                    if function_id is None:
                        continue
                    security = operation.get("security")
                    authorizer = default if security is None else _first_scheme(security)
                    found.setdefault(function_id, []).append(
                        ApiRoute(
                            method=str(method).upper(),
                            path=str(path),
                            authorizer=None if authorizer in (None, "NONE") else str(authorizer),
                            function_id=function_id,
                            event_id=str(operation.get("operationId") or f"{method} {path}"),
                        )
                    )
        return found

    def _integrated_function(self, uri: Any) -> str | None:
        text = uri.get("Fn::Sub") if isinstance(uri, dict) else None
        if not isinstance(text, str):
            return None
        for expr in _SUB_VAR.findall(text):
            parts = expr.split(".")
            if len(parts) == 3 and parts[1] == "Outputs":
                value = self.nested_outputs.get((parts[0], parts[2]))
                target = _referenced_id(value)
                if target is not None:
                    return target.split(".", 1)[0]
            if len(parts) == 2 and parts[1] in ("Arn", "Alias") and parts[0] in self.resources:
                return parts[0]
        return None

    def _layer_dir(self, layer: Any) -> Path | None:
        """A layer's python dir when the layer is declared in this template."""
        if isinstance(layer, dict) and "Ref" in layer and layer["Ref"] in self.resources:
            res = self.resources[layer["Ref"]]
            if res["Type"] in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
                props = res.get("Properties") or {}
                uri = props.get("ContentUri") or props.get("Content")
                if isinstance(uri, str):
                    return (self.base_dir / uri / "python").resolve()
        return None

    def api_auth(self, api_id: str | None) -> tuple[str | None, dict[str, Any]]:
        """(default authorizer name, authorizers) of an AWS::Serverless::Api."""
        if api_id is None or api_id not in self.resources:
            return None, {}
        auth = (self.resources[api_id].get("Properties") or {}).get("Auth") or {}
        return auth.get("DefaultAuthorizer"), auth.get("Authorizers") or {}

    def lambda_authorizers(self) -> dict[str, LambdaAuthorizer]:
        """Every API's Lambda authorizers by name (a Cognito or IAM one is not a Lambda's)."""
        found: dict[str, LambdaAuthorizer] = {}
        for api_id in self.of_type("AWS::Serverless::Api"):
            for name, config in self.api_auth(api_id)[1].items():
                function_id = _referenced_id(config.get("FunctionArn"))
                if function_id is None:
                    continue
                identity = config.get("Identity") or {}
                payload = str(config.get("FunctionPayloadType", "TOKEN")).upper()
                headers = identity.get("Headers") or (
                    [identity.get("Header", "Authorization")] if payload == "TOKEN" else []
                )
                found[name] = LambdaAuthorizer(
                    name=name,
                    function_id=function_id,
                    payload_type="REQUEST" if payload == "REQUEST" else "TOKEN",
                    identity_headers=tuple(str(h) for h in headers),
                    ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
                )
        return found

    def parameter_of_variable(self, variable: str) -> str:
        """The template parameter that a function's environment variable is set from
        (`VARIABLE: !Ref Parameter`): how the local stack fills a parameter it provides (e.g.
        the identity provider's URLs) without writing the parameter's name again."""
        found = set()
        for lid in self.function_ids():
            variables = (self.properties(lid).get("Environment") or {}).get("Variables") or {}
            ref = variables.get(variable)
            if isinstance(ref, dict) and ref.get("Ref") in self.raw.get("Parameters", {}):
                found.add(str(ref["Ref"]))
        if len(found) != 1:
            raise KeyError(f"no single template parameter sets {variable}: {sorted(found)}")
        return found.pop()

    def _events(
        self, function_id: str, events: dict[str, Any], resolver: Resolver
    ) -> tuple[list[ApiRoute], list[EventSource]]:
        routes: list[ApiRoute] = []
        sources: list[EventSource] = []
        for event_id, event in events.items():
            etype = event.get("Type")
            props = event.get("Properties") or {}
            if etype == "Api":
                api_ref = props.get("RestApiId")
                api_id = api_ref.get("Ref") if isinstance(api_ref, dict) else None
                default, _authorizers = self.api_auth(api_id)
                authorizer = (props.get("Auth") or {}).get("Authorizer", default)
                routes.append(
                    ApiRoute(
                        method=str(props["Method"]).upper(),
                        path=str(resolver.resolve(props["Path"])),
                        authorizer=None if authorizer in (None, "NONE") else str(authorizer),
                        function_id=function_id,
                        event_id=event_id,
                    )
                )
            elif etype in ("DynamoDB", "SQS"):
                sources.append(self._event_source(function_id, event_id, etype, props, resolver))
        return routes, sources

    def _schedules(
        self, function_id: str, events: dict[str, Any], resolver: Resolver
    ) -> list[ScheduledEvent]:
        found = []
        for event_id, event in events.items():
            kind = event.get("Type")
            if kind not in ("Schedule", "ScheduleV2"):
                continue
            props = event.get("Properties") or {}
            expression = props.get("Schedule" if kind == "Schedule" else "ScheduleExpression")
            every = rate_seconds(str(resolver.resolve(expression)))
            if every is None:  # a cron schedule: not run locally (say so where it matters)
                continue
            raw = props.get("Input")
            found.append(
                ScheduledEvent(
                    function_id=function_id,
                    event_id=event_id,
                    kind=kind,
                    every_s=every,
                    input=json.loads(str(resolver.resolve(raw))) if raw is not None else None,
                )
            )
        return found

    def _event_source(
        self,
        function_id: str,
        event_id: str,
        etype: str,
        props: dict[str, Any],
        resolver: Resolver,
    ) -> EventSource:
        key = "Stream" if etype == "DynamoDB" else "Queue"
        source_raw = props[key]
        source_id = _referenced_id(source_raw)
        destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        default_batch = 100 if etype == "DynamoDB" else 10
        return EventSource(
            function_id=function_id,
            event_id=event_id,
            kind="DynamoDB" if etype == "DynamoDB" else "SQS",
            source_id=source_id or "",
            source_arn=str(resolver.resolve(source_raw)),
            batch_size=int(resolver.resolve(props.get("BatchSize", default_batch))),
            maximum_batching_window_s=float(
                resolver.resolve(props.get("MaximumBatchingWindowInSeconds", 0))
            ),
            starting_position=str(resolver.resolve(props.get("StartingPosition", "LATEST"))),
            maximum_retry_attempts=int(resolver.resolve(props.get("MaximumRetryAttempts", -1))),
            maximum_record_age_s=int(resolver.resolve(props.get("MaximumRecordAgeInSeconds", -1))),
            bisect_batch_on_function_error=_truthy(
                resolver.resolve(props.get("BisectBatchOnFunctionError", False))
            ),
            report_batch_item_failures="ReportBatchItemFailures"
            in (resolver.resolve(props.get("FunctionResponseTypes")) or []),
            on_failure_destination=(
                str(resolver.resolve(destination)) if destination is not None else None
            ),
            enabled=_truthy(resolver.resolve(props.get("Enabled", True))),
        )


_NESTED_APPLICATION = "AWS::Serverless::Application"


def _first_scheme(security: Any) -> str | None:
    """The authorizer an OpenAPI operation's `security` names (`[]`: none)."""
    for requirement in security or []:
        for name in requirement or {}:
            return str(name)
    return None


def _bind_parameters(value: Any, values: Mapping[str, Any]) -> Any:
    """A nested template with its parameters replaced by the values the root passes: `Ref P`
    by the value, `${P}` in a `Fn::Sub` by a variable bound to it."""
    if isinstance(value, list):
        return [_bind_parameters(v, values) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and arg in values:
            return values[arg]
        if key == "Fn::Sub":
            text, variables = (arg[0], dict(arg[1])) if isinstance(arg, list) else (arg, {})
            variables = {k: _bind_parameters(v, values) for k, v in variables.items()}
            for expr in _SUB_VAR.findall(str(text)):
                if expr in values and expr not in variables:
                    variables[expr] = values[expr]
            return {"Fn::Sub": [text, variables] if variables else text}
    return {k: _bind_parameters(v, values) for k, v in value.items()}


def _referenced_id(value: Any) -> str | None:
    """The logical id behind a Ref / GetAtt / Sub of a single resource."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return str(arg)
        if key == "Fn::GetAtt":
            return str(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
        if key == "Fn::Sub" and isinstance(arg, str):
            found = _SUB_VAR.search(arg)
            return found.group(1).split(".", 1)[0] if found else None
    return None


def _collect_refs(value: Any, out: set[str]) -> None:
    if isinstance(value, list):
        for v in value:
            _collect_refs(v, out)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                out.add(arg)
            elif key == "Fn::GetAtt":
                out.add(str(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0]))
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                for expr in _SUB_VAR.findall(str(text)):
                    if not expr.startswith("!"):
                        out.add(expr.split(".", 1)[0])
                _collect_refs(arg[1] if isinstance(arg, list) else None, out)
            else:
                _collect_refs(arg, out)


def _env_str(value: Any) -> str | None:
    if value is _NO_VALUE or value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def default_region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
