"""Free text written by staff, as other readers get it: known values, identifiers and personal
names masked, by reference where the record knows them and by shape where it does not."""

from __future__ import annotations

import pytest
from miaopi_platform.privacy.text import TextMask, masked_comment

NOTHING_KNOWN: dict[str, tuple[str, ...]] = {}


def test_the_issue_comment_has_its_name_masked_with_nothing_to_compare_against() -> None:
    # Given a reviewer's comment quoting a name, an ID number, a phone and a card, and a record
    # that holds no application or evidence to compare against
    comment = "已核实: 林兰秀 身份证 440106194901011234 手机 13800138000 卡 6222020200112233445"
    # When another reader gets it
    shown = TextMask(NOTHING_KNOWN)(comment)
    # Then none of them is in clear, and the rest of the words are
    for value in ("林兰秀", "440106194901011234", "13800138000", "6222020200112233445"):
        assert value not in shown
    assert shown.startswith("已核实: 林** 身份证 ")


@pytest.mark.parametrize(
    ("comment", "name"),
    [
        ("已电话联系林玉国本人，确认信息无误", "林玉国"),
        ("申请人的父亲林建国已去世", "林建国"),  # the tagger reads 林 / 建国: the cue finds it
        ("户主周建华", "周建华"),
        ("监护人吴建国同意代办", "吴建国"),
        ("姓名：司马懿，材料齐全", "司马懿"),
        ("经与张伟核对", "张伟"),
        ("已与申请人林秀英本人核实", "林秀英"),  # 林 / 秀英: the surname taken in
    ],
)
def test_chinese_names_are_masked_by_shape(comment: str, name: str) -> None:
    # When a comment naming someone no record knows is shown
    shown = TextMask(NOTHING_KNOWN)(comment)
    # Then the name is gone but for its first character
    assert name not in shown and name[1:] not in shown and name[0] + "*" in shown


@pytest.mark.parametrize(
    "comment",
    [
        "联系电话已核实，材料齐备",
        "已核实学历证书原件，符合要求",
        "联系他本人，确认无误",
        "paper originals checked at the counter",
    ],
)
def test_ordinary_words_after_a_cue_stay_readable(comment: str) -> None:
    assert TextMask(NOTHING_KNOWN)(comment) == comment


def test_known_values_are_masked_wherever_they_appear_and_latin_names_word_by_word() -> None:
    # Given the record's names: a Chinese one and a Latin one
    known = {"陈秀英": (), "Maria Lopez": (), "13912345678": ("cn.mobile",)}
    # When a comment quotes them, one in capitals and by surname alone
    shown = TextMask(known)("called MARIA LOPEZ (Ms lopez) and 陈秀英 on 13912345678")
    # Then none is in clear
    assert "陈秀英" not in shown and "13912345678" not in shown
    assert "maria" not in shown.lower() and "lopez" not in shown.lower()


def test_a_comment_is_in_clear_for_its_author_only() -> None:
    comment = "已电话联系林玉国本人"
    assert masked_comment(comment, "reviewer-1", "reviewer-1", NOTHING_KNOWN) == comment
    assert "林玉国" not in str(masked_comment(comment, "reviewer-2", "reviewer-1", NOTHING_KNOWN))
    assert "林玉国" not in str(masked_comment(comment, None, "reviewer-1", NOTHING_KNOWN))
