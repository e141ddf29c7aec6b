"""Free text written by staff (a reviewer's comment), masked for every reader but its author.

A person types a comment, and it may quote anything: the applicant's ID number, a card, a
phone, a name (the applicant's, a relative's, a card holder's). So it is masked by construction,
three ways, each enough on its own:

1. By reference: every personal value the caller knows of (the record's and its application's
   personal fields, and the names anywhere in them, records.personal), wherever it appears;
   a Latin-script name also word by word (words of 3 letters or more), in any case.
2. Identifiers by shape: anything shaped like a resident ID number (its check letter in either
   case), a mobile number or a bank card, as the identifier kinds define them.
3. Chinese personal names by shape, where no reference exists: the words that rjieba (jieba's
   dictionary and HMM, offline) tags as a person's name (nr, nrfg, nrt), 2-4 Han characters;
   with a single character just before (a surname the tagger split off: 林 + 秀英) taken in.
   And after a cue (联系, 姓名, 申请人, 户名, 持卡人, 家属, 父亲, 经办人, ... below), the word
   that follows when the tagger reads it as a name or a proper noun (儿子马建国: it says a
   place), else the next 2-3 Han characters when they start with a single character that is
   not a particle, preposition or the like (父亲林建国已去世, where the tagger reads 林 / 建国);
   an ordinary word after a cue is left alone (联系电话 is a phone, 申请人的父亲 a relation).
   Likewise the name-like words right before 本人 (林玉国本人), and between a cue and 本人 any
   two to four characters (联系曾红本人: the tagger reads 曾红 as an adjective).

Masking more than needed is the safe side: a word the tagger's dictionary holds as a name keeps
only its first character, except a few words of case handling it mis-tags (NOT_NAMES: 齐全,
银行卡, 宝安, ...). Latin-script names are masked by
reference only: no offline tagger reads them reliably. A name is masked like a name field: its
first character kept, the rest stars.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from miaopi.identifiers import KINDS

from miaopi_platform.privacy.pii import mask_value

#: identifier kinds that identify a person, recognised by shape in free text
PERSONAL_KINDS = ("cn.ric", "cn.mobile", "bankcard")
_IN_TEXT = re.compile(
    "|".join(
        rf"(?<![0-9A-Za-z])(?:{KINDS[k].pattern.strip('^$')})(?![0-9A-Za-z])"
        for k in PERSONAL_KINDS
    ),
    re.IGNORECASE,
)
_SHAPES = tuple((kind, re.compile(KINDS[kind].pattern)) for kind in PERSONAL_KINDS)
#: the tagger's tags for a person's name (jieba: nr; nrfg, nrt: names it knows as words)
_NAME_TAGS = frozenset({"nr", "nrfg", "nrt"})
#: words of case handling that the tagger's dictionary holds as names (checked against a list
#: of ~150 words reviewers write): left readable
NOT_NAMES = frozenset({"齐全", "齐备", "银行卡", "许可证", "养老院", "宝安", "龙岗", "大鹏"})
#: a single character the tagger split off a name (林 / 秀英): tagged as a surname or noun root
_SURNAME_TAGS = frozenset({"nr", "nrfg", "ng"})
#: words after which a person's name usually follows
CUES = frozenset(
    {
        "联系",
        "联系人",
        "姓名",
        "名字",
        "申请人",
        "户名",
        "户主",
        "持卡人",
        "收款人",
        "家属",
        "父亲",
        "母亲",
        "丈夫",
        "妻子",
        "配偶",
        "儿子",
        "女儿",
        "子女",
        "经办人",
        "代办人",
        "代理人",
        "监护人",
    }
)
#: after a cue, words tagged so are taken as a name too (儿子马建国: the tagger says a place)
_AFTER_CUE_TAGS = _NAME_TAGS | {"ns", "nz"}
#: a single character after a cue that does not start a name: particles, prepositions,
#: conjunctions, adverbs, numerals, measure words, punctuation (申请人的父亲, 联系了)
_NOT_A_SURNAME = frozenset({"u", "uj", "ul", "uz", "ud", "ug", "uv", "p", "c", "d", "y", "e"})
_NOT_A_SURNAME |= {"o", "m", "q", "f", "x", "t"}
#: pronouns (他本人): the tagger's `r` also holds the surname 何, so these are named
_PRONOUNS = frozenset("他她它我你您其咱")
#: what may stand between a cue and the name (姓名：林兰秀, 户名为林兰秀)
_CUE_GLUE = frozenset({":", "：", " ", "为", "是", "了", "、", "，"})
_HAN = re.compile(r"[\u3400-\u9fff]+")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]{2,}")


def identifier_kind(value: str) -> str | None:
    """The personal identifier kind a whole value has the shape of, if any."""
    for kind, shape in _SHAPES:
        if shape.fullmatch(value.upper()):  # an ID number's check letter in lower case too
            return kind
    return None


class TextMask:
    """Masks free text against `known` personal values (value -> identifier kinds; no kind for
    a name) and by shape (the module's doc)."""

    def __init__(self, known: Mapping[str, tuple[str, ...]]) -> None:
        self._known = {v: k for v, k in known.items() if isinstance(v, str) and len(v) >= 2}
        words: dict[str, str] = {}
        for value, kinds in self._known.items():
            if not kinds and not _HAN.search(value):
                for word in _LATIN_WORD.findall(value):
                    words.setdefault(word.lower(), word)
        self._latin = (
            re.compile(
                r"(?<![A-Za-z])(?:"
                + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
                + r")(?![A-Za-z])",
                re.IGNORECASE,
            )
            if words
            else None
        )

    def __call__(self, text: str) -> str:
        for value in sorted(self._known, key=len, reverse=True):
            if value in text:
                text = text.replace(value, str(mask_value(self._known[value], value)))
        for value, kinds in self._known.items():  # a Latin name in another case
            if not kinds and not _HAN.search(value):
                text = re.sub(re.escape(value), lambda m: _name(m.group(0)), text, flags=re.I)
        if self._latin is not None:
            text = self._latin.sub(lambda m: _name(m.group(0)), text)
        text = _IN_TEXT.sub(lambda m: _identifier(m.group(0)), text)
        return names_masked(text)


def masked_comment(
    text: str | None, reader: str | None, author: str | None, known: Mapping[str, tuple[str, ...]]
) -> str | None:
    """A comment as `reader` may read it: in clear for its author, masked for anyone else."""
    if not text or (reader and author and reader == author):
        return text
    return TextMask(known)(text)


def names_masked(text: str) -> str:
    """`text` with the Chinese personal names found by shape masked (rule 3 of the module)."""
    if not _HAN.search(text):
        return text
    spans = _name_spans(text)
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + _name(text[start:end]) + text[end:]
    return text


#: (word, tag, offset in the text)
Token = tuple[str, str, int]
#: "oneself": 林玉国本人, a name right before it
_SELF = "本人"


def _name_spans(text: str) -> set[tuple[int, int]]:
    tokens = _tokens(text)
    spans: set[tuple[int, int]] = set()
    for index, (word, tag, start) in enumerate(tokens):
        named = tag in _NAME_TAGS and word not in CUES and word not in NOT_NAMES
        if named and 2 <= len(word) <= 4 and _all_han(word):
            end = start + len(word)
            before = tokens[index - 1] if index else None
            if (
                before
                and len(before[0]) == 1
                and before[1] in _SURNAME_TAGS
                and _all_han(before[0])
            ):
                start = before[2]
            spans.add((start, end))
        elif word in CUES:
            after = _after_cue(tokens, index + 1)
            if after:
                spans.add(after)
        elif word == _SELF:
            framed = _before_self(tokens, index)
            if framed:
                spans.add(framed)
    return _merged(spans)


def _after_cue(tokens: list[Token], index: int) -> tuple[int, int] | None:
    """The span of the name after a cue: the name-like words that follow it (2-4 Han
    characters), or the words framed by the cue and 本人 (联系曾红本人: the tagger says 曾红 is
    an adjective)."""
    while index < len(tokens) and tokens[index][0] in _CUE_GLUE:
        index += 1
    for end in range(index + 1, min(index + 4, len(tokens))):  # cue, 2-4 characters, 本人
        if tokens[end][0] == _SELF and _framed(tokens, index, end):
            return _span(tokens, index, end)
    end = index
    while end < len(tokens) and _name_part(tokens, end, tokens[index][2]):
        end += 1
    return _span(tokens, index, end)


def _before_self(tokens: list[Token], index: int) -> tuple[int, int] | None:
    """The span of the name just before 本人 (tokens[index]): the name-like words before it."""
    start = index
    while start > 0 and _name_part(tokens, start - 1, tokens[start - 1][2], backwards=index):
        start -= 1
    return _span(tokens, start, index)


def _name_part(tokens: list[Token], at: int, begin: int, backwards: int | None = None) -> bool:
    """tokens[at] may be part of a name starting at offset `begin` (at most 4 characters; when
    walking back from 本人, `backwards` is its index and the name ends before it)."""
    word, tag, offset = tokens[at]
    if not _all_han(word) or word in CUES or word in _PRONOUNS or word == _SELF:
        return False
    if backwards is not None:
        if tokens[backwards][2] - offset > 4:
            return False
    elif offset + len(word) - begin > 4:
        return False
    framed = (at + 1 < len(tokens) and tokens[at + 1][0] == _SELF) or backwards == at + 1
    if tag in _AFTER_CUE_TAGS or (framed and tag == "a"):
        return True
    return len(word) == 1 and tag not in _NOT_A_SURNAME


def _framed(tokens: list[Token], first: int, end: int) -> bool:
    """tokens[first:end] are 2-4 Han characters, none a cue or a pronoun."""
    words = [w for w, _, _ in tokens[first:end]]
    text = "".join(words)
    plain = not any(w in CUES or w in _PRONOUNS for w in words)
    return plain and 2 <= len(text) <= 4 and _all_han(text)


def _span(tokens: list[Token], first: int, end: int) -> tuple[int, int] | None:
    """The span of tokens[first:end] when it is 2 characters or more."""
    if end <= first:
        return None
    start, stop = tokens[first][2], tokens[end - 1][2] + len(tokens[end - 1][0])
    return (start, stop) if stop - start >= 2 else None


def _merged(spans: set[tuple[int, int]]) -> set[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return set(out)


def _tokens(text: str) -> list[Token]:
    """(word, tag, offset) of each word the tagger reads in `text`."""
    out, offset = [], 0
    for word, tag in _tagger().tag(text):
        found = text.find(word, offset)  # the words cover the text; this keeps offsets honest
        offset = found if found >= 0 else offset
        out.append((word, tag, offset))
        offset += len(word)
    return out


@cache
def _tagger() -> Any:
    """rjieba, imported when first needed: its dictionary loads in about 0.1 s, once per
    execution environment, and only where staff text is shown."""
    import rjieba

    return rjieba


def _all_han(word: str) -> bool:
    return bool(_HAN.fullmatch(word))


def _name(value: str) -> str:
    return str(mask_value((), value))


def _identifier(value: str) -> str:
    kind = identifier_kind(value)
    return str(mask_value((kind,), value)) if kind else value
