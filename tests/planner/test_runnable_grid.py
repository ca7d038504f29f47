"""A grid of realistic queries: every default recommendation is runnable, and runs.

The grid is a product of tasks (task families, single benchmarks, a mix), budgets on shipped
hardware (FLOPs, end-to-end and prefill latency, memory, money), workloads (text and output tokens,
image sizes, batch) and, for a few tasks, a compressor filter. For every query the default
recommendation (``include="runnable"``) must be runnable. Each distinct recommended key is then
instantiated once through ``rec.instantiate(checkpoint=DIR, architecture="tokens")`` on a tiny
random-weight model of its family that keeps the catalog model's vision geometry (image size,
patch size, LLaVA-NeXT's pinpoints, Qwen's merge), so its native token count is the planner's;
it must generate, and the LLM must receive exactly the recommended number of visual tokens per
image: k for a pre-LLM compressor (LLaVA-NeXT: k / C per crop for the image's c crops, plus one
newline token per feature row), the native count for ``none``, and for an in-LLM compressor every
token before its layer K and k on average over layers K..L-1.
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _extras import TORCH_STACK, need, requires_torch

from vlmplanner.compressors import compressor_card
from vlmplanner.cost import visual_tokens_per_image
from vlmplanner.errors import VlmPlannerError
from vlmplanner.pipeline.runnable import runnability
from vlmplanner.planner import Planner, Recommendation
from vlmplanner.schemas import Budget, ModelSpec, Workload

TASKS = ("visual-reasoning", "ocr-text", "GQA", "TextVQA", "MME(P)", "POPE", "MMBench", "GQA:1,TextVQA:1")
#: (hardware profile, budget): every kind of limit, on five of the shipped profiles
SCENARIOS: tuple[tuple[str, Budget], ...] = (
    ("h100-sxm", Budget(gflops=5000)),
    ("h100-sxm", Budget(latency_ms=500)),
    ("l4", Budget(memory_gb=20)),
    ("a100-80gb", Budget(usd_per_1k_requests=0.5)),
    ("l40s", Budget(latency_ms=100, latency_kind="prefill")),
    ("h200", Budget(gflops=20000, memory_gb=40)),
)
WORKLOADS = (
    Workload(text_tokens=50),
    Workload(text_tokens=200, output_tokens=64, image_size=(672, 672), batch_size=4),
    Workload(text_tokens=20, output_tokens=16, image_size=(480, 640)),
)
#: a user who asks for one compressor: in-LLM ones (PyramidDrop, DART) and merging / text-conditioned
FILTERED_TASKS = ("GQA", "TextVQA", "POPE", "visual-reasoning")
COMPRESSOR_FILTERS = ("pdrop", "dart", "trim", "divprune")


@dataclass(frozen=True)
class Query:
    task: str
    hardware: str
    budget: Budget
    workload: Workload
    compressor: str | None = None

    def __str__(self) -> str:
        limits = self.budget.model_dump(exclude_none=True)
        return (f"{self.task} on {self.hardware} within {limits}, {self.workload.model_dump(exclude_none=True)}"
                + (f", compressor={self.compressor}" if self.compressor else ""))


GRID: tuple[Query, ...] = (
    *(Query(task, hardware, budget, workload)
      for task, (hardware, budget), workload in itertools.product(TASKS, SCENARIOS, WORKLOADS)),
    *(Query(task, SCENARIOS[0][0], SCENARIOS[0][1], WORKLOADS[0], compressor)
      for task, compressor in itertools.product(FILTERED_TASKS, COMPRESSOR_FILTERS)),
)


@dataclass
class Answer:
    query: Query
    rec: Recommendation | None
    error: str = ""


@dataclass
class KeyGroup:
    """Every query whose recommendation is one key."""

    rec: Recommendation
    queries: list[Query] = field(default_factory=list)


@pytest.fixture(scope="module")
def answers(planner_url: str) -> list[Answer]:
    """The default recommendation of every query in the grid (or the error it raised)."""
    planners: dict[str, Planner] = {}
    found = []
    try:
        for query in GRID:
            planner = planners.setdefault(query.hardware, Planner(planner_url, hardware=query.hardware))
            try:
                with warnings.catch_warnings():  # a predicted, extrapolated choice warns; not a failure here
                    warnings.simplefilter("ignore")
                    found.append(Answer(query, planner.recommend(
                        task=query.task, budget=query.budget, workload=query.workload, compressor=query.compressor)))
            except VlmPlannerError as error:
                found.append(Answer(query, None, f"{type(error).__name__}: {error}"))
    finally:
        for planner in planners.values():
            planner.close()
    return found


def groups(answers: list[Answer]) -> dict[str, KeyGroup]:
    by_key: dict[str, KeyGroup] = {}
    for answer in answers:
        if answer.rec is None:
            continue
        by_key.setdefault(answer.rec.key, KeyGroup(answer.rec)).queries.append(answer.query)
    return by_key


def test_every_default_recommendation_is_runnable(answers: list[Answer]) -> None:
    assert len(answers) == len(GRID) >= 50
    failed = [f"{answer.query}: {answer.error}" for answer in answers if answer.rec is None]
    assert not failed, "every query of the grid has a recommendation:\n" + "\n".join(failed)
    keys = groups(answers)
    print(f"\n{len(answers)} queries, {len(keys)} distinct recommended keys: {', '.join(sorted(keys))}")
    assert len(keys) >= 5, f"the grid is degenerate: {sorted(keys)}"
    families = {group.rec.model.model_type for group in keys.values()}
    kinds = {compressor_card(group.rec.candidate.compressor).kind for group in keys.values()}
    assert len(families) >= 2 and kinds == {"pre-llm", "in-llm"}, (families, kinds)
    for answer in answers:
        rec = answer.rec
        assert rec is not None
        assert rec.include == "runnable" and rec.runnable.runnable, (str(answer.query), rec.key, rec.runnable)
        assert rec.runnable_alternative is None and "What-if" not in rec.reason
        native = visual_tokens_per_image(rec.model, answer.query.workload.image_size)
        again = runnability(rec.model, rec.candidate.compressor, rec.candidate.tokens_for(native),
                            share=rec.candidate.share)
        assert again.runnable, (str(answer.query), rec.key, again.reasons)  # the same checks, asked afresh
        assert json.loads(rec.model_dump_json())["runnable"] == {"runnable": True, "reasons": []}


def test_a_grid_rule_is_checked_on_the_workload_image_where_the_grid_follows_it() -> None:
    """Qwen's merged grid follows the image: pool@64 tiles the 16x16 grid of a 448x448 image, not
    the 16x24 one of a 448x672 image, which generate() would refuse; LLaVA's grid is fixed."""
    from vlmplanner.pipeline.runnable import RunnabilityChecker
    from vlmplanner.store.shipped import load_shipped

    models = {m.checkpoint: m for m in load_shipped().models}
    qwen, llava = models["Qwen/Qwen2-VL-7B-Instruct"], models["llava-hf/llava-1.5-7b-hf"]
    assert RunnabilityChecker()(qwen, "pool", 64).runnable
    assert RunnabilityChecker(image_size=(448, 448))(qwen, "pool", 64).runnable
    wide = RunnabilityChecker(image_size=(448, 672))
    found = wide(qwen, "pool", 64)
    assert not found.runnable and "16x24" in found.reasons[0] and "448x672" in found.reasons[0]
    assert wide(qwen, "pool", 96).runnable and wide(qwen, "divprune", 64).runnable
    assert wide(llava, "pool", 64).runnable


