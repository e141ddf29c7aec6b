"""The departments' loader: records checked and stored per second (docs/intake.md).

In process under moto.mock_aws with the tables of template.yaml: the synthetic data set's files
(infra/local/seed.py `source_files`, every source) loaded by `intake.flow.load_lines` once
(every record new) and again (every record unchanged: the re-delivery path). moto's in-process
DynamoDB dominates; on AWS a transaction of 100 items takes a few tens of milliseconds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

from tests.bench.bench_common import Section

ROOT = Path(__file__).resolve().parents[2]


def run_intake(quick: bool) -> Section:
    from moto import mock_aws

    section = Section("intake")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"
    import moto.dynamodb.models as dynamodb_models

    from infra.local import moto_server

    # moto copies every table on each transaction; the local stack's server does not
    # (infra/local/moto_server.py): the same here, as the integration tests' audit fixture does
    dynamodb_models.copy = moto_server._TablesNotCopied()  # type: ignore[assignment]
    dynamodb_models.DynamoDBBackend.transact_write_items = moto_server.transact_write_items  # type: ignore[method-assign]
    with mock_aws():
        from miaopi_platform.aws.settings import Settings
        from miaopi_platform.intake.flow import load_lines
        from miaopi_platform.wiring import IntakeDependencies

        from infra.local.deploy import AwsClients, deploy_in_process
        from infra.local.seed import generate, source_files

        deployment = deploy_in_process(ROOT / "template.yaml", "miaopi-bench")
        clients = AwsClients.create()
        env = deployment.functions["IntakeFunction"].environment
        ports = IntakeDependencies(
            Settings.from_env(env), dynamodb=clients.dynamodb, secrets=clients.secretsmanager
        )
        personas, _ = generate(dt.date.today(), copies=5 if quick else 20)
        files, _ = source_files(personas, version=1)
        texts = {s: [json.dumps(line) for line in lines] for s, lines in files.items()}
        rows = []
        for label in ("new", "unchanged"):
            records = 0
            started = time.perf_counter()
            for source, lines in texts.items():
                counts, _rejects, _ = load_lines(ports, source, f"{source}/bench.jsonl", lines)
                records += counts["loaded"] + counts["unchanged"]
            seconds = time.perf_counter() - started
            rate = records / seconds
            section.results[f"intake.records_per_s_{label}"] = round(rate)
            rows.append([label, records, f"{seconds:.1f}", f"{rate:,.0f}"])
        section.tables.append(("loader (moto in process)", ["records", "n", "s", "per s"], rows))
        section.notes.append(
            "intake: check_line + BatchGetItem of stored versions + one TransactWriteItems per "
            "100 new records; a re-delivery reads and writes nothing."
        )
    return section
