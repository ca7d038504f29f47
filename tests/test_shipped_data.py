"""The data in catalog/ is complete, consistent and sourced, and installs with the package."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from vlmplanner.store.shipped import load_shipped, shipped_catalog_dir

SHIPPED = load_shipped()
CATALOG = shipped_catalog_dir()

# Row counts of the published-result collections gathered in the project's reference notes
# (repo_scaling_grid_reasoning.csv, repo_scaling_grid_ocr.csv, paper_table1_quecc_v1.csv,
# compressor_results.csv): every row ships, none is dropped or added.
REFERENCE_ROWS = {
    "paper_scaling_grid_reasoning.csv": 28,
    "paper_scaling_grid_ocr.csv": 28,
    "paper_table1_quecc_v1.csv": 116,
    "compressor_results.csv": 1258,
}
#: Published rows gathered after the reference notes, one file per source.
ADDED_ROWS = {
    "qwen3_vl_tech_report.csv": 15,   # Qwen3-VL 2B/4B/8B-Instruct, unpruned (arXiv 2511.21631 Table 4)
    "gemma3_tech_report.csv": 6,      # Gemma 3 4B/27B IT, unpruned (arXiv 2503.19786 Table 16)
    "idpruner_angelslim.csv": 72,     # Qwen2.5-VL-7B-Instruct, 4 methods at 25% / 10% (arXiv 2602.13315 Table 1)
    "vtc_bench_table1.csv": 208,      # Qwen2-VL-7B-Instruct, 5 methods at 5 ratios (arXiv 2510.07143 Table 1)
}

REQUIRED_MODELS = {
    "llava-hf/llava-1.5-7b-hf", "llava-hf/llava-1.5-13b-hf", "llava-hf/llava-v1.6-mistral-7b-hf",
    "llava-hf/llava-v1.6-vicuna-7b-hf", "Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2-VL-7B-Instruct",
    "Qwen/Qwen2-VL-72B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct",
    "Qwen/Qwen2.5-VL-32B-Instruct", "Qwen/Qwen2.5-VL-72B-Instruct",
    *(f"paper-2411.03312/llava-next-qwen1.5-{s}" for s in ("0.5b", "1.8b", "4b", "7b", "14b")),
}


@pytest.mark.parametrize(("name", "rows"), sorted({**REFERENCE_ROWS, **ADDED_ROWS}.items()))
def test_every_reference_row_ships(name: str, rows: int) -> None:
    with (CATALOG / "results" / name).open(newline="", encoding="utf-8") as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == rows
    assert len([r for r in SHIPPED.results if r.source]) == sum(REFERENCE_ROWS.values()) + sum(ADDED_ROWS.values())


def test_required_models_are_present() -> None:
    assert REQUIRED_MODELS <= {m.checkpoint for m in SHIPPED.models}


def test_every_row_has_a_source() -> None:
    assert all(m.source for m in SHIPPED.models)
    assert all(c.source for c in SHIPPED.compressors)
    assert all(h.spec_source and h.price_source for h in SHIPPED.hardware)
    assert all(r.source for r in SHIPPED.results)


def test_hardware_profiles_are_usable_by_a_roofline() -> None:
    names = {h.name for h in SHIPPED.hardware}
    assert {"h100-sxm", "h200", "a100-80gb", "l40s", "l4", "cpu-generic"} <= names
    for profile in SHIPPED.hardware:
        assert profile.peak_bf16_tflops and profile.memory_bandwidth_gbs and profile.memory_gb
        assert profile.price_usd_per_hour


def test_every_method_in_the_results_is_a_compressor() -> None:
    names = {c.name for c in SHIPPED.compressors}
    assert {r.compressor for r in SHIPPED.results} <= names
    for required in ("none", "pool", "cls-topk", "visionzip", "divprune", "prumerge+", "fastv", "quecc",
                     "tokenpacker"):
        assert required in names
    in_llm = {c.name for c in SHIPPED.compressors if c.kind == "in-llm"}
    assert {"fastv", "pdrop", "sparsevlm", "dart"} <= in_llm


def test_paper_grid_is_the_repository_grid() -> None:
    grid = [r for r in SHIPPED.results if r.benchmark == "avg_visual_reasoning"]
    assert sorted({r.visual_tokens for r in grid}) == [1, 4, 16, 36, 64, 144, 576]
    by_key = {(r.model, r.visual_tokens): r.score for r in grid}
    # spot checks against scaling_law_code/values.py as quoted in the reference notes
    assert by_key[("paper-2411.03312/llava-next-qwen1.5-0.5b", 1)] == 0.3855
    assert by_key[("paper-2411.03312/llava-next-qwen1.5-7b", 576)] == 0.5354
    doubtful = [r for r in SHIPPED.results if "doubtful" in r.flags]
    assert len(doubtful) == 2 and all(r.benchmark == "avg_ocr_like" for r in doubtful)


def test_published_scores_are_kept_as_printed() -> None:
    with (CATALOG / "results" / "paper_table1_quecc_v1.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    mme = [r for r in rows if r["benchmark"] == "MME(P)" and r["compressor_label"] == "QueCC"]
    assert {r["score"] for r in mme} >= {"1269.1", "1390.3"}


def test_hf_configs_are_sourced() -> None:
    sources = CATALOG / "hf_configs" / "SOURCES.csv"
    with sources.open(newline="", encoding="utf-8") as handle:
        listed = {row["checkpoint"]: row for row in csv.DictReader(handle)}
    shipped = sorted((CATALOG / "hf_configs").glob("*/*/config.json"))
    assert shipped
    for path in shipped:
        checkpoint = f"{path.parent.parent.name}/{path.parent.name}"
        assert checkpoint in listed, f"{checkpoint} has no row in SOURCES.csv"
        json.loads(path.read_text())


def test_wheel_ships_the_catalog() -> None:
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"catalog" = "vlmplanner/_shipped_catalog"' in text