# -- instantiating each key on a tiny model ---------------------------------------------------------
#: LLM layers of a tiny stand-in: enough that an in-LLM compressor's layer K leaves two layers after it
MIN_LLM_LAYERS = 3


def _shipped_config(spec: ModelSpec) -> dict[str, Any]:
    """The catalog model's config.json as shipped (catalog/hf_configs), or {} when none is."""
    from vlmplanner.store.shipped import shipped_catalog_dir

    path = shipped_catalog_dir() / "hf_configs" / spec.checkpoint / "config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _vision_geometry(spec: ModelSpec) -> dict[str, Any]:
    """build_tiny overrides that give the tiny model the catalog model's visual-token geometry."""
    config = _shipped_config(spec)
    vision = config.get("vision_config") or {}
    if spec.model_type.startswith("qwen"):
        merge = vision.get("spatial_merge_size", spec.vision.spatial_merge_size or 2)
        return {"vision_config": {"patch_size": spec.vision.patch_size, "spatial_merge_size": merge}}
    overrides: dict[str, Any] = {"vision_config": {"image_size": spec.vision.image_size,
                                                   "patch_size": spec.vision.patch_size}}
    for name in ("vision_feature_select_strategy", "image_grid_pinpoints"):
        if name in config:
            overrides[name] = config[name]
    return overrides


