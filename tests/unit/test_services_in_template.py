"""One list of services: a service is its folder in the rules layer plus one function block in
template.yaml bound to it by SERVICE_ID. Everything else (the tests, the local stack, the
benchmarks) derives the services from these two, so a folder without its block, a block without
its folder, or two blocks for one service must fail here, naming what is missing."""

from __future__ import annotations

import copy
import shutil
from collections import defaultdict
from pathlib import Path

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
        f"service folder {s!r} has no function block in template.yaml "
        f"(an AWS::Serverless::Function with {SERVICE_ID_VARIABLE}: {s})"
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


def test_a_folder_without_its_function_and_a_function_without_its_folder_are_named(
    tmp_path: Path,
) -> None:
    # Given a new service folder that nobody gave a function block
    raw = copy.deepcopy(LocalTemplate.load(TEMPLATE).raw)
    (dropped, dropped_service), (kept, kept_service) = list(
        LocalTemplate(raw, ROOT).service_functions().items()
    )[:2]
    services = tmp_path / "services"
    shutil.copytree(SERVICES_DIR, services)
    shutil.copytree(services / kept_service, services / "new-service")
    # And a template that lost one service's function block, and runs a service with no folder
    del raw["Resources"][dropped]
    retired = copy.deepcopy(raw["Resources"][kept])
    retired["Properties"]["Environment"]["Variables"][SERVICE_ID_VARIABLE] = "retired-service"
    raw["Resources"]["RetiredServiceFunction"] = retired

    # When pairing them up
    problems = mismatches(LocalTemplate(raw, ROOT), services)

    # Then each mismatch is named, and nothing else is
    assert len(problems) == 3, problems
    missing = sorted([dropped_service, "new-service"])
    assert f"service folder {missing[0]!r} has no function block" in problems[0]
    assert f"service folder {missing[1]!r} has no function block" in problems[1]
    assert "RetiredServiceFunction runs service 'retired-service'" in problems[2]


def test_two_functions_for_one_service_are_named() -> None:
    # Given a template whose copied block still runs the service it was copied from
    raw = copy.deepcopy(LocalTemplate.load(TEMPLATE).raw)
    function_id, service_id = next(iter(LocalTemplate(raw, ROOT).service_functions().items()))
    raw["Resources"]["CopiedFunction"] = copy.deepcopy(raw["Resources"][function_id])

    # When pairing it with the service folders
    problems = mismatches(LocalTemplate(raw, ROOT), SERVICES_DIR)

    # Then the service and both functions are named
    assert problems == [
        f"service {service_id!r} is run by more than one function: {function_id}, CopiedFunction"
    ]
