"""Resources per stack after the SAM transform (`python -m infra.deploy.services sizes`), and the
API's resources: what CloudFormation and API Gateway count against their limits."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from infra.local.template import load_yaml

#: the most resources a stack may have after the transform (CloudFormation's limit is 500)
MAX_RESOURCES = 400
#: API Gateway's default quota of resources (path parts) per REST API; adjustable
API_RESOURCES_QUOTA = 300


def sizes(template: Path) -> dict[str, int]:
    """Resources per stack after the SAM transform: the root and each nested application."""
    from samtranslator.translator.transform import transform  # cfn-lint's dependency

    class _NoPolicies:
        def load(self) -> dict[str, str]:
            return {}

    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its own metrics' warnings
    region = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region or "us-east-1"  # the translator needs one
    try:
        out: dict[str, int] = {}
        for path in [template, *_children(template)]:
            packaged = _packaged(path)
            transformed = transform(packaged, _placeholders(packaged), _NoPolicies())
            out[str(path)] = len(transformed["Resources"])
        return out
    finally:
        if region is None:
            del os.environ["AWS_DEFAULT_REGION"]


def _children(template: Path) -> list[Path]:
    return [
        template.parent / res["Properties"]["Location"]
        for res in load_yaml(template)["Resources"].values()
        if res["Type"] == "AWS::Serverless::Application"
    ]


def _placeholders(template: dict[str, Any]) -> dict[str, Any]:
    """A value for each parameter without a default, as the root would pass it (what SAM reads
    at transform time, e.g. AutoPublishCodeSha256, must be a string)."""
    out: dict[str, Any] = {}
    for name, decl in (template.get("Parameters") or {}).items():
        if "Default" in decl:
            continue
        allowed = decl.get("AllowedValues")
        number = decl.get("Type") == "Number"
        out[name] = allowed[0] if allowed else (decl.get("MinValue", 1) if number else "0" * 16)
    return out


def _packaged(path: Path) -> dict[str, Any]:
    """A template as SAM's translator takes it after `sam package`: local code and nested
    templates as S3 locations (what they point at does not change the count)."""
    raw = load_yaml(path)
    for res in raw["Resources"].values():
        props = res.get("Properties") or {}
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = "s3://packaged/" + props[key].strip("./")
        if res["Type"] == "AWS::Serverless::Application":
            props["Location"] = "https://s3.amazonaws.com/packaged/" + props["Location"]
    return raw


def api_resources(template: Path) -> int:
    """The API's resources (each distinct path part), as API Gateway counts them: the routes of
    the DefinitionBody and of every function's Api events."""
    raw = load_yaml(template)
    paths: set[str] = set()
    for res in raw["Resources"].values():
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::Serverless::Api":
            paths |= set((props.get("DefinitionBody") or {}).get("paths") or {})
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == "Api":
                paths.add(str(event["Properties"]["Path"]))
    parts = {"/"}
    for path in paths:
        segments = [s for s in path.split("/") if s]
        parts |= {"/" + "/".join(segments[: i + 1]) for i in range(len(segments))}
    return len(parts)
