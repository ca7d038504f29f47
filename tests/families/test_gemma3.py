"""Gemma 3: config.json to spec (sliding-window layers, 256 pooled tokens), bad fields named with
their rule, the processor's own token counts, the sliding window's bounded KV cache and decode in
the cost model, and analytic against traced FLOPs at full size."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from _extras import TORCH_STACK, need
from family_data import HF_CONFIGS, assert_components_agree, changed

from vlmplanner.cost import breakdown, evaluate
from vlmplanner.errors import VlmPlannerError
from vlmplanner.families import get_family, spec_from_config
from vlmplanner.families.geometry import pan_and_scan_crops
from vlmplanner.schemas import CompressorSpec, Hardware, Workload

SMALL = json.loads((HF_CONFIGS / "google" / "gemma-3-4b-it" / "config.json").read_text())
LARGE = json.loads((HF_CONFIGS / "google" / "gemma-3-27b-it" / "config.json").read_text())
PREPROCESSOR = json.loads((HF_CONFIGS / "google" / "gemma-3-4b-it" / "preprocessor_config.json").read_text())
NONE = CompressorSpec(name="none", display_name="none", kind="pre-llm", training="training-free",
                      description="no compression", source="test")
H100 = Hardware(name="h100", memory_gb=80, memory_bandwidth_gbs=3350, peak_bf16_tflops=989, spec_source="test")


def _spec(config: dict[str, Any], checkpoint: str = "google/gemma-3-4b-it") -> Any:
    return spec_from_config(config, checkpoint=checkpoint, source="test")


def test_the_shipped_configs_become_specs_with_their_windowed_layers() -> None:
    small, large = _spec(SMALL), _spec(LARGE, "google/gemma-3-27b-it")
    # the 4B file leaves heads, head_dim and vocabulary to Gemma3TextConfig's defaults
    assert (small.llm.num_heads, small.llm.num_kv_heads, small.llm.head_dim, small.llm.vocab_size) == (8, 4, 256, 262208)
    assert (small.llm.sliding_window, small.llm.sliding_layers, small.llm.num_layers) == (1024, 29, 34)
    assert (large.llm.head_dim, large.llm.q_width, large.llm.sliding_layers, large.llm.num_layers) == (128, 4096, 52, 62)
    assert small.native_visual_tokens == large.native_visual_tokens == 256
    assert small.llm.tie_word_embeddings and small.projector == "pooled_rmsnorm_linear"
    assert small.llm.params_b == 3.88 and large.llm.params_b == 27.0


def test_layer_types_decide_the_windowed_layers() -> None:
    types = ["full_attention" if i % 2 else "sliding_attention" for i in range(34)]
    assert _spec(changed(SMALL, "text_config", layer_types=types)).llm.sliding_layers == 17
    assert _spec(changed(SMALL, "text_config", sliding_window_pattern=2)).llm.sliding_layers == 17
    everything_full = _spec(changed(SMALL, "text_config", layer_types=["full_attention"] * 34))
    assert everything_full.llm.sliding_layers == 0 and everything_full.llm.sliding_window is None


@pytest.mark.parametrize(("config", "field", "words"), [
    (changed(SMALL, None, mm_tokens_per_image=0), "mm_tokens_per_image", "positive integer"),
    (changed(SMALL, None, mm_tokens_per_image=200), "mm_tokens_per_image", "square"),
    (changed(SMALL, None, mm_tokens_per_image=100), "mm_tokens_per_image", "divides the 64x64"),
    (changed(SMALL, "text_config", layer_types=["sliding_attention"] * 3), "text_config.layer_types", "34 entries"),
    (changed(SMALL, "text_config", layer_types=["local"] * 34), "text_config.layer_types", "one of"),
    (changed(SMALL, "text_config", sliding_window=0), "text_config.sliding_window", "positive integer"),
    (changed(SMALL, "text_config", attention_bias=True), "text_config.attention_bias", "must be false"),
    (changed(SMALL, "text_config", num_attention_heads=12, num_key_value_heads=4), "text_config.hidden_size",
     "multiple"),
    (changed(SMALL, "vision_config", vision_use_head=True), "vision_config.vision_use_head", "patch tokens"),
    (changed(SMALL, "vision_config", model_type="clip_vision_model"), "vision_config.model_type", "siglip"),
    (changed(SMALL, "vision_config", patch_size=1000), "vision_config.patch_size", "exceeds"),
])
def test_a_bad_field_is_named_with_its_rule(config: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(VlmPlannerError) as info:
        _spec(config)
    assert info.value.field == field and words in info.value.message, info.value.message


def test_every_image_gives_256_tokens_and_only_pre_llm_compressors_are_served() -> None:
    from vlmplanner.compressors import compressor_card

    family, spec = get_family("gemma3"), _spec(SMALL)
    assert {family.visual_tokens(spec, size) for size in [(40, 60), (896, 896), (1080, 1920), (300, 2000)]} == {256}
    assert compressor_card("divprune").supports("gemma3") and compressor_card("pool").supports("gemma3")
    assert not compressor_card("fastv").supports("gemma3")         # in-LLM: the hooks don't build its masks
    assert not compressor_card("visionzip").supports("gemma3")     # SigLIP has no [CLS]
    assert not compressor_card("downsample").supports("gemma3")    # a smaller image gives the same 256


def _window_free(spec: Any) -> Any:
    return spec.model_copy(update={"llm": spec.llm.model_copy(update={"sliding_layers": 0, "sliding_window": None})})


@pytest.mark.parametrize(("text_tokens", "output_tokens"), [(100, 64), (900, 200), (3000, 500)])
def test_windowed_layers_cache_and_attend_to_at_most_the_window(text_tokens: int, output_tokens: int) -> None:
    spec = _spec(SMALL)
    plain = _window_free(spec)
    workload = Workload(text_tokens=text_tokens, output_tokens=output_tokens, images_per_request=1, batch_size=2)
    windowed, full = (breakdown(s, NONE, 256, workload, hardware=H100) for s in (spec, plain))
    t, steps, window, layers = text_tokens + 256, output_tokens, 1024, spec.llm.sliding_layers
    kv_token = 2 * spec.llm.kv_width * 2           # bytes per position per layer, bf16
    saved_positions = layers * max(0, t + steps - window)
    assert full.memory_bytes["kv_cache_per_request"] - windowed.memory_bytes["kv_cache_per_request"] == \
        kv_token * saved_positions
    skipped = layers * sum(max(0, t + j - window) for j in range(steps))   # step j attends to min(T + j, W)
    assert full.decode_flops - windowed.decode_flops == pytest.approx(4 * spec.llm.q_width * skipped, rel=1e-12)
    assert full.decode_step_flops - windowed.decode_step_flops == 4 * spec.llm.q_width * layers * max(0, t - window)
    assert windowed.flops["llm_blocks"] == full.flops["llm_blocks"]    # prefill: dense, as SDPA counts it
    assert windowed.latency_s["decode"] <= full.latency_s["decode"]
    if t + steps <= window:
        assert windowed.latency_s == full.latency_s


def test_the_decode_roofline_with_windows_is_the_sum_of_its_steps() -> None:
    """Each step's time is max(compute, memory); the closed form over kinked lines equals the loop."""
    spec = _spec(SMALL)
    text, batch = 700, 8
    totals = []
    for steps in (600, 601):
        workload = Workload(text_tokens=text, output_tokens=steps, images_per_request=1, batch_size=batch)
        totals.append(evaluate([spec], np.array([0]), [NONE], np.array([0]), np.array([256]), workload,
                               hardware=H100).latency_s[0])
    # the last step alone, from the breakdown's own terms, at j = 600
    step = breakdown(spec, NONE, 256, Workload(text_tokens=text, output_tokens=1, images_per_request=1,
                                                batch_size=batch), hardware=H100)
    j, t, window = 600, text + 256, 1024
    llm, layers = spec.llm, spec.llm.num_layers
    attended = (layers - llm.sliding_layers) * (t + j) + llm.sliding_layers * min(t + j, window)
    first = (layers - llm.sliding_layers) * t + llm.sliding_layers * min(t, window)
    flops = step.decode_step_flops + 4 * llm.q_width * (attended - first)
    assert totals[1] - totals[0] == pytest.approx(
        max(batch * flops / (989e12 * 0.5), (_decode_stream(spec) + batch * 2 * llm.kv_width * 2 * attended)
            / (3350e9 * 0.8)), rel=1e-6)


