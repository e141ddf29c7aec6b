"""Rule texts that name a parameter ({param.minimumAge}) read the value in force on the
application date, in decisions and in the published rules; a wrong placeholder fails the load."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from miaopi import Decision, Outcome, decide
from miaopi.cases import LoadedCase, load_cases
from miaopi.errors import RuleLoadError
from miaopi.forms import normalize
from miaopi.loader import load_service
from miaopi.model import ServiceDefinition
from miaopi_platform.catalogue.routes import rule_set_view
from miaopi_rules import SERVICES_DIR

ELDERLY = "elderly-allowance"
DRIVER = "ride-hailing-driver-permit"
#: the rule sets in force from 2026-11-30, where a change from 2027 is made
RULESET = "rulesets/2026-11-30.yaml"
IN_FORCE = "2026.1"
#: the elderly allowance's minimum age as published
PUBLISHED_AGE = "      - {from: 2024-01-01, value: 80}\n"
RAISED_AGE = PUBLISHED_AGE + "      - {from: 2027-07-01, value: 85}\n"
BEFORE, AFTER = dt.date(2027, 6, 30), dt.date(2027, 7, 1)


def _copy(tmp_path: Path, service_id: str, edits: list[tuple[str, str]]) -> Path:
    folder = tmp_path / service_id
    shutil.copytree(SERVICES_DIR / service_id, folder)
    path = folder / RULESET
    text = path.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, f"fixture text {old!r} not found"
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return folder


def _case(service: ServiceDefinition, name: str) -> LoadedCase:
    cases = load_cases(service, SERVICES_DIR / service.id)
    return next(c for c in cases if c.case.name == name)


def _decide(service: ServiceDefinition, case: LoadedCase, on: dt.date) -> Decision:
    rule_set = service.rule_set_on(on)
    assert rule_set is not None
    application = normalize(service.form_model, case.application)
    return decide(service, rule_set, application, case.evidence, on)


def test_a_reason_names_the_minimum_age_in_force_on_the_application_date(tmp_path: Path) -> None:
    # Given the elderly allowance with the minimum age raised from 80 to 85 on 1 July 2027,
    # its texts unchanged ("Under {param.minimumAge} on the application date.")
    service = load_service(_copy(tmp_path, ELDERLY, [(PUBLISHED_AGE, RAISED_AGE)]))
    elder = _case(service, "aged 79 rejected")  # born 1 June 1947
    # When the same elder (aged 80 in 2027) applies the day before and on the day of the change
    before = _decide(service, elder, BEFORE)
    after = _decide(service, elder, AFTER)
    # Then the first is approved, and the second rejected with the new age in both languages
    assert before.outcome is Outcome.APPROVED
    assert after.outcome is Outcome.REJECTED
    (reason,) = after.reasons
    assert reason.rule_id == "EA-AGE"
    assert reason.message.en == "Under 85 on the application date."
    assert reason.message.zh == "申请日未满85周岁。"
    assert reason.remedy.en == "Apply once aged 85."
    # And on a date before the change the same rule reads 80
    early = _decide(service, elder, dt.date(2026, 11, 27))
    (reason,) = early.reasons
    assert reason.message.en == "Under 80 on the application date."


def test_the_published_rules_show_each_date_its_own_value(tmp_path: Path) -> None:
    # Given the same change of the minimum age from 1 July 2027
    service = load_service(_copy(tmp_path, ELDERLY, [(PUBLISHED_AGE, RAISED_AGE)]))
    rule_set = service.rule_set_named(IN_FORCE)
    # When the rules in force are shown for the day before and the day of the change
    views = {on: rule_set_view(service, rule_set, on) for on in (BEFORE, AFTER)}
    # Then EA-AGE's title, reason and remedy carry the value of each day, never a placeholder
    titles = {on: next(r for r in v.rules if r.rule_id == "EA-AGE") for on, v in views.items()}
    assert (titles[BEFORE].title.en, titles[AFTER].title.en) == (
        "Aged 80 or more",
        "Aged 85 or more",
    )
    assert titles[AFTER].title.zh == "年满85周岁"
    assert titles[AFTER].remedy.zh == "年满85周岁后再申请。"
    shown = [r.model_dump_json() for v in views.values() for r in v.rules]
    assert not any("{param." in text for text in shown)


def test_a_list_and_a_decimal_read_naturally_in_each_language(tmp_path: Path) -> None:
    # Given the driver permit's licence rule naming the qualifying classes (a list) and the face
    # rule naming its threshold (a decimal); other braces in a text are plain text
    folder = _copy(
        tmp_path,
        DRIVER,
        [
            (
                "      zh: 驾驶证恢复正常状态或取得C1及以上准驾车型后再申请。",
                "      zh: 准驾车型须为{param.qualifyingLicenceClasses}之一。",
            ),
            (
                "      en: Apply once the licence is valid again and of class C1 or higher.",
                '      en: "Classes {param.qualifyingLicenceClasses} qualify {as listed}."',
            ),
            (
                "      en: \"The police face comparison is not for the applicant's ID number, or "
                'scores below the threshold; a reviewer will check."',
                '      en: "The face comparison scored below {param.minimumFaceScore}."',
            ),
        ],
    )
    service = load_service(folder)
    rule_set = service.rule_set_named(IN_FORCE)
    rules = {r.id: r for r in rule_set.rules}
    # When their texts are read for a date
    licence = rules["RD-LICENCE"].texts_on(dt.date(2026, 11, 27))
    face = rules["RD-FACE"].texts_on(dt.date(2026, 11, 27))
    # Then the list is joined as each language writes lists, and the decimal as written
    assert licence.remedy.zh == "准驾车型须为A1、A2、A3、B1、B2、C1之一。"
    assert licence.remedy.en == "Classes A1, A2, A3, B1, B2, C1 qualify {as listed}."
    assert face.reason.en == "The face comparison scored below 0.9."


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("Under {param.minAge} on the application date.", "'{param.minAge}' names an unknown"),
        ("Under {param.minimum age} on the date.", "'{param.minimum age}' is not a parameter"),
        ("Under {param.minimumAge on the date.", "is not closed"),
    ],
)
def test_a_wrong_placeholder_fails_the_load_naming_file_rule_and_placeholder(
    tmp_path: Path, text: str, complaint: str
) -> None:
    # Given EA-AGE's English reason with a placeholder that is wrong
    folder = _copy(
        tmp_path,
        ELDERLY,
        [('en: "Under {param.minimumAge} on the application date."', f'en: "{text}"')],
    )
    # When the service is loaded
    with pytest.raises(RuleLoadError) as error:
        load_service(folder)
    # Then the error names the file, the rule, the text and the placeholder
    assert error.value.file.endswith(RULESET)
    assert error.value.where == "rule EA-AGE"
    assert error.value.reason.startswith("reason.en: ")
    assert complaint in error.value.reason


def test_the_content_hash_changes_with_a_text(tmp_path: Path) -> None:
    # Given the published elderly allowance and a copy whose EA-AGE title is worded otherwise
    published = load_service(SERVICES_DIR / ELDERLY).rule_set_named(IN_FORCE)
    edited = load_service(
        _copy(
            tmp_path,
            ELDERLY,
            [('en: "Aged {param.minimumAge} or more"', 'en: "At least {param.minimumAge}"')],
        )
    ).rule_set_named(IN_FORCE)
    # Then the two rule sets have different content hashes (decisions record which decided)
    assert published.version == edited.version
    assert published.hash != edited.hash
