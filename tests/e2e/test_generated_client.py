"""A client generated from the served OpenAPI document alone (openapi-python-client) builds and
submits an application, reads it back and reads an error: the document is enough to build a
working client, request bodies, headers, security and error objects included."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from tests.e2e.conftest import TIMEOUT_S, Api, new_key

pytestmark = pytest.mark.e2e

PACKAGE = "miaopi_generated_client"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
#: generation takes ~4 s here; a bound that catches a generator stuck on the document
GENERATE_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def generated(api: Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated into a temporary folder and importable from it."""
    folder = tmp_path_factory.mktemp("client")
    spec = folder / "openapi.json"
    spec.write_bytes(requests.get(f"{api.base_url}/openapi.json", timeout=TIMEOUT_S).content)
    config = folder / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter: the code runs as generated
    started = time.monotonic()
    command = [str(GENERATOR), "generate", "--path", str(spec), "--config", str(config)]
    subprocess.run(
        [*command, "--output-path", str(folder / PACKAGE), "--meta", "none"],
        check=True,
        capture_output=True,
        timeout=GENERATE_TIMEOUT_S,
    )
    print(f"\nclient generated in {time.monotonic() - started:.1f} s")
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_submits_an_application_and_reads_it_back(
    api: Api, generated: ModuleType
) -> None:
    # Given an elder's data (someone new in an approved persona's situation), the elder's token
    # and the generated client's own models
    persona, applicant = api.fresh_applicant(
        next(
            p
            for p in api.live_personas
            if p.service_id == "elderly-allowance" and p.expected_outcome == "APPROVED"
        )
    )
    data = persona.application
    models = module("models")
    application = models.ElderlyAllowanceApplication(
        id_number=data["idNumber"],
        name=data["name"],
        district=models.ElderlyAllowanceApplicationDistrictAppliedIn(data["district"]),
        bank_card_number=data["bankCardNumber"],
        bank_name=data["bankName"],
        phone=data["phone"],
    )
    client = generated.AuthenticatedClient(base_url=api.base_url, token=applicant.token)
    submit = module("api.applications.submit_elderly_allowance_application")
    # When it submits with an idempotency key
    answer = submit.sync_detailed(client=client, body=application, idempotency_key=new_key())
    # Then it is created and decided, parsed into the document's application view
    assert answer.status_code == 201, answer.content
    created = answer.parsed
    assert isinstance(created, models.ApplicationView)
    assert created.status.value == "APPROVED" == created.decision.outcome.value
    # And the application reads back through the generated client
    get = module("api.applications.get_application")
    read = get.sync(created.application_id, client=client)
    assert isinstance(read, models.ApplicationView)
    assert read.application_id == created.application_id


def test_a_generated_client_reads_errors_as_the_error_object(
    api: Api, generated: ModuleType
) -> None:
    # Given an elder's own application with the last character of the ID number changed
    data = next(p for p in api.live_personas if p.service_id == "elderly-allowance").application
    wrong = data["idNumber"][:-1] + ("0" if data["idNumber"][-1] != "0" else "1")
    models = module("models")
    application = models.ElderlyAllowanceApplication.from_dict({**data, "idNumber": wrong})
    elder = api.person(data["idNumber"], data["name"])
    client = generated.AuthenticatedClient(base_url=api.base_url, token=elder.token)
    submit = module("api.applications.submit_elderly_allowance_application")
    # When it is submitted, and when the queue is asked for without the reviewers' role
    invalid = submit.sync_detailed(client=client, body=application, idempotency_key=new_key())
    queue = module("api.reviews.list_reviews").sync_detailed(client=client)
    # Then both answers parse as the error object, with the field at fault named
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, models.ErrorBody)
    assert [d.field for d in invalid.parsed.error.details] == ["idNumber"]
    assert queue.status_code == 403 and isinstance(queue.parsed, models.ErrorBody)
    assert queue.parsed.error.code == "FORBIDDEN"