def _decode_stream(spec: Any) -> float:
    """Bytes the decode streams per step: the LLM's weights but the tied embedding table's copy, bf16."""
    from vlmplanner.cost.dtypes import resolve_dtype
    from vlmplanner.cost.tables import model_table

    table = model_table([spec], Workload(text_tokens=1, output_tokens=1), resolve_dtype("bf16"))
    return float(table.columns["decode_stream_bytes"][0])


def test_pan_and_scan_crops_follow_the_processor() -> None:
    need(*TORCH_STACK)
    from vlmplanner import compat

    processor = compat.transformers_class("Gemma3ImageProcessorPil")()
    for height, width in [(100, 100), (300, 400), (300, 1000), (2000, 300), (500, 5000), (200, 600), (900, 1000)]:
        image = np.zeros((3, height, width), dtype=np.uint8)
        assert pan_and_scan_crops(height, width) == len(processor.pan_and_scan(image, 256, 4, 1.2)), (height, width)


@pytest.mark.parametrize("size", [(40, 60), (896, 896), (1080, 1920), (300, 2000)])
def test_visual_tokens_equal_the_checkpoints_processor(size: tuple[int, int]) -> None:
    """The 4B's shipped preprocessor_config.json through Gemma3Processor on a real image: 256
    image tokens (pan-and-scan off); with pan-and-scan on, 256 per crop as the geometry counts."""
    need(*TORCH_STACK)
    from PIL import Image

    from vlmplanner import compat

    family, spec = get_family("gemma3"), _spec(SMALL)
    settings = {k: v for k, v in PREPROCESSOR.items()
                if k not in ("image_processor_type", "processor_class", "image_seq_length") and v is not None}
    image_processor = compat.transformers_class("Gemma3ImageProcessorPil")(**settings)
    tokenizer = family._tokenizer()  # type: ignore[attr-defined]
    processor = compat.transformers_class("Gemma3Processor")(image_processor=image_processor, tokenizer=tokenizer,
                                                            image_seq_length=PREPROCESSOR["image_seq_length"])
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (*size, 3), dtype=np.uint8))
    image_id = tokenizer.convert_tokens_to_ids(family.special_tokens["image_token"])  # type: ignore[attr-defined]
    out = processor(text=["<start_of_image> describe it"], images=[[image]], return_tensors="pt")
    assert int((out["input_ids"] == image_id).sum()) == family.visual_tokens(spec, size) == 256
    scanned = processor(text=["<start_of_image> describe it"], images=[[image]], do_pan_and_scan=True,
                        return_tensors="pt")
    assert int((scanned["input_ids"] == image_id).sum()) == 256 * (1 + pan_and_scan_crops(*size))


