"""`python -m infra.cli.sources`: the departments' sources, their last load and freshness.

Every source the published services read (from the rules data), with its last delivered file,
when it last loaded, its counts and whether it is stale (no load for `--max-age-hours`, the
template's SourceMaxAgeHours; the StaleSourcesAlarm fires on the same test):

    python -m infra.cli.sources --table miaopi-prod-ReferenceDataTable-XXXX
    python -m infra.cli.sources --json

`--table` defaults to $REFERENCE_TABLE (the functions' variable). AWS credentials and region
come from the environment (AWS_ENDPOINT_URL too, for moto). Exit status: 0 all fresh, 1 a
source is stale, 2 AWS failed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError
from miaopi_platform.intake.flow import Freshness, freshness
from miaopi_platform.intake.store import SourceLoads
from rich.console import Console
from rich.table import Table

app = typer.Typer(help=__doc__, add_completion=False)


def _row(f: Freshness) -> dict[str, object]:
    counts: dict[str, Any] = dict(f.last["lastCounts"].items()) if f.last else {}
    return {
        "source": f.source,
        "lastLoadAt": f.last_load_at,
        "ageHours": None if f.age_hours is None else round(f.age_hours, 1),
        "stale": f.stale,
        "lastFile": f.last["lastFile"] if f.last else None,
        **{k: counts.get(k) for k in ("lines", "loaded", "unchanged", "rejected")},
    }


@app.command()
def main(
    table: Annotated[str, typer.Option("--table", envvar="REFERENCE_TABLE")],
    max_age_hours: Annotated[float, typer.Option("--max-age-hours")] = 26,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List every source with its last load; exit 1 when one is stale."""
    loads = SourceLoads(boto3.client("dynamodb"), table)
    try:
        rows = [_row(f) for f in freshness(loads, dt.datetime.now(dt.UTC), max_age_hours)]
    except (BotoCoreError, ClientError) as exc:
        typer.echo(f"error: {type(exc).__name__}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        view = Table(
            "source",
            "last load",
            "age h",
            "stale",
            "lines",
            "loaded",
            "unchanged",
            "rejected",
            "last file",
        )
        for r in rows:
            view.add_row(
                *(
                    str("-" if r[k] is None else r[k])
                    for k in (
                        "source",
                        "lastLoadAt",
                        "ageHours",
                        "stale",
                        "lines",
                        "loaded",
                        "unchanged",
                        "rejected",
                        "lastFile",
                    )
                )
            )
        Console().print(view)
    if any(r["stale"] for r in rows):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
