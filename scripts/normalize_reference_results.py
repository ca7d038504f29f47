"""Normalize the published results gathered in the project's reference notes into catalog/results/.

A maintainer's tool, run once per refresh of the reference data; vlmplanner never runs it.
It renames nothing and computes nothing: every score is copied as printed, the names the source
printed are kept in the *_label columns, and every row keeps its source. What it adds is the mapping
from a source's names to catalog names (models, compressors, benchmarks) and flags for the caveats
the reference notes record.

Usage: python scripts/normalize_reference_results.py REFERENCE_DATA_DIR [CATALOG_DIR]
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

RESULT_COLUMNS = [
    "model", "model_label", "compressor", "compressor_label", "visual_tokens", "visual_tokens_label",
    "benchmark", "metric", "score", "task_family", "secondary", "flags", "note", "source",
]

# Base models as the sources name them -> catalog checkpoint (None: no single catalog model).
MODEL_MAP: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "LLaVA-1.5-7B": ("llava-hf/llava-1.5-7b-hf", ()),
    "LLaVA-1.5-13B": ("llava-hf/llava-1.5-13b-hf", ()),
    "LLaVA-NeXT-7B (vicuna)": ("llava-hf/llava-v1.6-vicuna-7b-hf", ()),
    "Qwen2-VL-7B-Instruct (inferred; figure does not name model)": ("Qwen/Qwen2-VL-7B-Instruct", ("model-inferred",)),
    "Qwen2.5-VL-7B-Instruct": ("Qwen/Qwen2.5-VL-7B-Instruct", ()),
    "LLaVA-1.5 (size not stated in source image)": (None, ("model-size-unstated",)),
    "LLaVA-1.5-7B recipe (Vicuna-7B), projector retrained": ("llava-hf/llava-1.5-7b-hf", ("retrained",)),
    "LLaVA-1.5-7B setting (VoCo-LLaMA retrained; its own 576-token upper bound)": ("llava-hf/llava-1.5-7b-hf", ("retrained",)),
    # The paper's Table 1: Vicuna-1.5-7B with the LLaVA-1.5 recipe.
    "vicuna-7b-v1.5": ("llava-hf/llava-1.5-7b-hf", ()),
    # The paper's scaling grid: LLaVA-NeXT on Qwen1.5, never released.
    "Qwen1.5-0.5B": ("paper-2411.03312/llava-next-qwen1.5-0.5b", ()),
    "Qwen1.5-1.8B": ("paper-2411.03312/llava-next-qwen1.5-1.8b", ()),
    "Qwen1.5-4B": ("paper-2411.03312/llava-next-qwen1.5-4b", ()),
    "Qwen1.5-7B": ("paper-2411.03312/llava-next-qwen1.5-7b", ()),
}

TRAINED = {"tokenpacker", "quecc", "m3", "mqt", "qformer-trained", "avgpool-trained",
           "avgpool-linear-trained", "pixel-shuffle-trained", "visionzip-ft", "voco-llama"}


def load_aliases(catalog: Path) -> dict[str, str]:
    aliases: dict[str, str] = {}
    with (catalog / "compressors.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            aliases[row["name"]] = row["name"]
            for alias in filter(None, (a.strip() for a in row["aliases"].split("|"))):
                aliases[alias] = row["name"]
    return aliases


def load_benchmarks(catalog: Path) -> dict[str, dict[str, str]]:
    with (catalog / "benchmarks.csv").open(newline="", encoding="utf-8") as handle:
        return {row["name"]: row for row in csv.DictReader(handle)}


def parse_tokens(label: str) -> tuple[int | None, tuple[str, ...]]:
    """A plain count, or a count the label states exactly with a qualifier; None otherwise."""
    if label.isdigit():
        return int(label), ()
    match = re.match(r"^(\d+) \((upper bound|max;)", label)
    if match:
        return int(match.group(1)), ("tokens-upper-bound",)
    match = re.match(r"^(\d+) \(\d+x\d+ grid\)$", label)
    if match:
        return int(match.group(1)), ()
    match = re.match(r"^(\d+) after layer (\d+)", label)
    if match:
        return int(match.group(1)), (f"pruned-after-layer-{match.group(2)}",)
    return None, ("tokens-not-a-count",)


def source_flags(source: str) -> tuple[bool, tuple[str, ...]]:
    secondary = "[secondary" in source
    flags: list[str] = []
    if "low confidence" in source or "provenance unverified" in source:
        flags.append("low-confidence")
    if "inferred" in source:
        flags.append("model-inferred")
    return secondary, tuple(flags)


def row(model_label: str, compressor_label: str, tokens_label: str, benchmark: str, score: str,
        source: str, *, aliases: dict[str, str], benchmarks: dict[str, dict[str, str]],
        extra_flags: tuple[str, ...] = (), note: str = "", secondary: bool = False) -> dict[str, str]:
    model, model_flags = MODEL_MAP[model_label]
    compressor = aliases[compressor_label]
    tokens, token_flags = parse_tokens(tokens_label)
    flags = list(model_flags) + list(token_flags) + list(extra_flags)
    if compressor in TRAINED and "retrained" not in flags and model is not None and "paper-2411.03312" not in model:
        flags.append("retrained")
    spec = benchmarks[benchmark]
    float(score)  # a score must be a number as printed; it is written back unchanged
    return {
        "model": model or "",
        "model_label": model_label,
        "compressor": compressor,
        "compressor_label": compressor_label,
        "visual_tokens": "" if tokens is None else str(tokens),
        "visual_tokens_label": tokens_label,
        "benchmark": benchmark,
        "metric": spec["metric"],
        "score": score,
        "task_family": spec["task_family"],
        "secondary": "true" if secondary else "false",
        "flags": "|".join(dict.fromkeys(flags)),
        "note": note,
        "source": source,
    }


def main(reference: Path, catalog: Path) -> None:
    aliases = load_aliases(catalog)
    benchmarks = load_benchmarks(catalog)
    out = catalog / "results"
    out.mkdir(exist_ok=True)
    written: dict[str, list[dict[str, str]]] = {}

    for kind, benchmark in (("reasoning", "avg_visual_reasoning"), ("ocr", "avg_ocr_like")):
        rows = []
        with (reference / f"repo_scaling_grid_{kind}.csv").open(newline="", encoding="utf-8") as handle:
            for src in csv.DictReader(handle):
                flags = ("doubtful",) if "UNCERTAIN" in src["note"] else ()
                rows.append(row(src["llm"], src["compressor"], src["visual_tokens"], benchmark, src["score"],
                                src["source"], aliases=aliases, benchmarks=benchmarks, extra_flags=flags,
                                note=f"benchmark as the source describes it: {src['benchmark']}; {src['note']}"))
        written[f"paper_scaling_grid_{kind}.csv"] = rows

    rows = []
    with (reference / "paper_table1_quecc_v1.csv").open(newline="", encoding="utf-8") as handle:
        for src in csv.DictReader(handle):
            benchmark = "MME(P)" if src["benchmark"] == "MME" else src["benchmark"]
            flags = ("approximate-tokens",) if src["note"].startswith("token count reported as ~") else ()
            marker = f"table marker '{src['marker_raw']}' (meaning uncertain: other-method result or best/second)" if src["marker_raw"] else ""
            note = "; ".join(filter(None, [src["note"], marker, "benchmark printed as MME (perception score)" if src["benchmark"] == "MME" else ""]))
            rows.append(row(src["llm"], src["compressor"], src["visual_tokens"], benchmark, src["score"],
                            src["source"], aliases=aliases, benchmarks=benchmarks, extra_flags=flags, note=note,
                            secondary=False))
    written["paper_table1_quecc_v1.csv"] = rows

    rows = []
    with (reference / "compressor_results.csv").open(newline="", encoding="utf-8") as handle:
        for src in csv.DictReader(handle):
            secondary, flags = source_flags(src["source"])
            benchmark = src["benchmark"]
            if benchmark == "OCRBench" and src["source"].startswith("MMTok"):
                benchmark = "OCRBench(%)"  # MMTok prints OCRBench as a percentage; DART out of 1000
            rows.append(row(src["base_model"], src["method"], src["visual_tokens_kept"], benchmark,
                            src["score"], src["source"], aliases=aliases, benchmarks=benchmarks,
                            extra_flags=flags, secondary=secondary,
                            note="benchmark printed as OCRBench (a percentage)" if benchmark != src["benchmark"] else ""))
    written["compressor_results.csv"] = rows

    for name, rows in written.items():
        with (out / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else Path(__file__).resolve().parents[1] / "catalog")
