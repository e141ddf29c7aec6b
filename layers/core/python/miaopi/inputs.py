"""What the API's fields take from people: text they can see, and dates as they are written.

Text: a name with a NUL, a bidi override (U+202E shows "abc" as "cba") or a zero-width character
looks like another name to whoever reads it, and is another string to every lookup and
comparison. So every text field refuses control (Cc), format (Cf: bidi controls, zero-width
characters, the BOM) and surrogate (Cs) characters, and the line and paragraph separators.
Multi-line text (a reviewer's comment, a rule file) keeps its line breaks and tabs. Private-use
and unassigned code points stay allowed: rare characters of Chinese names live there in some
systems and fonts.

Dates: a date is the text YYYY-MM-DD. pydantic would also take a number as a Unix time, and a
date sent as 1719792000 would be 1 July 2024 while 1719792001 is an error; neither is what the
person meant.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

#: the error code and message a refused text gets (the field is named by whoever reports it)
UNPRINTABLE = "unprintable_character"
_UNPRINTABLE_MESSAGE = "control, format (e.g. bidi) or invisible characters are not allowed"

_REFUSED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_LAYOUT = str.maketrans("", "", "\n\r\t")


def printable(value: str, multi_line: bool = False) -> bool:
    """Whether `value` holds only characters a text field takes."""
    text = value.translate(_LAYOUT) if multi_line else value
    if text.isprintable():  # the common case, in C: no Cc/Cf/Cs/Zl/Zp (nor Zs, Co, Cn)
        return True
    return not any(unicodedata.category(c) in _REFUSED for c in text)


def _line(value: str) -> str:
    if not printable(value):
        raise PydanticCustomError(UNPRINTABLE, _UNPRINTABLE_MESSAGE)
    return value


def _paragraphs(value: str) -> str:
    if not printable(value, multi_line=True):
        raise PydanticCustomError(UNPRINTABLE, _UNPRINTABLE_MESSAGE)
    return value


def _date_text(value: Any) -> Any:
    """A date arrives as text (or as a date, from code); anything else is not a date."""
    if isinstance(value, str | dt.date):
        return value
    raise PydanticCustomError("date_type", "expected a date as YYYY-MM-DD")


#: the checks, to follow a type's other constraints: `Annotated[str, Field(...), ONE_LINE]`
ONE_LINE = AfterValidator(_line)
MULTI_LINE = AfterValidator(_paragraphs)
#: one line of text (a name, a school, a reason)
Line = Annotated[str, ONE_LINE]
#: text with line breaks and tabs (a comment, a rule file)
Paragraphs = Annotated[str, MULTI_LINE]
#: a date, written YYYY-MM-DD
IsoDate = Annotated[dt.date, BeforeValidator(_date_text)]
