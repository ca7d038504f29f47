"""A few hundred property-based cases per input surface (bench/bench_fuzz_inputs.py runs 10,000+):
everything either works or is one VlmPlannerError; rejected writes leave the catalog file as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("hypothesis", reason="the fuzz tests need hypothesis: pip install 'vlmplanner[test]'")

from vlmplanner.testing.fuzz import FuzzWorld, Tally, run_target

CASES = {"cli": 150, "Budget": 300, "Workload": 300, "Planner()": 60, "recommend()": 200, "add_result()": 200,
         "import_results_csv()": 120}


@pytest.fixture(scope="module")
def world() -> Iterator[FuzzWorld]:
    with FuzzWorld() as world:
        yield world


@pytest.mark.parametrize("target", list(CASES))
def test_no_input_escapes_as_anything_but_a_vlmplanner_error(world: FuzzWorld, target: str) -> None:
    tally = Tally()
    run_target(world, target, CASES[target], tally, raise_on_problem=True)
    assert tally.problems == []
    assert tally.cases[target] >= CASES[target] // 2  # hypothesis ran the cases (it may stop early on duplicates)
    assert 0 < tally.rejected[target] < tally.cases[target] or target in ("Planner()",), (
        f"{target}: every case was {'rejected' if tally.rejected[target] else 'accepted'}; the strategy is too narrow")
