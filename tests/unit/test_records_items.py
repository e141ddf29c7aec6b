"""The stored items' types agree with the decision core: every outcome it decides can be
stored, under its own name (a submit must never fail on an outcome records cannot hold)."""

from __future__ import annotations

from typing import get_args

from miaopi import model
from miaopi_platform.records import items
from miaopi_platform.records.decision import stored_outcome


def test_every_outcome_the_rules_decide_is_stored_under_its_own_name() -> None:
    # Given every outcome the decision core can give
    outcomes = list(model.Outcome)
    # When records store them
    stored = [stored_outcome(o) for o in outcomes]
    # Then each keeps its name, and the stored type names exactly these
    assert stored == [o.value for o in outcomes]
    assert set(stored) == set(get_args(items.Outcome))
