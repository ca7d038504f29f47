"""The catalog store, run on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmplanner.errors import (
    CsvFormatError,
    InvalidTokenCountError,
    ScoreOutOfRangeError,
    UnknownBenchmarkError,
    UnknownCompressorError,
    UnknownModelError,
    ValidationError,
)
from vlmplanner.schemas import ModelSpec, QualityResult, ResultIn
from vlmplanner.store import Catalog, open_catalog
from vlmplanner.store.shipped import load_shipped

SHIPPED = load_shipped()


def good_result(**overrides: object) -> ResultIn:
    fields: dict[str, object] = {
        "model": "llava-hf/llava-1.5-7b-hf", "compressor": "pool", "visual_tokens": 144, "benchmark": "GQA",
        "score": 58.25, "source": "unit test run",
    }
    fields.update(overrides)
    return ResultIn.model_validate(fields)


def test_first_open_creates_and_seeds(catalog: Catalog) -> None:
    counts = catalog.counts()
    assert counts["models"] == len(SHIPPED.models)
    assert counts["compressors"] == len(SHIPPED.compressors)
    assert counts["hardware"] == len(SHIPPED.hardware)
    assert counts["benchmarks"] == len(SHIPPED.benchmarks)
    assert counts["results"] == len(SHIPPED.results)
    assert catalog.meta()["shipped_digest"] == SHIPPED.digest


def test_seeding_twice_changes_nothing(catalog: Catalog) -> None:
    before = catalog.results()
    meta = catalog.meta()
    report = catalog.seed()
    assert not report.changed
    assert report.unchanged["results"] == len(SHIPPED.results)
    assert catalog.results() == before
    assert catalog.meta() == meta


def test_reopen_does_not_reseed_or_duplicate(catalog_url: str) -> None:
    with open_catalog(catalog_url) as first:
        first.add_result(good_result())
        counts = first.counts()
    with open_catalog(catalog_url) as second:
        assert second.counts() == counts


def test_seed_never_overwrites_a_users_row_and_reports_the_conflict(catalog: Catalog) -> None:
    original = catalog.model("llava-hf/llava-1.5-7b-hf")
    edited = original.model_copy(update={"display_name": "edited"})
    catalog.add_model(edited)
    report = catalog.seed()
    assert report.updated["models"] == 0
    assert report.conflicts == {"models": ["llava-hf/llava-1.5-7b-hf"]}
    assert catalog.model("llava-hf/llava-1.5-7b-hf") == edited
    assert catalog.seed().conflicts == report.conflicts  # still reported, still kept
    taken = catalog.seed(take_shipped=True)
    assert taken.updated["models"] == 1 and not taken.conflicts
    assert catalog.model("llava-hf/llava-1.5-7b-hf") == original
    assert not catalog.seed().changed  # the row is the shipped one again


def test_seed_leaves_a_users_identical_row_and_its_own_rows(catalog: Catalog) -> None:
    catalog.add_model(catalog.model("llava-hf/llava-1.5-7b-hf"))  # re-registered, same numbers
    catalog.add_result(good_result())
    report = catalog.seed()
    assert not report.changed and not report.conflicts


def test_seed_reports_a_users_result_under_a_shipped_key(catalog: Catalog, tmp_path: Path) -> None:
    """A later release that ships a result a user had already added (same model, compressor,
    tokens, benchmark and source) leaves the user's score and reports it."""
    import csv
    import shutil

    from vlmplanner.store.shipped import shipped_catalog_dir

    mine = catalog.add_result(good_result(provenance="published", source="Some paper, Table 2"))
    release = tmp_path / "next-release"
    shutil.copytree(shipped_catalog_dir(), release)
    with (release / "results" / "compressor_results.csv").open("a", newline="") as handle:
        csv.writer(handle).writerow([mine.model, mine.model_label, mine.compressor, mine.compressor_label,
                                     mine.visual_tokens, mine.visual_tokens_label, "GQA", mine.metric, 57.0,
                                     mine.task_family, "false", "", "", mine.source])
    report = catalog.seed(release)
    assert report.conflicts == {"results": [f"{mine.model} / pool / 144 / {mine.source}"]} or (
        list(report.conflicts) == ["results"] and mine.source in report.conflicts["results"][0])
    assert report.inserted["results"] == 0
    assert [r.score for r in catalog.results() if r.id == mine.id] == [58.25]
    assert catalog.seed(release, take_shipped=True).updated["results"] == 1
    assert [r.score for r in catalog.results() if r.id == mine.id] == [57.0]


