"""200 services on the local stack: a generated catalogue (the seeds and synthetic copies of
them, infra/deploy/services) started as `make run` starts template.yaml, then used over HTTP.

The copies are outside the published rules: their rules layer is the catalogue's own, which the
stack's functions load as Lambda would load the layer the catalogue's template names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.deploy import services as gen
from tests.e2e.conftest import Api, running_api

COUNT = 200


@pytest.fixture(scope="module")
def catalogue_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, gen.Layout]]:
    layout = gen.catalogue(COUNT, tmp_path_factory.mktemp("catalogue") / "catalogue")
    with running_api(tmp_path_factory.mktemp("catalogue-stack"), layout.template) as api:
        yield api, layout


def copies_of(layout: gen.Layout, seed: str) -> list[str]:
    return sorted(p.name for p in Path(layout.services_dir).glob(f"{seed}-copy-*"))


def test_the_stack_of_200_services_lists_them_all(catalogue_api: tuple[Api, gen.Layout]) -> None:
    # Given the local stack started with the 200-service catalogue
    api, _layout = catalogue_api

    # When a citizen reads the service catalogue
    answer = api.client("citizen").get("/services")

    # Then all 200 are offered, the synthetic copies marked as such
    assert answer.status == 200, answer.text
    items = answer.body["items"]
    assert len(items) == COUNT
    copies = [i for i in items if "-copy-" in i["serviceId"] and "合成" in i["name"]["zh"]]
    assert len(copies) == COUNT - len(gen.read_services(gen.DEFAULT_LAYOUT.services_dir))


def test_a_synthetic_copy_decides_as_its_seed_does(catalogue_api: tuple[Api, gen.Layout]) -> None:
    # Given the stack of 200 services, and someone new in the situation of an elderly-allowance
    # persona who is approved
    api, layout = catalogue_api
    persona = next(
        p
        for p in api.live_personas
        if p.service_id == "elderly-allowance" and p.expected_outcome == "APPROVED"
    )
    persona, client = api.fresh_applicant(persona)
    last_copy = copies_of(layout, "elderly-allowance")[-1]

    # When they apply to the last copy of the service (its own function, stack and route)
    answer = client.submit(last_copy, persona.application)

    # Then it is decided at once, as the seed service would decide it, for that service
    assert answer.status == 201, answer.text
    assert answer.body["serviceId"] == last_copy
    assert answer.body["status"] == "APPROVED"


def test_a_copy_s_route_is_behind_the_identity_provider(
    catalogue_api: tuple[Api, gen.Layout],
) -> None:
    # Given the stack of 200 services, and the route of a service from a nested stack
    api, layout = catalogue_api
    route = copies_of(layout, "graduate-hukou")[0]

    # When someone not signed in submits to it
    answer = api.client(None).submit(route, {"idNumber": "x"})

    # Then the gateway refuses before any function runs
    assert answer.status == 401, answer.text
    assert answer.body["error"]["code"] == "UNAUTHORIZED"
