"""Rule texts that name parameters: `{param.minimumAge}` in a title, reason or remedy.

A rule's wording often repeats a parameter's value ("Aged 80 or more"). Naming the parameter
keeps the text right when a dated value changes, with no copied rule set of edited strings.
Each text is split once at load into literal pieces and the parameters between them, so filling
it for a day is a join: no `str.format`, and any other brace in a text is just text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from miaopi.files import Text
from miaopi.model import ParameterSchedule, RuleTexts

Language = Literal["zh", "en"]

PREFIX = "{param."
_PLACEHOLDER = re.compile(r"\{param\.([^{}]*)\}")
_NAME = re.compile(r"^[a-z][a-zA-Z0-9]*$")
#: how a list and a yes/no read in each language
_SEPARATOR: dict[Language, str] = {"zh": "、", "en": ", "}
_YES_NO: dict[Language, tuple[str, str]] = {"zh": ("是", "否"), "en": ("yes", "no")}


class PlaceholderError(ValueError):
    """A placeholder that names no parameter of the rule set, or is not written as one."""


def show(value: Any, language: Language) -> str:
    """A parameter value as a sentence reads it: 80, 0.9, 100000000, 是/yes, A1、A2 / A1, A2."""
    if isinstance(value, bool):
        return _YES_NO[language][0 if value else 1]
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")
    if isinstance(value, list):
        return _SEPARATOR[language].join(show(v, language) for v in value)
    if value is None:
        return "—"
    return str(value)


@dataclass(frozen=True, slots=True)
class Template:
    """One text split at its placeholders: pieces[0] param[0] pieces[1] ... pieces[-1]."""

    pieces: tuple[str, ...]
    parameters: tuple[ParameterSchedule, ...]

    def fill(self, day: dt.date, language: Language) -> str:
        if not self.parameters:
            return self.pieces[0]
        out = [self.pieces[0]]
        for parameter, piece in zip(self.parameters, self.pieces[1:], strict=True):
            out.append(show(parameter.on(day), language))
            out.append(piece)
        return "".join(out)


def split(text: str, parameters: Mapping[str, ParameterSchedule]) -> Template:
    """The template of `text`; PlaceholderError naming the placeholder when one is wrong."""
    pieces: list[str] = []
    named: list[ParameterSchedule] = []
    start = 0
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1)
        if not _NAME.fullmatch(name):
            raise PlaceholderError(f"{match.group(0)!r} is not a parameter: write {{param.<name>}}")
        if name not in parameters:
            raise PlaceholderError(
                f"{match.group(0)!r} names an unknown parameter; known: {sorted(parameters)}"
            )
        pieces.append(text[start : match.start()])
        named.append(parameters[name])
        start = match.end()
    pieces.append(text[start:])
    if any(PREFIX in piece for piece in pieces):
        raise PlaceholderError(f"a {PREFIX!r} placeholder is not closed with '}}'")
    return Template(tuple(pieces), tuple(named))


@dataclass(frozen=True, slots=True)
class TextTemplate:
    zh: Template
    en: Template

    @property
    def named(self) -> bool:
        return bool(self.zh.parameters or self.en.parameters)

    def on(self, day: dt.date) -> Text:
        # built without validation: both pieces were checked as non-empty Text at load
        return Text.model_construct(zh=self.zh.fill(day, "zh"), en=self.en.fill(day, "en"))


@dataclass(frozen=True, slots=True)
class RuleTemplates:
    title: TextTemplate
    reason: TextTemplate
    remedy: TextTemplate

    def on(self, day: dt.date) -> RuleTexts:
        return RuleTexts(self.title.on(day), self.reason.on(day), self.remedy.on(day))


def rule_templates(
    texts: Mapping[str, Text], parameters: Mapping[str, ParameterSchedule]
) -> RuleTemplates | None:
    """A rule's title, reason and remedy split at their placeholders, or None when they name no
    parameter (the engine then uses them as written). PlaceholderError names the text."""
    split_texts: dict[str, TextTemplate] = {}
    for field, text in texts.items():
        templates: dict[Language, Template] = {}
        for language in ("zh", "en"):
            try:
                templates[language] = split(getattr(text, language), parameters)
            except PlaceholderError as exc:
                raise PlaceholderError(f"{field}.{language}: {exc}") from None
        split_texts[field] = TextTemplate(templates["zh"], templates["en"])
    if not any(t.named for t in split_texts.values()):
        return None
    return RuleTemplates(split_texts["title"], split_texts["reason"], split_texts["remedy"])
