"""One list of services: a service is its folder in the rules layer plus one function bound to it
by SERVICE_ID (generated into its authority's nested template, infra/services/, by `make
services`). Everything else (the tests, the local stack, the
benchmarks) derives the services from these two, so a folder without its block, a block without
its folder, or two blocks for one service must fail here, naming what is missing."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from miaopi.loader import SERVICE_FILE
from miaopi_rules import SERVICES_DIR

from infra.local.template import SERVICE_ID_VARIABLE, LocalTemplate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def mismatches(template: LocalTemplate, services_dir: Path) -> list[str]:
    """What keeps the service folders and the template's service functions from pairing up."""
    folders = {p.parent.name for p in services_dir.glob(f"*/{SERVICE_FILE}")}
    functions: dict[str, list[str]] = defaultdict(list)
    for function_id, service_id in template.service_functions().items():
        functions[service_id].append(function_id)
    problems = [
        f"service folder {s!r} has no function in template.yaml or its nested templates "
        f"(an AWS::Serverless::Function with {SERVICE_ID_VARIABLE}: {s}; make services)"
        for s in sorted(folders - set(functions))
    ]
    problems += [
        f"template.yaml's {', '.join(functions[s])} runs service {s!r}, "
        f"which has no folder under {services_dir}"
        for s in sorted(set(functions) - folders)
    ]
    problems += [
        f"service {s!r} is run by more than one function: {', '.join(ids)}"
        for s, ids in sorted(functions.items())
        if len(ids) > 1
    ]
    return problems


def test_every_service_folder_has_one_function_and_every_service_function_a_folder() -> None:
    # Given the rules layer's service folders and template.yaml
    template = LocalTemplate.load(TEMPLATE)

    # When pairing them up
    problems = mismatches(template, SERVICES_DIR)

    # Then each folder has exactly one function and each service function its folder
    assert problems == []


def function(service_id: str | None = None) -> dict[str, Any]:
    """A function block as template.yaml writes one; bound to a service when given one."""
    variables = {SERVICE_ID_VARIABLE: service_id} if service_id else {"OTHER": "x"}
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {"CodeUri": "functions/x/", "Environment": {"Variables": variables}},
    }


def service_folders(root: Path, *service_ids: str) -> Path:
    for service_id in service_ids:
        (root / service_id).mkdir(parents=True)
        (root / service_id / SERVICE_FILE).touch()
    return root


def test_a_folder_without_its_function_and_a_function_without_its_folder_are_named(
    tmp_path: Path,
) -> None:
    # Given a service folder nobody gave a function block, and a block whose folder is gone
    services = service_folders(tmp_path / "services", "kept", "new-service")
    template = LocalTemplate(
        {
            "Resources": {
                "KeptFunction": function("kept"),
                "RetiredFunction": function("retired"),
                "CatalogueFunction": function(),
            }
        },
        ROOT,
    )

    # When pairing them up
    problems = mismatches(template, services)

    # Then both are named, and nothing else is
    assert len(problems) == 2, problems
    assert problems[0].startswith("service folder 'new-service' has no function in")
    assert problems[1].startswith("template.yaml's RetiredFunction runs service 'retired'")


def test_two_functions_for_one_service_are_named(tmp_path: Path) -> None:
    # Given a copied block that still runs the service it was copied from
    services = service_folders(tmp_path / "services", "kept", "other")
    template = LocalTemplate(
        {
            "Resources": {
                "KeptFunction": function("kept"),
                "OtherFunction": function("other"),
                "CopiedFunction": function("kept"),
            }
        },
        ROOT,
    )

    # When pairing them up
    problems = mismatches(template, services)

    # Then the service and both functions are named
    assert problems == [
        "service 'kept' is run by more than one function: KeptFunction, CopiedFunction"
    ]
