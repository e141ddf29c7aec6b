"""JSON from outside is parsed only within a nesting limit, counted on brackets outside strings."""

from __future__ import annotations

import json

import pytest
from miaopi_platform.aws.json_input import MAX_DEPTH, TooDeep, depth_exceeds, loads


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_input_up_to_the_limit_parses_and_one_level_more_is_refused() -> None:
    assert loads(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))
    with pytest.raises(TooDeep):
        loads(nested(MAX_DEPTH + 1))


def test_input_deeper_than_the_decoder_can_go_is_refused_not_a_recursion_error() -> None:
    # 50,000 levels: Python's decoder raises RecursionError on this
    with pytest.raises(TooDeep):
        loads(nested(50_000).encode())


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[[[[" * 40, "b": ['\\"]]]]{{{{' * 40], "c": {"d": "\\\\"}})
    assert not depth_exceeds(text, 3)
    assert loads(text, 3) == json.loads(text)
    assert depth_exceeds(json.dumps({"a": [[{"b": [1]}]]}), 3)


def test_invalid_json_is_still_a_value_error() -> None:
    for text in ('{"a": "unterminated', '"\\"' * 1000, "[1,", b"\xff"):
        with pytest.raises(ValueError):
            loads(text)
