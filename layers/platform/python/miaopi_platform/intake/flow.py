"""Load one delivered file; check every source's freshness.

A file `<source>/<anything>.jsonl` in the intake bucket is read line by line; each line is checked
against what the services read of its source (`miaopi.sources`, derived from the rules data).
Valid records are stored by version (`store.SourceRecords`). A refused line whose key and
version could be read still stands for that record: it is stored as refused, and the
data-sharing port answers UNAVAILABLE for it, so the decision refers instead of believing an
older record or, for a source whose absence is a fact (no criminal record), the absence.

The report (`reports/<file>.json`) and the logs hold line numbers, field names, reasons and
counts: a register's line is personal data and never leaves the tables.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from miaopi.sources import SourceSchema, check_line, source_schemas

from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.catalogue.services import all_services
from miaopi_platform.evidence.port import CREDIT_LIST_SOURCE, REJECTED_MARK
from miaopi_platform.intake.items import Counts, LoadReport, Reject, SourceLoad
from miaopi_platform.intake.store import Delivered, SourceLoads, SourceRecords
from miaopi_platform.privacy.pii import PiiHasher

#: the files the loader reads; anything else in the bucket (reports) is not a delivery
SUFFIX = ".jsonl"
REPORTS_PREFIX = "reports/"
#: lines checked and written together
BATCH_LINES = 1000
#: rejects listed in one report (the rest are counted)
REPORT_REJECTS = 1000
_HOUR = dt.timedelta(hours=1)


class IntakePorts(Protocol):
    """What the loader needs: the bucket's client, the stores, the PII hasher (credit list)."""

    @property
    def s3(self) -> Any: ...

    @property
    def records(self) -> SourceRecords: ...

    @property
    def loads(self) -> SourceLoads: ...

    @property
    def hasher(self) -> PiiHasher: ...


@cache
def schemas() -> dict[str, SourceSchema]:
    """Every source the published services read, from the rules layer (once per environment)."""
    return source_schemas(all_services())


def source_of(object_key: str) -> str | None:
    """The source a delivered file is for (its first folder), or None: not a delivery."""
    if object_key.startswith(REPORTS_PREFIX) or not object_key.endswith(SUFFIX):
        return None
    source, slash, _rest = object_key.partition("/")
    return source if slash else None


def report_key(object_key: str) -> str:
    return f"{REPORTS_PREFIX}{object_key.removesuffix(SUFFIX)}.json"


@dataclass
class _Tally:
    lines: int = 0
    loaded: int = 0
    unchanged: int = 0
    rejected: int = 0

    def counts(self) -> Counts:
        return Counts(
            lines=self.lines, loaded=self.loaded, unchanged=self.unchanged, rejected=self.rejected
        )


def load_lines(
    ports: IntakePorts, source: str, file: str, lines: Iterable[str]
) -> tuple[Counts, list[Reject], int]:
    """Check and store one file's lines: counts, the listed rejects, the rejects not listed."""
    schema = schemas().get(source)
    tally = _Tally()
    rejects: list[Reject] = []
    unlisted = 0
    if schema is None:
        tally.lines = sum(1 for _ in lines)
        tally.rejected = tally.lines
        return (
            tally.counts(),
            [Reject(line=0, field="(file)", reason="no service reads this source")],
            0,
        )
    digest = ports.hasher.digest if source == CREDIT_LIST_SOURCE else None
    batch: list[Delivered] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        tally.lines += 1
        checked = check_line(schema, text)
        key = checked.key if digest is None or checked.key is None else digest(checked.key)
        provenance = {"file": file, "line": number}
        if checked.accepted and key is not None and checked.version is not None:
            content = (
                {**(checked.record or {}), "loadedFrom": provenance}
                if digest is not None
                else {"record": checked.record, "loadedFrom": provenance}
            )
            batch.append(Delivered(key, checked.version, content))
        else:
            tally.rejected += 1
            for problem in checked.problems:
                if len(rejects) < REPORT_REJECTS:
                    rejects.append(Reject(line=number, field=problem.field, reason=problem.reason))
                else:
                    unlisted += 1
            if key is not None and checked.version is not None:
                fields = [p.field for p in checked.problems]
                batch.append(
                    Delivered(
                        key, checked.version, {REJECTED_MARK: {**provenance, "fields": fields}}
                    )
                )
        if len(batch) >= BATCH_LINES:
            _store(ports, source, batch, tally)
            batch = []
    _store(ports, source, batch, tally)
    return tally.counts(), rejects, unlisted


def _store(ports: IntakePorts, source: str, batch: list[Delivered], tally: _Tally) -> None:
    """Valid records counted as loaded or unchanged; refused ones' marks stored by the same
    version rule, counted as rejected already."""
    accepted = [d for d in batch if REJECTED_MARK not in d.content]
    if accepted:
        written = ports.records.write(source, accepted)
        tally.loaded += written.loaded
        tally.unchanged += written.unchanged
    marks = [d for d in batch if REJECTED_MARK in d.content]
    if marks:
        ports.records.write(source, marks)


def load_object(
    ports: IntakePorts, bucket: str, object_key: str, now: dt.datetime
) -> LoadReport | None:
    """Load one delivered file and write its report next to it; None: not a delivery."""
    source = source_of(object_key)
    if source is None:
        return None
    body = ports.s3.get_object(Bucket=bucket, Key=object_key)["Body"]
    counts, rejects, unlisted = load_lines(
        ports, source, object_key, _text_lines(body.iter_lines())
    )
    report = LoadReport(
        file=object_key,
        source=source,
        at=iso(now),
        counts=counts,
        rejects=rejects,
        rejectsNotListed=unlisted,
    )
    ports.s3.put_object(
        Bucket=bucket,
        Key=report_key(object_key),
        Body=json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"),
        ContentType="application/json",
    )
    if source in schemas():
        ports.loads.record(source, object_key, report["at"], counts)
    metrics.add_metric(name="RecordsLoaded", unit="Count", value=counts["loaded"])
    metrics.add_metric(name="RecordsRejected", unit="Count", value=counts["rejected"])
    logger.info("source file loaded", extra={"source": source, "file": object_key, **counts})
    return report


def _text_lines(raw: Iterable[bytes]) -> Iterator[str]:
    for line in raw:
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            yield ""  # counted by its number: the next line keeps its own


@dataclass(frozen=True, slots=True)
class Freshness:
    source: str
    last_load_at: str | None
    age_hours: float | None
    stale: bool
    last: SourceLoad | None


def freshness(loads_of: SourceLoads, now: dt.datetime, max_age_hours: float) -> list[Freshness]:
    """Every source the services read, with its last load and whether it is older than allowed
    (a source never loaded is stale)."""
    loads = loads_of.all()
    out: list[Freshness] = []
    for source in schemas():
        last = loads.get(source)
        at = last.get("lastLoadAt") if last else None
        age = (now - dt.datetime.fromisoformat(at)) / _HOUR if at else None
        out.append(Freshness(source, at, age, age is None or age > max_age_hours, last))
    return out


def check_freshness(ports: IntakePorts, now: dt.datetime, max_age_hours: float) -> list[str]:
    """The scheduled check: the stale sources, as a metric the alarm watches, and by name in the
    log (source names only)."""
    stale = [f.source for f in freshness(ports.loads, now, max_age_hours) if f.stale]
    metrics.add_metric(name="StaleSources", unit="Count", value=len(stale))
    if stale:
        logger.warning("sources not loaded recently", extra={"sources": stale})
    return stale
