"""Sandboxed rule expressions: GoRules ZEN, compiled once at load, never Python `eval`.

Every expression is checked at load: it must parse, and every name it reads must exist
(a form field, an evidence attribute, a parameter, a derived fact, or the application date).
Names live in five namespaces:

    app.<field>[.<field>]      the normalized application
    ev.<alias>[.<attribute>]   evidence records (null when the source holds no record)
    param.<name>               parameters in force on the application date
    fact.<name>                derived facts
    table.<name>.<output>      a decision table's output for this application (rules only)
    date                       the application date, "YYYY-MM-DD" (use d(date) to compare)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import zen

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_NAME = re.compile(r"(?<![\w.#$])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?!\w)(\s*\()?")
_KEYWORDS = frozenset({"and", "or", "not", "true", "false", "null", "in"})
ROOTS = frozenset({"app", "ev", "param", "fact", "table", "date"})


class ExpressionError(ValueError):
    """The expression does not parse or reads a name that does not exist."""


def references(text: str) -> tuple[str, ...]:
    """The dotted names an expression reads, in order of first appearance, without duplicates."""
    seen: dict[str, None] = {}
    for match in _NAME.finditer(_STRING.sub('""', text)):
        name, call = match.group(1), match.group(2)
        if call or name in _KEYWORDS:
            continue
        seen.setdefault(name, None)
    return tuple(seen)


def walk(context: dict[str, Any], path: str | tuple[str, ...]) -> Any:
    """The value at a dotted path, or None where any step is missing (ZEN's null-safe reading)."""
    value: Any = context
    for part in path.split(".") if isinstance(path, str) else path:
        if value.__class__ is not dict:
            return None
        value = value.get(part)
    return value


def getter(steps: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    """A reader for one dotted path, specialised at load: the trace reads every path it shows."""
    if len(steps) == 1:
        (a,) = steps
        return lambda context: context.get(a)
    if len(steps) == 2:
        a, b = steps

        def read2(context: dict[str, Any]) -> Any:
            x = context.get(a)
            return x.get(b) if x.__class__ is dict else None

        return read2
    if len(steps) == 3:
        a, b, c = steps

        def read3(context: dict[str, Any]) -> Any:
            x = context.get(a)
            x = x.get(b) if x.__class__ is dict else None
            return x.get(c) if x.__class__ is dict else None

        return read3
    return lambda context: walk(context, steps)


def _needs(paths: Iterable[str]) -> tuple[tuple[str, str | None], ...]:
    """(namespace, top-level key) pairs that the paths read: all ZEN needs to be given."""
    out: dict[tuple[str, str | None], None] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        out.setdefault((head, rest.partition(".")[0] or None), None)
    return tuple(out)


def trimmed(context: dict[str, Any], needs: tuple[tuple[str, str | None], ...]) -> dict[str, Any]:
    """Only the entries an expression reads: ZEN converts its whole context on every call."""
    out: dict[str, Any] = {}
    for head, key in needs:
        if key is None:
            out[head] = context.get(head)
        else:
            space = context.get(head)
            value = space.get(key) if space.__class__ is dict else None
            if head in out:
                out[head][key] = value
            else:
                out[head] = {key: value}
    return out


@dataclass(frozen=True, slots=True)
class Compiled:
    text: str
    paths: tuple[str, ...]
    program: Any
    #: set when the whole expression is one dotted path: read it without calling ZEN
    simple_path: tuple[str, ...] | None
    needs: tuple[tuple[str, str | None], ...]

    def evaluate(self, context: dict[str, Any]) -> Any:
        if self.simple_path is not None:
            return walk(context, self.simple_path)
        return self.program.evaluate(trimmed(context, self.needs))


def compile_expression(text: str, check: Callable[[str], str | None]) -> Compiled:
    """Parse `text` with ZEN and check each name with `check` (returns a reason, or None if ok)."""
    problem = zen.validate_expression(text)
    if problem:
        raise ExpressionError(f"does not compile: {problem.get('source', problem)}")
    if "$" in _STRING.sub('""', text):
        # $ / $root reach the whole context and would hide which evidence a rule reads
        raise ExpressionError("`$` is not allowed: name what the rule reads (app., ev., ...)")
    paths = references(text)
    for path in paths:
        if path.split(".")[0] not in ROOTS:
            raise ExpressionError(f"unknown name {path!r}: names start with {sorted(ROOTS)}")
        reason = check(path)
        if reason:
            raise ExpressionError(reason)
    stripped = text.strip()
    simple = (
        tuple(stripped.split("."))
        if re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", stripped)
        else None
    )
    return Compiled(text, paths, zen.compile_expression(text), simple, _needs(paths))


class _Joined:
    """Several values as one text: None when any is missing, so nothing is looked up by half a
    key."""

    __slots__ = ("parts", "separator")

    def __init__(self, parts: tuple[Compiled, ...], separator: str) -> None:
        self.parts = parts
        self.separator = separator

    def evaluate(self, context: dict[str, Any]) -> str | None:
        values = []
        for part in self.parts:
            value = part.evaluate(context)
            if value is None or value == "":
                return None
            values.append(str(value))
        return self.separator.join(values)


def joined(parts: Iterable[Compiled], separator: str) -> Compiled:
    """Already-checked expressions whose values read as one text joined by `separator` (a
    composite key); one expression alone is itself."""
    items = tuple(parts)
    if len(items) == 1:
        return items[0]
    paths = tuple(dict.fromkeys(path for item in items for path in item.paths))
    text = "[" + ", ".join(item.text for item in items) + "]"
    return Compiled(text, paths, _Joined(items, separator), None, _needs(paths))


def compile_batch(texts: Iterable[str]) -> Compiled:
    """Many already-checked expressions as one ZEN array: one call, one context conversion."""
    items = list(texts)
    text = "[" + ", ".join(f"({item})" for item in items) + "]"
    paths = tuple(dict.fromkeys(path for item in items for path in references(item)))
    return Compiled(text, paths, zen.compile_expression(text), None, _needs(paths))
