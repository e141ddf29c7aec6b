"""The services' part of the stack is generated from the rules layer (infra/deploy/services):
one nested application per authority, the API's submit routes in template.yaml. These tests
hold it to what ops and a policy owner rely on: the files in the repository are what the
generator writes, a service never moves between stacks, no stack outgrows its limit, a new
service is one command, and 200 services fit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from miaopi import compiled
from miaopi.coverage import gaps
from miaopi.loader import load_catalogue, load_service

from infra.deploy import services as gen
from infra.local.template import LocalTemplate, load_yaml

ROOT = Path(__file__).resolve().parents[2]


def seeds() -> list[gen.Service]:
    return gen.read_services(gen.DEFAULT_LAYOUT.services_dir)


def copy_layout(tmp: Path) -> gen.Layout:
    """template.yaml, the seeds' service folders and the nested templates, copied to `tmp`."""
    shutil.copy(gen.TEMPLATE, tmp / "template.yaml")
    shutil.copytree(gen.DEFAULT_LAYOUT.services_dir, tmp / "services")
    shutil.copytree(gen.NESTED_DIR, tmp / "nested")
    return gen.Layout(tmp / "template.yaml", tmp / "services", tmp / "nested")


def test_the_generated_files_are_what_the_rules_layer_makes_them() -> None:
    # Given the rules layer's services and the repository's template.yaml and infra/services/
    # When the generator renders them again
    stale = gen.differences(gen.DEFAULT_LAYOUT)

    # Then nothing differs (a changed service.yaml needs `make services`)
    assert stale == []


def test_each_authority_has_its_nested_stack_and_each_service_its_route() -> None:
    # Given the repository's template as the local stack reads it (nested stacks read in)
    template = LocalTemplate.load(gen.TEMPLATE)
    resolver = template.resolver()
    resolver.lenient = True

    # When listing the services' functions and their routes
    routes = [
        route
        for function_id in template.service_functions()
        for route in template.function_spec(function_id, resolver).api_routes
    ]

    # Then every seed service is served at its submit route, behind the identity provider,
    # from its authority's nested template
    assert {(r.method, r.path) for r in routes} == {
        ("POST", f"/services/{s.id}/applications") for s in seeds()
    }
    assert {r.authorizer for r in routes} == {"OidcAuthorizer"}
    assert {p.stem for p in template.nested_templates.values()} == {s.authority_id for s in seeds()}


def test_a_nested_stack_takes_the_root_globals_with_parameters_for_what_the_root_owns() -> None:
    # Given the transport bureau's nested template and what template.yaml passes it
    nested = load_yaml(gen.NESTED_DIR / "transport.yaml")
    root = load_yaml(gen.TEMPLATE)
    passed = root["Resources"]["ServicesTransport"]["Properties"]["Parameters"]

    # Then its functions run as the root's do (runtime, layers, environment), and every
    # parameter it declares is passed, by the root's own name for it
    root_globals = root["Globals"]["Function"]
    assert nested["Globals"]["Function"]["Runtime"] == root_globals["Runtime"]
    assert nested["Globals"]["Function"]["Layers"] == root_globals["Layers"]
    assert set(nested["Parameters"]) == set(passed)
    assert passed["ApplicationsTableArn"] == {"Fn::GetAtt": ["ApplicationsTable", "Arn"]}
    assert passed["ApplicationsTable"] == {"Ref": "ApplicationsTable"}


def service(service_id: str, authority: str = "a") -> gen.Service:
    return gen.Service(service_id, "名", "Name", authority, "局", "Bureau")


def test_a_service_stays_in_its_stack_and_a_new_one_joins_the_stack_with_room() -> None:
    # Given an authority whose first stack is full and whose second has room
    first = [service(f"s{n:02d}") for n in range(3)]
    second = [service("t00")]
    existing = {s.id: "a" for s in first} | {"t00": "a--2"}

    # When a service is added whose id sorts before every other
    stacks = gen.assign([*first, *second, service("a-new")], existing, per_stack=3)

    # Then no existing service moves (moving would replace its function and log group), and the
    # new one goes to the stack with room
    by_key = {s.key: [x.id for x in s.services] for s in stacks}
    assert by_key == {"a": ["s00", "s01", "s02"], "a--2": ["a-new", "t00"]}