@pytest.fixture(scope="module")
def targets() -> dict[str, Any]:
    need(*TORCH_STACK)
    from vlmplanner.profiling import ProfileTarget

    return {name: ProfileTarget.from_config(config, name=name, source="catalog/hf_configs")
            for name, config in [("google/gemma-3-4b-it", SMALL), ("google/gemma-3-27b-it", LARGE)]}


@pytest.mark.parametrize(("checkpoint", "tokens", "text_tokens"), [
    ("google/gemma-3-4b-it", None, 50),
    ("google/gemma-3-4b-it", 64, 50),          # a compressor's k: the features path
    ("google/gemma-3-4b-it", None, 1100),      # past the window: the decode step's windowed layers see W
    ("google/gemma-3-27b-it", None, 50),
])
def test_analytic_and_traced_flops_agree_at_full_size(targets: dict[str, Any], checkpoint: str, tokens: int | None,
                                                      text_tokens: int) -> None:
    from vlmplanner.profiling import count_flops

    target = targets[checkpoint]
    analytic = count_flops(target, tokens, method="analytic", text_tokens=text_tokens)
    traced = count_flops(target, tokens, method="traced", text_tokens=text_tokens)
    assert_components_agree(analytic, traced)
    # the one difference: a traced decode step attends over T + 1 positions in the full layers (the
    # windowed ones see exactly W = 1024 once T passes it, as the analytic step does); transformers
    # before 5.24 also computes each rotary table's new frequencies as a matmul (two tables here,
    # head_dim FLOPs each), and the prefill's, 2·(head_dim/2)·T per table, in llm_blocks
    llm = target.spec.llm
    full = llm.num_layers - (llm.sliding_layers if text_tokens + 256 >= 1024 else 0)
    assert traced.flops["decode_step"] - analytic.flops["decode_step"] - 4 * llm.q_width * full in (0, 2 * llm.head_dim)
    rotary = traced.flops["llm_blocks"] - analytic.flops["llm_blocks"]
    assert rotary in (0, 2 * llm.head_dim * (traced.text_tokens + traced.visual_tokens))


@pytest.mark.parametrize("checkpoint", ["google/gemma-3-4b-it"])
def test_one_layer_of_each_kind_counts_what_every_layer_counts(targets: dict[str, Any], checkpoint: str) -> None:
    from vlmplanner.profiling import count_flops

    target = targets[checkpoint]
    for text_tokens in (50, 1100):                 # inside and past the 1024-position window
        once = count_flops(target, method="traced", text_tokens=text_tokens)
        every = count_flops(target, method="traced", text_tokens=text_tokens, every_layer=True)
        assert once.flops == every.flops
        assert any("28 of the LLM's 34 decoder layers were not run" in note for note in once.notes)
        assert not any("were not run" in note for note in every.notes)
