"""Write tests/fixtures/catalog-<version>.sqlite3: a catalog made by this release, kept forever.

Later releases' tests upgrade a copy of it and check no row was lost. Run once per release that
changes the schema (or ships new data); never edit an existing fixture.

Usage: python scripts/make_release_fixture.py
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from vlmplanner import __version__
from vlmplanner.schemas import CostMeasurement, ResultIn
from vlmplanner.store import open_catalog

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"

USER_RESULTS = [
    ResultIn(model="llava-hf/llava-1.5-7b-hf", compressor="pool", visual_tokens=144, benchmark="GQA",
             score=58.25, source="release fixture: a user's measured result", device="cpu", dtype="float32",
             versions={"vlmplanner": __version__}),
    ResultIn(model="Qwen/Qwen2-VL-7B-Instruct", compressor="visionzip", visual_tokens=64, benchmark="TextVQA",
             score=61.5, source="release fixture: an imported result", provenance="imported"),
]


def main() -> None:
    path = FIXTURES / f"catalog-{__version__}.sqlite3"
    if path.exists():
        raise SystemExit(f"{path} exists; fixtures are never rewritten")
    FIXTURES.mkdir(parents=True, exist_ok=True)
    with open_catalog(f"sqlite:///{path}") as catalog:
        stored = catalog.add_results(USER_RESULTS)
        catalog.add_cost_measurement(CostMeasurement(
            candidate_key="llava-hf/llava-1.5-7b-hf+pool@144", method="measured", device="cpu", dtype="float32",
            text_tokens=50, prefill_ms=1234.5, peak_memory_bytes=15_000_000_000, flops={"llm_blocks": 2.1e12},
        ))
        expected = {
            "version": __version__,
            "schema": catalog.schema_revision(),
            "counts": catalog.counts(),
            "user_results": [[r.model_label, r.compressor_label, r.visual_tokens_label, r.benchmark, r.source, r.score]
                             for r in stored],
        }
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.execute("VACUUM")
    connection.close()
    path.with_suffix(".json").write_text(json.dumps(expected, indent=2) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes): {expected['counts']}")


if __name__ == "__main__":
    main()