def test_rows_leave_as_schemas(catalog: Catalog) -> None:
    models = catalog.models()
    assert models and all(isinstance(m, ModelSpec) for m in models)
    results = catalog.results(limit=5)
    assert len(results) == 5 and all(isinstance(r, QualityResult) for r in results)
    assert all(r.source for r in catalog.results())


def test_filters(catalog: Catalog) -> None:
    grid = catalog.results(benchmark="avg_visual_reasoning")
    assert len(grid) == 28
    assert {r.model for r in grid} == {
        f"paper-2411.03312/llava-next-qwen1.5-{size}" for size in ("0.5b", "1.8b", "4b", "7b")
    }
    seven_b = catalog.results(model="paper-2411.03312/llava-next-qwen1.5-7b", benchmark="avg_visual_reasoning",
                              visual_tokens=576)
    assert [r.score for r in seven_b] == [0.5354]
    assert all(r.task_family == "ocr-text" for r in catalog.results(task_family="ocr-text"))
    assert catalog.models(family="qwen2_vl") and all(m.model_type == "qwen2_vl" for m in catalog.models(family="qwen2_vl"))


def test_compressor_aliases_resolve(catalog: Catalog) -> None:
    assert catalog.compressor("FasterVLM").name == "cls-topk"
    assert catalog.compressor("VisionZip").name == "visionzip"
    by_alias = catalog.results(compressor="FasterVLM")
    assert by_alias and by_alias == catalog.results(compressor="cls-topk")


def test_add_result_is_idempotent_and_updates(catalog: Catalog) -> None:
    before = catalog.counts()["results"]
    stored = catalog.add_result(good_result())
    assert stored.candidate_key == "llava-hf/llava-1.5-7b-hf+pool@144"
    assert stored.provenance == "measured" and stored.task_family == "visual-reasoning"
    again = catalog.add_result(good_result(score=58.5))
    assert again.id == stored.id and again.score == 58.5
    assert catalog.counts()["results"] == before + 1


@pytest.mark.parametrize(
    ("overrides", "error", "field"),
    [
        ({"model": "llava-hf/llava-1.5-7b"}, UnknownModelError, "model"),
        ({"compressor": "visonzip"}, UnknownCompressorError, "compressor"),
        ({"benchmark": "GQAA"}, UnknownBenchmarkError, "benchmark"),
        ({"visual_tokens": 0}, InvalidTokenCountError, "visual_tokens"),
        ({"visual_tokens": -4}, InvalidTokenCountError, "visual_tokens"),
        ({"score": 101.0}, ScoreOutOfRangeError, "score"),
        ({"benchmark": "MME(P)", "score": 2100.0}, ScoreOutOfRangeError, "score"),
    ],
)
def test_bad_results_are_rejected_and_nothing_written(
    catalog: Catalog, overrides: dict[str, object], error: type[Exception], field: str
) -> None:
    before = catalog.counts()
    batch = [good_result(visual_tokens=64), good_result(**overrides)]
    with pytest.raises(error) as caught:
        catalog.add_results(batch)
    assert caught.value.field == field
    assert catalog.counts() == before


def test_unknown_names_suggest(catalog: Catalog) -> None:
    with pytest.raises(UnknownModelError, match="did you mean 'llava-hf/llava-1.5-7b-hf'"):
        catalog.model("llava-hf/llava-1.5-7b")
    with pytest.raises(UnknownCompressorError, match="did you mean 'visionzip'"):
        catalog.results(compressor="visonzip")


def test_nan_score_is_a_validation_error() -> None:
    from vlmplanner.schemas import build

    with pytest.raises(ValidationError, match="score"):
        build(ResultIn, model="m", compressor="c", visual_tokens=4, benchmark="GQA", score=float("nan"), source="s")


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("model,compressor,visual_tokens,benchmark,score,source\n" + "\n".join(rows) + "\n")
    return path


