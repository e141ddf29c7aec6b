"""Loading rule files: every typo fails loudly, naming the file and the rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from miaopi.errors import RuleLoadError
from miaopi.loader import load_service
from miaopi_rules import SERVICES_DIR

SERVICE = "elderly-allowance"
RULESET = "rulesets/2024-01-01.yaml"


@pytest.fixture
def service_copy(tmp_path: Path) -> Path:
    folder = tmp_path / SERVICE
    shutil.copytree(SERVICES_DIR / SERVICE, folder)
    return folder


def _edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not found"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_seed_service_loads_with_a_content_hash(service_copy: Path) -> None:
    # Given the elderly allowance as published
    # When it is loaded
    service = load_service(service_copy)
    # Then each rule set has a version and a sha256 content hash
    assert [rule_set.version for rule_set in service.rule_sets] == ["2024.1", "2026.1"]
    rule_set = service.rule_sets[0]
    assert rule_set.hash.startswith("sha256:") and len(rule_set.hash) == 71


def test_unknown_field_in_a_condition_names_file_and_rule(service_copy: Path) -> None:
    # Given a rule reading a form field that does not exist
    _edit(
        service_copy,
        RULESET,
        "ev.population.hukouDistrict == app.district",
        "ev.population.hukouDistrict == app.distrikt",
    )
    # When the service is loaded
    with pytest.raises(RuleLoadError) as error:
        load_service(service_copy)
    # Then the error names the file, the rule and the unknown field
    assert error.value.file.endswith(RULESET)
    assert "EA-DISTRICT" in error.value.where
    assert "app.distrikt" in error.value.reason


def test_unknown_evidence_attribute_is_a_load_error(service_copy: Path) -> None:
    _edit(service_copy, RULESET, "ev.population.alive == true", "ev.population.living == true")
    with pytest.raises(RuleLoadError) as error:
        load_service(service_copy)
    assert "EA-ALIVE" in error.value.where
    assert "ev.population.living" in error.value.reason


def test_unknown_parameter_is_a_load_error(service_copy: Path) -> None:
    _edit(service_copy, RULESET, "fact.age >= param.minimumAge", "fact.age >= param.minAge")
    with pytest.raises(RuleLoadError) as error:
        load_service(service_copy)
    assert "EA-AGE" in error.value.where and "param.minAge" in error.value.reason


def test_expression_that_does_not_compile_names_the_rule(service_copy: Path) -> None:
    _edit(service_copy, RULESET, "fact.age >= param.minimumAge", "fact.age >= ")
    with pytest.raises(RuleLoadError) as error:
        load_service(service_copy)
    assert error.value.file.endswith(RULESET)
    assert "EA-AGE" in error.value.where
    assert "does not compile" in error.value.reason


def test_misspelt_key_in_a_rule_is_a_load_error(service_copy: Path) -> None:
    _edit(service_copy, RULESET, "    onFail: REFER", "    onFial: REFER")
    with pytest.raises(RuleLoadError) as error:
        load_service(service_copy)
    assert "EA-DISTRICT" in error.value.where


def test_overlapping_unique_rows_are_a_load_error(service_copy: Path) -> None:
    # Given two rows of a UNIQUE table both matching age 90
    _edit(service_copy, RULESET, '{age: "[80..90)"', '{age: "[80..90]"')
    with pytest.raises(RuleLoadError) as error:
        load_service(service_copy)
    # Then the error names the table and both rows
    assert "tables.allowanceByAge" in error.value.where
    assert "rows 1 and 2 overlap" in error.value.reason


def test_a_gap_in_a_unique_table_is_a_load_error(service_copy: Path) -> None:
    # Given the 90-99 band removed, so age 95 matches no row
    _edit(service_copy, RULESET, '      - {age: "[90..100)", monthlyAmount: "400.00"}\n', "")
    with pytest.raises(RuleLoadError) as error:
        load_service(service_copy)
    assert "tables.allowanceByAge" in error.value.where
    assert "gap" in error.value.reason and "age=90" in error.value.reason


def test_a_duplicated_rule_id_is_a_load_error(service_copy: Path) -> None:
    _edit(service_copy, RULESET, "  - id: EA-ALIVE", "  - id: EA-AGE")
    with pytest.raises(RuleLoadError) as error:
        load_service(service_copy)
    assert "EA-AGE" in error.value.where and "twice" in error.value.reason


def test_a_changed_parameter_changes_the_hash(service_copy: Path) -> None:
    # Given the published rule set's hash
    before = load_service(service_copy).rule_sets[0].hash
    # When a parameter value changes
    _edit(service_copy, RULESET, "{from: 2024-01-01, value: 80}", "{from: 2024-01-01, value: 81}")
    # Then the hash changes
    assert load_service(service_copy).rule_sets[0].hash != before


def test_a_changed_table_row_changes_the_hash(service_copy: Path) -> None:
    before = load_service(service_copy).rule_sets[0].hash
    _edit(service_copy, RULESET, 'monthlyAmount: "400.00"', 'monthlyAmount: "450.00"')
    assert load_service(service_copy).rule_sets[0].hash != before


def test_the_rule_set_in_force_is_chosen_by_application_date(service_copy: Path) -> None:
    # Given a second rule set from 2027 raising the minimum age
    text = (service_copy / RULESET).read_text(encoding="utf-8")
    text = text.replace('version: "2024.1"', 'version: "2027.1"')
    text = text.replace("effectiveFrom: 2024-01-01", "effectiveFrom: 2027-01-01")
    (service_copy / "rulesets/2027-01-01.yaml").write_text(text, encoding="utf-8")
    service = load_service(service_copy)
    import datetime as dt

    # Then each date sees the rule set in force on it, and nothing before the first
    assert service.rule_set_on(dt.date(2026, 11, 29)).version == "2024.1"  # type: ignore[union-attr]
    assert service.rule_set_on(dt.date(2026, 12, 31)).version == "2026.1"  # type: ignore[union-attr]
    assert service.rule_set_on(dt.date(2027, 1, 1)).version == "2027.1"  # type: ignore[union-attr]
    assert service.rule_set_on(dt.date(2023, 12, 31)) is None


def test_a_quoted_number_in_a_parameter_is_a_load_error(service_copy: Path) -> None:
    # Given a threshold written as a string: rules would compare a number with text
    _edit(service_copy, RULESET, "{from: 2024-01-01, value: 80}", '{from: 2024-01-01, value: "80"}')
    with pytest.raises(RuleLoadError) as error:
        load_service(service_copy)
    assert "parameters.minimumAge" in error.value.where and "quoted" in error.value.reason


def test_a_parameter_change_with_a_new_effective_date_applies_from_that_date(
    service_copy: Path,
) -> None:
    import datetime as dt

    from miaopi.engine import parameters_on

    # Given the minimum age raised to 81 from 2027-07-01 in the published rule set
    _edit(
        service_copy,
        RULESET,
        "      - {from: 2024-01-01, value: 80}",
        "      - {from: 2024-01-01, value: 80}\n      - {from: 2027-07-01, value: 81}",
    )
    rule_set = load_service(service_copy).rule_set_named("2024.1")
    # Then applications dated before see 80 and those from that day see 81
    assert parameters_on(rule_set, dt.date(2027, 6, 30))["minimumAge"] == 80
    assert parameters_on(rule_set, dt.date(2027, 7, 1))["minimumAge"] == 81


@pytest.fixture
def graduate_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "graduate-hukou"
    shutil.copytree(SERVICES_DIR / "graduate-hukou", folder)
    return folder


def test_a_rule_reading_an_unknown_table_output_is_a_load_error(graduate_copy: Path) -> None:
    _edit(
        graduate_copy, RULESET, "table.ageLimitByLevel.maximumAge", "table.ageLimitByLevel.maxAge"
    )
    with pytest.raises(RuleLoadError) as error:
        load_service(graduate_copy)
    assert "GH-AGE" in error.value.where and "table.ageLimitByLevel.maxAge" in error.value.reason


def test_a_level_missing_from_a_unique_table_is_a_gap(graduate_copy: Path) -> None:
    # Given the doctor row removed from the age limits by level
    _edit(graduate_copy, RULESET, "      - {level: DOCTOR, maximumAge: 50}\n", "")
    with pytest.raises(RuleLoadError) as error:
        load_service(graduate_copy)
    assert "tables.ageLimitByLevel" in error.value.where
    assert "level=DOCTOR" in error.value.reason


def test_dollar_root_is_refused_because_it_hides_what_a_rule_reads(service_copy: Path) -> None:
    _edit(
        service_copy,
        RULESET,
        "condition: ev.credit == null or",
        "condition: $root.ev.credit == null or",
    )
    with pytest.raises(RuleLoadError) as error:
        load_service(service_copy)
    assert "EA-CREDIT" in error.value.where and "$" in error.value.reason
