"""Decision tables for tiered outputs (e.g. allowance by age band), hit policies FIRST and UNIQUE.

Cells are intervals or sets, parsed once at load, so a UNIQUE table's overlaps and gaps are found
before any application is decided:

    -  or empty        any value
    [80..90)  (a..b]   intervals, closed [ ] or open ( )
    >= 100  < 80  = 5  comparisons; a bare number means equality
    "A"  ["A", "B"]    string values (inputs whose domain is a list of strings)
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from miaopi.expressions import Compiled

_INTERVAL = re.compile(r"^([\[(])\s*(-?[\d.]+)?\s*\.\.\s*(-?[\d.]+)?\s*([\])])$")
_COMPARE = re.compile(r"^(>=|<=|>|<|=)?\s*(-?\d+(?:\.\d+)?)$")


class TableError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Interval:
    lo: float
    lo_closed: bool
    hi: float
    hi_closed: bool

    def contains(self, x: float) -> bool:
        if x < self.lo or (x == self.lo and not self.lo_closed):
            return False
        return not (x > self.hi or (x == self.hi and not self.hi_closed))  # ints compare as is

    def intersects(self, other: Interval) -> bool:
        lo, lo_closed = max((self.lo, self.lo_closed), (other.lo, other.lo_closed), key=_lo_key)
        hi, hi_closed = min((self.hi, self.hi_closed), (other.hi, other.hi_closed), key=_hi_key)
        return lo < hi or (lo == hi and lo_closed and hi_closed)

    def points(self) -> list[float]:
        return [p for p in (self.lo, self.hi) if math.isfinite(p)]


def _lo_key(bound: tuple[float, bool]) -> tuple[float, int]:
    return (bound[0], 0 if bound[1] else 1)


def _hi_key(bound: tuple[float, bool]) -> tuple[float, int]:
    return (bound[0], 1 if bound[1] else 0)


ANY = Interval(-math.inf, False, math.inf, False)


def parse_interval(cell: Any) -> Interval:
    if cell is None or str(cell).strip() in ("", "-"):
        return ANY
    if isinstance(cell, int | float | Decimal) and not isinstance(cell, bool):
        return Interval(float(cell), True, float(cell), True)
    text = str(cell).strip()
    if match := _INTERVAL.match(text):
        left, lo, hi, right = match.groups()
        interval = Interval(
            float(lo) if lo else -math.inf,
            left == "[" and lo is not None,
            float(hi) if hi else math.inf,
            right == "]" and hi is not None,
        )
        if interval.lo > interval.hi:
            raise TableError(f"empty interval {text!r}")
        return interval
    if match := _COMPARE.match(text):
        op, number = match.group(1) or "=", float(match.group(2))
        return {
            ">=": Interval(number, True, math.inf, False),
            ">": Interval(number, False, math.inf, False),
            "<=": Interval(-math.inf, False, number, True),
            "<": Interval(-math.inf, False, number, False),
            "=": Interval(number, True, number, True),
        }[op]
    raise TableError(f"cannot read cell {text!r} as a number interval")


def parse_set(cell: Any) -> frozenset[str] | None:
    """None means any value."""
    if cell is None or (isinstance(cell, str) and cell.strip() in ("", "-")):
        return None
    if isinstance(cell, list):
        return frozenset(str(v) for v in cell)
    return frozenset({str(cell).strip().strip('"')})


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    expression: Compiled
    numeric: bool
    domain: Interval | frozenset[str] | None


@dataclass(frozen=True, slots=True)
class Row:
    number: int
    cells: tuple[Interval | frozenset[str] | None, ...]
    outputs: dict[str, Any]

    def matches(self, values: list[Any]) -> bool:
        index = 0
        for cell in self.cells:
            value = values[index]
            index += 1
            if cell is None:
                continue
            if value is None:
                return False
            if isinstance(cell, Interval):
                if not cell.contains(value):
                    return False
            elif str(value) not in cell:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    hit_policy: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]

    def evaluate(self, context: dict[str, Any]) -> dict[str, Any] | None:
        values = [column.expression.evaluate(context) for column in self.columns]
        for row in self.rows:
            if row.matches(values):
                return row.outputs
        return None


def _cast(kind: str, value: Any) -> Any:
    if kind == "decimal":
        try:
            return Decimal(str(value))
        except InvalidOperation as exc:
            raise TableError(f"{value!r} is not a decimal") from exc
    if kind == "integer":
        return int(value)
    return str(value)


def build_table(
    name: str,
    hit_policy: str,
    columns: list[Column],
    outputs: dict[str, str],
    rows: list[dict[str, Any]],
) -> Table:
    """Parse the rows; for UNIQUE, reject overlapping rows and gaps in the declared domains."""
    parsed: list[Row] = []
    names = {column.name for column in columns} | set(outputs)
    for number, raw in enumerate(rows, start=1):
        unknown = set(raw) - names
        if unknown:
            raise TableError(f"row {number}: unknown columns {sorted(unknown)}")
        missing = set(outputs) - set(raw)
        if missing:
            raise TableError(f"row {number}: no value for outputs {sorted(missing)}")
        try:
            cells = tuple(
                parse_interval(raw.get(c.name)) if c.numeric else parse_set(raw.get(c.name))
                for c in columns
            )
            values = {out: _cast(kind, raw[out]) for out, kind in outputs.items()}
        except TableError as exc:
            raise TableError(f"row {number}: {exc}") from exc
        parsed.append(Row(number, cells, values))
    table = Table(name, hit_policy, tuple(columns), tuple(parsed))
    if hit_policy == "UNIQUE":
        _check_unique(table)
    return table


def _cells_intersect(
    a: Interval | frozenset[str] | None, b: Interval | frozenset[str] | None
) -> bool:
    if a is None or b is None:
        return True
    if isinstance(a, Interval) and isinstance(b, Interval):
        return a.intersects(b)
    assert isinstance(a, frozenset) and isinstance(b, frozenset)
    return bool(a & b)


def _check_unique(table: Table) -> None:
    for first, second in itertools.combinations(table.rows, 2):
        if all(_cells_intersect(a, b) for a, b in zip(first.cells, second.cells, strict=True)):
            raise TableError(f"UNIQUE rows {first.number} and {second.number} overlap")
    # Gaps: every elementary cell of the declared domains must be matched by some row.
    axes: list[list[Any]] = []
    for index, column in enumerate(table.columns):
        if column.domain is None:
            axes.append([None])
        elif isinstance(column.domain, frozenset):
            axes.append(sorted(column.domain))
        else:
            axes.append(_representatives(column.domain, [row.cells[index] for row in table.rows]))
    for point in itertools.product(*axes):
        if point and all(p is None for p in point):
            continue
        probe = tuple(p for p in point)
        if not any(_matches_domain_point(row, probe) for row in table.rows):
            shown = ", ".join(
                f"{c.name}={p:g}" if isinstance(p, float) else f"{c.name}={p}"
                for c, p in zip(table.columns, probe, strict=True)
                if p is not None
            )
            raise TableError(f"UNIQUE table has a gap: no row matches {shown}")


def _matches_domain_point(row: Row, probe: tuple[Any, ...]) -> bool:
    for cell, value in zip(row.cells, probe, strict=True):
        if value is None or cell is None:
            continue
        if isinstance(cell, Interval):
            if not cell.contains(float(value)):
                return False
        elif str(value) not in cell:
            return False
    return True


def _representatives(domain: Interval, cells: list[Any]) -> list[Any]:
    """One point for every elementary piece of `domain` cut at all the rows' bounds."""
    cuts = {p for cell in cells if isinstance(cell, Interval) for p in cell.points()}
    cuts |= set(domain.points())
    ordered = sorted(cuts)
    candidates: list[float] = list(ordered)
    candidates += [(a + b) / 2 for a, b in itertools.pairwise(ordered)]
    if ordered:
        candidates += [ordered[0] - 1, ordered[-1] + 1]
    else:
        candidates.append(0.0)
    return sorted(p for p in candidates if domain.contains(p))