def test_csv_import_all_or_nothing(catalog: Catalog, tmp_path: Path) -> None:
    before = catalog.counts()
    bad = write_csv(tmp_path / "bad.csv", [
        "llava-hf/llava-1.5-7b-hf,pool,16,GQA,50.1,my run",
        "llava-hf/llava-1.5-7b-hf,pool,4,GQA,4000,my run",
        "llava-hf/llava-1.5-7b-hf,pool,1,GQA,40.0,my run",
    ])
    with pytest.raises(CsvFormatError) as caught:
        catalog.import_results_csv(bad)
    assert "bad.csv, line 3" in str(caught.value)
    assert catalog.counts() == before

    malformed = tmp_path / "malformed.csv"
    malformed.write_text("model,compressor,visual_tokens,benchmark,score,source\nllava-hf/llava-1.5-7b-hf,pool,16\n")
    with pytest.raises(CsvFormatError, match="malformed.csv, line 2"):
        catalog.import_results_csv(malformed)
    not_int = write_csv(tmp_path / "tokens.csv", ["llava-hf/llava-1.5-7b-hf,pool,many,GQA,50,my run"])
    with pytest.raises(CsvFormatError, match="tokens.csv, line 2: visual_tokens"):
        catalog.import_results_csv(not_int)
    assert catalog.counts() == before

    good = write_csv(tmp_path / "good.csv", [
        "llava-hf/llava-1.5-7b-hf,pool,16,GQA,50.1,my run",
        "llava-hf/llava-1.5-7b-hf,pool,4,GQA,45.0,my run",
    ])
    stored = catalog.import_results_csv(good)
    assert [r.visual_tokens for r in stored] == [16, 4]
    assert all(r.provenance == "imported" for r in stored)
    assert catalog.counts()["results"] == before["results"] + 2


def test_add_benchmark_refuses_a_range_that_strands_scores(catalog: Catalog) -> None:
    gqa = catalog.benchmark("GQA")
    with pytest.raises(ScoreOutOfRangeError):
        catalog.add_benchmark(gqa.model_copy(update={"max_score": 10.0}))
    assert catalog.benchmark("GQA") == gqa


def test_cost_measurement_round_trip(catalog: Catalog) -> None:
    from vlmplanner.schemas import CostMeasurement

    measurement = CostMeasurement(
        candidate_key="llava-hf/llava-1.5-7b-hf+pool@144", method="measured", device="cpu", dtype="float32",
        flops={"llm_blocks": 1.0e12}, prefill_ms=12.5, peak_memory_bytes=150_000_000_000,
    )
    catalog.add_cost_measurement(measurement)
    catalog.add_cost_measurement(measurement.model_copy(update={"prefill_ms": 11.0}))
    stored = catalog.cost_measurements(candidate_key=measurement.candidate_key)
    assert len(stored) == 1 and stored[0].prefill_ms == 11.0
    assert stored[0].peak_memory_bytes == 150_000_000_000


def test_scaling_fit_round_trip(catalog: Catalog) -> None:
    fit = {"alpha": 0.077, "beta": 0.015, "n_points": 28, "loo_mae_points": 0.4, "A": 0.55, "D": 0.03}
    stored = catalog.save_scaling_fit(family="llava_next:Qwen1.5", compressor="TokenPacker",
                                      benchmark="avg_visual_reasoning", data_digest="abc", fit=fit)
    assert stored.compressor == "tokenpacker" and stored.alpha == 0.077 and stored.fit == fit
    again = catalog.save_scaling_fit(family="llava_next:Qwen1.5", compressor="tokenpacker",
                                     benchmark="avg_visual_reasoning", data_digest="def", fit={**fit, "alpha": 0.08})
    mine = catalog.scaling_fits(family="llava_next:Qwen1.5", benchmark="avg_visual_reasoning")
    assert [f.data_digest for f in mine] == ["def"] and again.alpha == 0.08


def test_upgrading_the_previous_schema_keeps_every_row(catalog_url: str) -> None:
    """Create the catalog at the first revision, fill it, upgrade to head: nothing is lost."""
    from vlmplanner.store import migrate
    from vlmplanner.store.engine import make_engine

    engine = make_engine(catalog_url)
    with engine.connect().execution_options(vlmplanner_write=True) as connection, connection.begin():
        migrate._migrate(connection, migrate.known_revisions()[0])
    with pytest.raises(Exception, match="catalog upgrade"):
        open_catalog(catalog_url)
    migrate.upgrade(engine)
    engine.dispose()
    with open_catalog(catalog_url) as upgraded:
        assert upgraded.schema_revision() == migrate.HEAD_REVISION
        assert upgraded.counts()["results"] == len(SHIPPED.results)
