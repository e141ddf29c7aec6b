"""What the generated services' stacks do once CloudFormation has them, read from SAM's own
transform (samtranslator, as `sam deploy` and cfn-lint run it): every route behind the identity
provider, each function invocable by this API only and for its own route, and a new version of
every function whenever the code or a layer changes (a rule change reaches the `live` alias)."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from infra.deploy import revision
from infra.deploy import services as gen
from infra.deploy.services.nested import Parameterizer
from infra.deploy.services.sizes import _packaged
from infra.local.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]


class _NoPolicies:
    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    yield


def transformed(path: Path, **parameters: str) -> dict[str, Any]:
    return transform(_packaged(path), parameters, _NoPolicies())  # type: ignore[no-any-return]


def test_every_submit_route_is_behind_the_identity_provider() -> None:
    # Given template.yaml after SAM's transform
    api = transformed(gen.TEMPLATE)["Resources"]["MiaopiApi"]["Properties"]["Body"]

    # When reading each service's submit route
    routes = {
        s.path: api["paths"][s.path]["post"]
        for s in gen.read_services(gen.DEFAULT_LAYOUT.services_dir)
    }

    # Then each one asks the OIDC authorizer, as every other route does
    assert {str(r.get("security")) for r in routes.values()} == {"[{'OidcAuthorizer': []}]"}


def test_each_function_may_be_invoked_by_this_api_only_and_for_its_own_route() -> None:
    # Given the transport bureau's invoke permissions and what the root passes them
    invoke = load_yaml(gen.NESTED_DIR / "invoke" / "transport.yaml")
    root = load_yaml(gen.TEMPLATE)["Resources"]["ServicesTransportInvoke"]["Properties"]

    # When reading each permission
    permissions = invoke["Resources"]

    # Then it names this stack's API (passed as Ref MiaopiApi) and exactly the service's route
    assert root["Parameters"]["RestApiId"] == {"Ref": "MiaopiApi"}
    for logical_id, permission in permissions.items():
        service_id = re.sub(
            r"(?<!^)([A-Z])", r"-\1", logical_id.removesuffix("FunctionApiPermission")
        ).lower()
        source = permission["Properties"]["SourceArn"]["Fn::Sub"]
        assert source.endswith(f":${{RestApiId}}/*/POST/services/{service_id}/applications")
        alias = permission["Properties"]["FunctionName"]["Ref"]
        assert root["Parameters"][alias] == {
            "Fn::GetAtt": ["ServicesTransport", f"Outputs.{alias.removesuffix('Alias')}"]
        }


def versions(resources: dict[str, Any]) -> set[str]:
    return {lid for lid, res in resources.items() if res["Type"] == "AWS::Lambda::Version"}


def test_a_new_code_revision_publishes_a_new_version_of_every_function() -> None:
    # Given a nested services stack and the root, transformed with one code revision and another
    # (a rules layer changed: nothing in the functions' own properties did)
    nested = gen.NESTED_DIR / "transport.yaml"
    passed = {name: "x" for name in load_yaml(nested)["Parameters"]}
    before = transformed(nested, **passed | {"CodeRevision": "0123456789abcdef"})["Resources"]
    after = transformed(nested, **passed | {"CodeRevision": "fedcba9876543210"})["Resources"]
    again = transformed(nested, **passed | {"CodeRevision": "0123456789abcdef"})["Resources"]
    root_before = transformed(gen.TEMPLATE, CodeRevision="0123456789abcdef")["Resources"]
    root_after = transformed(gen.TEMPLATE, CodeRevision="fedcba9876543210")["Resources"]

    # Then every function gets a new version (its alias moves, through its canary), and the same
    # revision again publishes none
    assert len(versions(before)) == 2 and not versions(before) & versions(after)
    assert versions(again) == versions(before)
    assert len(versions(root_before)) == 18 and not versions(root_before) & versions(root_after)


def test_make_deploy_passes_samconfig_s_overrides_and_a_revision_of_the_code(
    tmp_path: Path,
) -> None:
    # Given a copy of the code and layers, and samconfig.toml
    for top in (*revision.CODE, "samconfig.toml"):
        source = ROOT / top
        if source.is_dir():
            shutil.copytree(source, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / top)
    first = revision.code_revision(tmp_path)

    # When nothing changes, then a rule file does
    unchanged = revision.code_revision(tmp_path)
    rules = next((tmp_path / "layers/rules/python/miaopi_rules/services").glob("*/rulesets/*.yaml"))
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# amended\n", encoding="utf-8")
    changed = revision.code_revision(tmp_path)

    # Then the revision follows the content, and the overrides keep the environment's own
    assert first == unchanged != changed
    assert re.fullmatch(r"[0-9a-f]{16}", changed)
    overrides = revision.overrides("prod", tmp_path)
    assert "DeploymentType=Canary10Percent10Minutes" in overrides
    assert overrides.endswith(f"CodeRevision={changed}")


def test_nested_parameters_follow_sub_variables_conditions_and_attributes() -> None:
    # Given a root with a parameter, a table and a condition, and a nested resource that uses
    # them through Ref, GetAtt, Sub (with and without its own variables), If and Condition
    root = {
        "Parameters": {"Days": {"Type": "Number", "MinValue": 1, "Default": 5, "NoEcho": True}},
        "Resources": {"Table": {"Type": "AWS::DynamoDB::Table"}},
        "Conditions": {
            "Long": {"Fn::Equals": [{"Ref": "Days"}, 30]},
            "Both": {"Condition": "Long"},
        },
    }
    convert = Parameterizer(root, local={"Fn"})
    value = {
        "A": {"Fn::Sub": "${Table.Arn}/index/* ${AWS::Region} ${Fn}"},
        "B": {"Fn::Sub": ["${Own}-${Days}", {"Own": {"Ref": "Table"}}]},
        "C": {"Fn::If": ["Both", {"Ref": "Days"}, {"Ref": "AWS::NoValue"}]},
    }

    # When converted for a nested template
    out = convert.convert(value)

    # Then root names become parameters, local and pseudo names and the Sub's own variables
    # stay, the conditions come along, and a parameter keeps its constraints but not a default
    assert out["A"] == {"Fn::Sub": "${TableArn}/index/* ${AWS::Region} ${Fn}"}
    assert out["B"] == {"Fn::Sub": ["${Own}-${Days}", {"Own": {"Ref": "Table"}}]}
    assert set(convert.conditions) == {"Both", "Long"}
    assert convert.parameters["Days"] == (
        {"Type": "Number", "MinValue": 1, "NoEcho": True},
        {"Ref": "Days"},
    )
    assert convert.parameters["TableArn"][1] == {"Fn::GetAtt": ["Table", "Arn"]}


def service(service_id: str, authority: str) -> gen.Service:
    return gen.Service(service_id, "名", "Name", authority, "局", "Bureau")


def test_an_authority_whose_id_ends_in_a_number_is_not_another_s_second_stack() -> None:
    # Given authority `x` with more services than a stack holds, and an authority `x-2`
    services = [service(f"s{n}", "x") for n in range(3)] + [service("t", "x-2")]

    # When assigned
    stacks = gen.assign(services, {}, per_stack=2)

    # Then x's second stack and x-2's own are different stacks with different logical ids
    assert [(s.key, s.logical_id, [x.id for x in s.services]) for s in stacks] == [
        ("x", "ServicesX", ["s0", "s1"]),
        ("x--2", "ServicesXPart2", ["s2"]),
        ("x-2", "ServicesX2", ["t"]),
    ]


def test_two_services_that_would_share_a_logical_id_are_refused(tmp_path: Path) -> None:
    # Given two service folders whose ids differ only by a hyphen
    for service_id in ("permit-2b", "permit2b"):
        folder = tmp_path / service_id
        shutil.copytree(gen.DEFAULT_LAYOUT.services_dir / "graduate-hukou", folder)
        text = (folder / "service.yaml").read_text(encoding="utf-8")
        (folder / "service.yaml").write_text(
            text.replace("id: graduate-hukou", f"id: {service_id}"), encoding="utf-8"
        )

    # When reading them, then the clash is named
    with pytest.raises(SystemExit, match="Permit2bFunction <- permit-2b, permit2b"):
        gen.read_services(tmp_path)


def test_a_scaffold_name_may_hold_punctuation_and_a_failed_one_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a copy of the rules layer's services
    services = tmp_path / "services"
    shutil.copytree(gen.DEFAULT_LAYOUT.services_dir, services)

    # When a service is added whose English name has a comma, a colon and quotes
    name = 'Dog licence, first issue: "new"'
    folder = gen.new_service(
        "pet-licence", "urban", services_dir=services, names={"name_en": name}, today="2026-11-30"
    )

    # Then it loads with that name, under a certificate prefix no other service prints
    spec = gen.read_services(services)
    assert [s.name_en for s in spec if s.id == "pet-licence"] == [name]
    prefixes = [load_yaml_text(p)["certificate"]["prefix"] for p in services.glob("*/service.yaml")]
    assert len(prefixes) == len(set(prefixes))
    assert folder.exists()

    # And when writing the next one fails halfway, nothing of it is left
    from miaopi import compiled

    def broken(_folder: Path) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(compiled, "compile_service", broken)
    with pytest.raises(OSError, match="disk full"):
        gen.new_service("cat-licence", "urban", services_dir=services, names={}, today="2026-11-30")
    assert not (services / "cat-licence").exists()


def load_yaml_text(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