class TinyCheckpoints:
    """One saved tiny stand-in per (catalog model, LLM layers), built on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.saved: dict[tuple[str, int], tuple[Path, Any]] = {}

    def get(self, spec: ModelSpec, layers: int) -> tuple[Path, Any]:
        key = (spec.checkpoint, layers)
        if key not in self.saved:
            from vlmplanner import compat
            from vlmplanner.families import get_family

            overrides = _vision_geometry(spec)
            tiny = get_family(spec.model_type).build_tiny(
                seed=0, text_config={"num_hidden_layers": layers, "max_position_embeddings": 8192}, **overrides)
            directory = self.root / f"{spec.checkpoint.replace('/', '--')}-{layers}"
            with compat.quiet_hf():
                tiny.model.save_pretrained(directory)
                tiny.processor.save_pretrained(directory)
            self.saved[key] = (directory, tiny)
        return self.saved[key]


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> TinyCheckpoints:
    need(*TORCH_STACK)
    return TinyCheckpoints(tmp_path_factory.mktemp("grid-tiny"))


@pytest.fixture(scope="module")
def recorder_class() -> Iterator[type]:
    """tests/pipeline's LLMRecorder: forward pre-hooks that see what the LLM and each layer receive."""
    helpers = str(Path(__file__).resolve().parents[1] / "pipeline")
    added = helpers not in sys.path
    if added:
        sys.path.insert(0, helpers)
    try:
        from pipeline_helpers import LLMRecorder

        yield LLMRecorder
    finally:
        if added:
            sys.path.remove(helpers)


def _image_sizes(rec: Recommendation, queries: list[Query]) -> list[tuple[int, int]]:
    """The image sizes the planner costed this key at: the workloads' (None: the family's default
    image, 2×side on LLaVA-NeXT, the reference side on Qwen); LLaVA resizes every image, so one."""
    side = rec.model.vision.image_size
    default = (2 * side, 2 * side) if rec.model.model_type == "llava_next" else (side, side)
    sizes = sorted({q.workload.image_size or default for q in queries})
    return sizes[:1] if rec.model.model_type == "llava" else sizes


