"""The compiled rules layer (miaopi.compiled): derived from the YAML, equal to it, never stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from miaopi import compiled
from miaopi.cases import all_cases, run_case
from miaopi.loader import load_catalogue, load_service
from miaopi_rules import SERVICES_DIR

FROM_YAML = load_catalogue(SERVICES_DIR)
FOLDERS = sorted(SERVICES_DIR / service_id for service_id in FROM_YAML)


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_the_checked_in_compiled_file_is_what_the_yaml_compiles_to(folder: Path) -> None:
    # Given a service of the rules layer
    # When its YAML is compiled now
    fresh = compiled.compile_service(folder)
    # Then the compiled file beside it is exactly that (else: run `make rules`)
    checked_in = (folder / compiled.COMPILED_FILE).read_text(encoding="utf-8")
    assert checked_in == fresh, f"{folder.name}: compiled.json is stale, run `make rules`"
    assert compiled.is_current(folder)


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_a_service_loads_from_its_compiled_file_as_from_its_yaml(folder: Path) -> None:
    # Given a service loaded from its YAML
    yaml_service = FROM_YAML[folder.name]
    # When it is loaded from its compiled file
    service = compiled.load(folder)
    # Then the files, the rule sets and their hashes are equal, field by field and dumped
    assert service.file == yaml_service.file
    assert service.file.model_dump() == yaml_service.file.model_dump()
    assert service.authority_id == yaml_service.authority_id
    assert service.personal_paths == yaml_service.personal_paths
    assert service.decimal_paths == yaml_service.decimal_paths
    assert service.form_model.model_json_schema() == yaml_service.form_model.model_json_schema()
    assert len(service.rule_sets) == len(yaml_service.rule_sets)
    for ours, theirs in zip(service.rule_sets, yaml_service.rule_sets, strict=True):
        assert (ours.version, ours.effective_from, ours.hash, ours.path) == (
            theirs.version,
            theirs.effective_from,
            theirs.hash,
            theirs.path,
        )
        assert ours.file == theirs.file
        assert ours.file.model_dump(mode="json") == theirs.file.model_dump(mode="json")
        assert [r.id for r in ours.rules] == [r.id for r in theirs.rules]


def test_every_case_decides_alike_from_the_compiled_files() -> None:
    # Given every service loaded from its compiled file, and every case of the rules layer
    services = compiled.load_catalogue(SERVICES_DIR)
    cases = list(all_cases(FROM_YAML, SERVICES_DIR))
    assert cases
    for loaded in cases:
        # When each case is decided with the compiled and with the YAML definition
        ours = run_case(services[loaded.service_id], loaded)
        theirs = run_case(FROM_YAML[loaded.service_id], loaded)
        # Then the decisions are the same, trace and outputs included
        assert ours == theirs, loaded.id


def test_a_compiled_file_older_than_its_yaml_is_not_used(tmp_path: Path) -> None:
    # Given a copy of a service whose rule set was changed after it was compiled
    folder = tmp_path / "elderly-allowance"
    shutil.copytree(SERVICES_DIR / folder.name, folder)
    path = folder / "rulesets" / "2024-01-01.yaml"
    text = path.read_text(encoding="utf-8")
    assert 'version: "2024.1"' in text
    path.write_text(text.replace('version: "2024.1"', 'version: "2024.9"'), "utf-8")
    assert not compiled.is_current(folder)
    # When the service is loaded
    service = compiled.load(folder)
    # Then it is the YAML as it is now, not the compiled file
    assert service.rule_sets[0].version == "2024.9"
    assert service.rule_sets[0].hash == load_service(folder).rule_sets[0].hash
    # And compiling it again makes the compiled file current
    compiled.write_all(tmp_path)
    assert compiled.is_current(folder)
    assert compiled.load(folder).rule_sets[0].version == "2024.9"