def test_an_authority_beyond_one_stack_gets_another_and_a_service_that_changed_authority_moves():
    # Given five services of one authority, a stack holding two, and one service that moved to
    # another authority since it was generated
    services = [service(f"s{n}") for n in range(5)] + [service("m", authority="b")]

    # When assigned
    stacks = gen.assign(services, {"m": "a"}, per_stack=2)

    # Then the authority has three stacks, the moved service is in its new authority's
    sizes = [(s.key, len(s.services)) for s in stacks]
    assert sizes == [("a", 2), ("a--2", 2), ("a--3", 1), ("b", 1)]


def test_make_new_service_writes_a_skeleton_that_loads_is_routed_and_is_not_yet_covered(
    tmp_path: Path,
) -> None:
    # Given a copy of the repository's layout
    layout = copy_layout(tmp_path)

    # When a policy owner adds a service for an authority that has none yet, and generates
    folder = gen.new_service(
        "pet-licence",
        "urban-management",
        services_dir=layout.services_dir,
        names={"name_zh": "犬只登记", "name_en": "Dog licence"},
        today="2026-11-30",
    )
    gen.generate(layout)

    # Then its data loads as a service, its authority has a nested stack with its function and
    # the API a submit route integrating that stack's output
    definition = load_service(folder)
    assert definition.id == "pet-licence" and definition.authority_id == "urban-management"
    assert compiled.is_current(folder)  # its function loads the compiled form, as the seeds'
    nested = load_yaml(layout.nested_dir / "urban-management.yaml")
    assert nested["Resources"]["PetLicenceFunction"]["Properties"]["Environment"] == {
        "Variables": {"SERVICE_ID": "pet-licence"}
    }
    paths = load_yaml(layout.template)["Resources"]["MiaopiApi"]["Properties"]["DefinitionBody"][
        "paths"
    ]
    uri = paths["/services/pet-licence/applications"]["post"]["x-amazon-apigateway-integration"]
    assert "${ServicesUrbanManagement.Outputs.PetLicenceFunction}" in uri["uri"]["Fn::Sub"]
    # and the rule-coverage gate names what its cases do not cover yet
    missing, failures, _ = gaps(load_catalogue(layout.services_dir), layout.services_dir)
    assert failures == []
    assert any("pet-licence" in line for line in missing)


def test_a_new_service_id_must_be_a_slug_and_new(tmp_path: Path) -> None:
    # Given a copy of the repository's layout
    layout = copy_layout(tmp_path)

    # When adding a service with a malformed id, or one that exists
    # Then nothing is written and the reason is given
    with pytest.raises(SystemExit, match="lower-case words"):
        gen.new_service(
            "Pet_Licence", "x", services_dir=layout.services_dir, names={}, today="2026-11-30"
        )
    with pytest.raises(SystemExit, match="exists already"):
        gen.new_service(
            "graduate-hukou", "x", services_dir=layout.services_dir, names={}, today="2026-11-30"
        )
    assert sorted(p.name for p in layout.services_dir.iterdir()) == sorted(s.id for s in seeds())


def test_two_hundred_services_span_stacks_and_the_local_stack_reads_them(tmp_path: Path) -> None:
    # Given a generated catalogue of 200 services (the seeds and synthetic copies); its stacks'
    # sizes are checked by make deploy-check (`sizes` fails at 400 resources)
    layout = gen.catalogue(200, tmp_path / "catalogue")

    # When its template is read as the local stack reads it
    template = LocalTemplate.load(layout.template)
    resolver = template.resolver()
    resolver.lenient = True
    served = {
        route.path
        for function_id in template.service_functions()
        for route in template.function_spec(function_id, resolver).api_routes
    }

    # Then the busiest authority spans several stacks, no stack holds more services than the
    # limit, and each of the 200 services has its function and its route from its own rules
    # layer, compiled
    stacks = gen.assign(gen.read_services(layout.services_dir), {})
    assert len(stacks) > len({s.authority_id for s in seeds()})
    assert max(len(s.services) for s in stacks) == gen.SERVICES_PER_STACK
    assert len(template.service_functions()) == 200
    assert len(served) == 200
    assert all(compiled.is_current(p.parent) for p in layout.services_dir.glob("*/service.yaml"))
    spec = template.function_spec(next(iter(template.service_functions())), resolver)
    assert spec.layer_dirs[-1] == (tmp_path / "catalogue" / "rules" / "python").resolve()
    # and the API's resources pass API Gateway's default quota (300), as operations.md warns
    assert gen.api_resources(layout.template) > 300 > gen.api_resources(gen.TEMPLATE)
