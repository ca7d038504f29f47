"""scripts/compressor_coverage.py: its numbers follow from the shipped catalog and the registry."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from vlmplanner.compressors import list_compressors, resolve_name
from vlmplanner.errors import UnknownCompressorError
from vlmplanner.pipeline.runnable import runnability
from vlmplanner.store.shipped import load_shipped

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compressor_coverage.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compressor_coverage", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


def _runs(slug: str) -> bool:
    try:
        return resolve_name(slug) in list_compressors()
    except UnknownCompressorError:
        return False


def test_main_prints_the_table_and_totals(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    found = script.main([])
    out = capsys.readouterr().out
    rows = load_shipped().results
    assert found.total == len(rows) and f"published rows: {len(rows)}" in out
    assert {c.slug: c.rows for c in found.compressors} == Counter(r.compressor for r in rows)
    assert sum(c.rows for c in found.compressors) == found.total
    for c in found.compressors:
        assert c.implemented_before == (c.slug in script.BEFORE_ISSUE_10)
        assert c.implemented_after == _runs(c.slug), c.slug
        assert c.row_runnable_rows <= c.pair_runnable_rows <= c.rows
        assert c.pair_runnable_rows == 0 or c.implemented_after
        assert c.slug in out
    assert found.implemented_before == sum(1 for r in rows if r.compressor in script.BEFORE_ISSUE_10)
    assert found.implemented_after == sum(1 for r in rows if _runs(r.compressor))
    assert found.implemented_before <= found.implemented_after      # nothing the SDK ran was dropped
    assert found.pair_runnable_before <= found.pair_runnable_after <= found.implemented_after
    assert found.row_runnable_after <= found.pair_runnable_after
    before, after = found.before_share, found.after_share
    assert f"({100 * before:.1f}%)" in out and f"({100 * after:.1f}%)" in out
    assert ("target 80% met" in out) == (after >= 0.80)


def test_row_runnable_is_the_runnability_of_each_published_row(script: ModuleType) -> None:
    found = script.coverage()
    models = {m.checkpoint: m for m in load_shipped().models}
    expected = sum(1 for r in load_shipped().results
                   if r.model in models and r.visual_tokens and _runs(r.compressor)
                   and runnability(models[r.model], r.compressor, r.visual_tokens).runnable)
    assert found.row_runnable_after == expected


def test_json_output(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    found = script.main(["--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["total"] == found.total and data["implemented_after"] == found.implemented_after
    assert data["before_compressors"] == list(script.BEFORE_ISSUE_10)


def test_a_registry_of_the_eight_gives_the_before_figure(script: ModuleType) -> None:
    found = script.coverage(registered=script.BEFORE_ISSUE_10)
    assert found.implemented_after == found.implemented_before
