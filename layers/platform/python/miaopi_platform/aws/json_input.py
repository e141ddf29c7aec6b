"""JSON from outside (request bodies, page tokens), parsed with a nesting limit.

Python's decoder recurses once per level of nesting: a 64 KB body of `[` ends in RecursionError
(a 500), and a deep value that parses can still exhaust the stack of whatever walks it next
(validation, hashing, copying). Nothing the API takes nests deeper than a few levels, so input
deeper than `MAX_DEPTH` is refused before it is parsed, from its brackets outside strings.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: levels of arrays and objects any input may nest (applications: 2-3; tokens: 3)
MAX_DEPTH = 32

#: a JSON string (its closing quote optional: an unterminated string ends the text, and the
#: decoder refuses it there)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
#: an array or object with nothing nested inside: the innermost level
_INNERMOST = re.compile(r"[\[{][\]}]")


class TooDeep(ValueError):
    """The input nests arrays and objects deeper than allowed."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        super().__init__(f"nested deeper than {max_depth} levels")


def depth_exceeds(text: str, max_depth: int) -> bool:
    """Whether `text` opens more than `max_depth` arrays or objects inside each other. Exact for
    valid JSON; for invalid JSON at least as deep as any prefix the decoder would read.

    The brackets outside strings are peeled one level per pass (each pass removes every
    innermost pair, in C): JSON nested d deep takes d passes, so at most `max_depth + 1`
    passes over the text decide, whatever its shape."""
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if ("[" * (max_depth + 1)) in skeleton.replace("{", "["):  # the usual attack, at once
        return True
    peeled = 0
    while peeled <= max_depth:
        skeleton, removed = _INNERMOST.subn("", skeleton)
        if not removed:
            break
        peeled += 1
    # what is left opens without closing (invalid JSON): each opener is one more level
    return peeled + skeleton.count("[") + skeleton.count("{") > max_depth


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads`, refusing input that nests deeper than `max_depth` (TooDeep, a ValueError
    like every other reason the text is not acceptable JSON)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if depth_exceeds(text, max_depth):
        raise TooDeep(max_depth)
    return json.loads(text)