def _next_layout(height: int, width: int, config: dict[str, Any]) -> tuple[int, int, int]:
    """LLaVA-NeXT: (crops of this image, the most crops any image has, newline rows), from the
    pinpoints as LlavaNextProcessor lays an image out."""
    from vlmplanner.families.geometry import DEFAULT_PINPOINTS, best_resolution

    side, patch = config["vision_config"]["image_size"], config["vision_config"]["patch_size"]
    pinpoints = config.get("image_grid_pinpoints") or DEFAULT_PINPOINTS
    best_h, best_w = best_resolution(height, width, pinpoints)
    grid = side // patch
    rows, cols = grid * (best_h // side), grid * (best_w // side)
    if width / height > cols / rows:  # un-padding removes rows of a wide image
        rows -= 2 * ((rows - int(round(height * (cols / width), 7))) // 2)
    most = 1 + max((h // side) * (w // side) for h, w in pinpoints)
    return 1 + (best_h // side) * (best_w // side), most, rows


def _expected_visual(rec: Recommendation, native: int, size: tuple[int, int], config: dict[str, Any]) -> int:
    """Visual tokens the LLM's input holds for one image of ``size`` (in-LLM: before layer K)."""
    card = compressor_card(rec.candidate.compressor)
    k = rec.candidate.tokens_for(native)      # a share: of this image's own native tokens
    if card.token_rule == "native" or card.kind == "in-llm":
        return native
    if rec.model.model_type == "llava_next":
        crops, most, rows = _next_layout(*size, config)
        return crops * (k // most) + rows
    return k


def _text_tokens(tiny: Any, prompt: str, image: Any) -> int:
    """Prompt tokens that are not image placeholders, by the tiny model's own processor."""
    token = getattr(tiny.config, "image_token_id", None) or tiny.config.image_token_index
    batch = tiny.processor(text=prompt, images=image, return_tensors="pt")
    return int((batch["input_ids"] != token).sum())


def _check_key(group: KeyGroup, checkpoints: TinyCheckpoints, recorder_class: type) -> tuple[list[str], list[str]]:
    """Instantiate one key on its tiny stand-in and generate at each image size: (what went wrong,
    what the LLM received at each size)."""
    from pipeline_helpers import make_image

    rec = group.rec
    card = compressor_card(rec.candidate.compressor)
    layers = max(MIN_LLM_LAYERS, (card.prune_layer or 0) + 2) if card.kind == "in-llm" else MIN_LLM_LAYERS
    directory, tiny = checkpoints.get(rec.model, layers)
    config = json.loads((directory / "config.json").read_text())
    problems: list[str] = []
    seen_by_size: list[str] = []
    with rec.instantiate(checkpoint=directory, architecture="tokens") as pipeline:
        if pipeline.key != rec.key:
            problems.append(f"the pipeline runs {pipeline.key}")
        for seed, size in enumerate(_image_sizes(rec, group.queries)):
            image, prompt = make_image(*size, seed=seed), tiny.family.tiny_prompt
            native = tiny.family.visual_tokens(rec.model, size)
            visual = _expected_visual(rec, native, size, config)
            k = rec.candidate.tokens_for(native)
            text = _text_tokens(tiny, prompt, image)
            recorder = recorder_class(pipeline.model)
            try:
                answers = pipeline.generate([image], [prompt], max_new_tokens=2, do_sample=False)
            finally:
                recorder.remove()
            where = f"{size[0]}x{size[1]} image"
            layer_counts = [recorder.layers[i] - text for i in sorted(recorder.layers)]
            seen_by_size.append(f"{where}: {recorder.prefill - text} in, layers {_runs(layer_counts)}")
            if not (len(answers) == 1 and isinstance(answers[0], str)):
                problems.append(f"{where}: generate returned {answers!r}")
            if recorder.prefill != text + visual:
                problems.append(f"{where}: the LLM's input holds {recorder.prefill - text} visual tokens, not {visual}")
            if card.kind == "in-llm":
                prune = pipeline.compressor.prune_layer
                seen = layer_counts
                if any(n != native for n in seen[:prune]):
                    problems.append(f"{where}: layers before K={prune} see {seen[:prune]}, not {native}")
                if statistics.fmean(seen[prune:]) != k:
                    problems.append(f"{where}: layers K..L-1 see {seen[prune:]} visual tokens, mean"
                                    f" {statistics.fmean(seen[prune:]):g}, not {k}")
            elif set(recorder.layers.values()) != {text + visual}:
                problems.append(f"{where}: the layers see {sorted(set(recorder.layers.values()))}, not {text + visual}")
            if (counted := pipeline.visual_tokens([image], [prompt])) != [visual]:
                problems.append(f"{where}: pipeline.visual_tokens says {counted}, not [{visual}]")
    return problems, seen_by_size


def _runs(counts: list[int]) -> str:
    """``[576, 576, 288, 288]`` as ``576x2 288x2``."""
    return " ".join(f"{n}x{len(list(same))}" for n, same in itertools.groupby(counts))


@requires_torch
def test_each_recommended_key_instantiates_and_gives_k_tokens(answers: list[Answer], tiny_checkpoints: TinyCheckpoints,
                                                               recorder_class: type) -> None:
    keys = groups(answers)
    failures: dict[str, str] = {}
    print()
    for key, group in sorted(keys.items()):
        try:
            problems, seen = _check_key(group, tiny_checkpoints, recorder_class)
        except Exception as error:  # every key is tried, every failure reported
            problems, seen = [f"{type(error).__name__}: {error}"], []
        print(f"{key} ({len(group.queries)} queries): {'; '.join(seen)}")
        if problems:
            failures[key] = f"{'; '.join(problems)} (e.g. {group.queries[0]})"
    print(f"instantiated {len(keys)} distinct keys from {len(answers)} queries on"
          f" {len(tiny_checkpoints.saved)} tiny checkpoints")
    assert not failures, "\n".join(f"{key}: {problem}" for key, problem in failures.items())
