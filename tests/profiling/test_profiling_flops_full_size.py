"""Analytic and FakeTensor-traced FLOPs agree per component on the real, full-size configs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _extras import TORCH_STACK, need
from profiling_helpers import SHIPPED_VLMS, within

need(*TORCH_STACK)  # every count builds a transformers config (and the traced ones a fake model)

from vlmplanner.profiling import COMPONENTS, ProfileTarget, config_from_spec, count_flops
from vlmplanner.profiling.target import shipped_config_path

#: Agreement required between the analytic model and the traced count, per component.
TOLERANCE = 0.005


@pytest.fixture(scope="module")
def targets() -> dict[str, ProfileTarget]:
    """Targets from the shipped config.json alone (spec and model from that file), built once:
    a target keeps its FakeTensor model, so later counts skip the build."""

    class Cache(dict):  # type: ignore[type-arg]
        def __missing__(self, checkpoint: str) -> ProfileTarget:
            path = shipped_config_path(checkpoint)
            assert path is not None, f"catalog/hf_configs has no config.json for {checkpoint}"
            self[checkpoint] = ProfileTarget.from_config(json.loads(path.read_text()), name=checkpoint,
                                                         source=str(path))
            return self[checkpoint]

    return Cache()


def _agree(analytic: Any, traced: Any) -> None:
    assert set(traced.flops) == set(COMPONENTS), traced.flops  # nothing unattributed
    for component in COMPONENTS:
        a, t = analytic.flops[component], traced.flops[component]
        assert within(a, t, TOLERANCE), f"{component}: analytic {a:.6e} vs traced {t:.6e}"
    assert traced.visual_tokens == analytic.visual_tokens and traced.text_tokens == analytic.text_tokens


@pytest.mark.parametrize("checkpoint", SHIPPED_VLMS)
def test_analytic_and_traced_agree_at_full_size(targets: dict[str, ProfileTarget], checkpoint: str) -> None:
    target = targets[checkpoint]
    analytic = count_flops(target, method="analytic")
    traced = count_flops(target, method="traced")
    assert traced.visual_tokens == target.spec.native_visual_tokens
    _agree(analytic, traced)
    # the one difference, documented: the traced decode step attends over T + 1 positions, not T;
    # transformers 5.18 (not 5.24) also computes the new position's rotary frequencies as a matmul,
    # 2 · head_dim/2 FLOPs per rotary axis (Qwen's M-RoPE has three), which FlopCounterMode counts
    llm = target.spec.llm
    layers, hidden, head_dim = llm.num_layers, llm.hidden_size, llm.hidden_size // llm.num_heads
    rotary = head_dim * (3 if target.model_type.startswith("qwen") else 1)
    assert traced.flops["decode_step"] - analytic.flops["decode_step"] - 4 * layers * hidden in (0, rotary)
    assert traced.prefill > 1e11  # full size, not a tiny model


@pytest.mark.parametrize(("checkpoint", "tokens", "image_size"), [
    ("llava-hf/llava-1.5-7b-hf", 144, None),  # compressor none below native: the features path
    ("Qwen/Qwen2.5-VL-7B-Instruct", 7, None),  # a prime count: a 1x7 M-RoPE grid
    ("Qwen/Qwen2-VL-2B-Instruct", None, (336, 560)),  # native tokens of a non-square image
    ("llava-hf/llava-v1.6-mistral-7b-hf", None, (400, 1000)),  # anyres: the 1x3 pinpoint, unpadded
])
def test_agreement_below_native_and_at_other_image_sizes(targets: dict[str, ProfileTarget], checkpoint: str,
                                                         tokens: int | None,
                                                         image_size: tuple[int, int] | None) -> None:
    target = targets[checkpoint]
    analytic = count_flops(target, tokens, method="analytic", image_size=image_size)
    traced = count_flops(target, tokens, method="traced", image_size=image_size)
    _agree(analytic, traced)
    if tokens is not None:
        assert traced.visual_tokens == tokens < traced.native_tokens
        assert any("reach the LLM" in note for note in traced.notes)


def test_qwen2_vl_7b_from_catalog_numbers() -> None:
    """No config.json ships for Qwen2-VL-7B: the config is built from the catalog's ModelSpec."""
    target = ProfileTarget.from_checkpoint("Qwen/Qwen2-VL-7B-Instruct")
    assert "ModelSpec" in target.config_source
    _agree(count_flops(target, method="analytic"), count_flops(target, method="traced"))


@pytest.mark.parametrize("checkpoint", ["llava-hf/llava-1.5-7b-hf", "llava-hf/llava-v1.6-mistral-7b-hf",
                                        "Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct"])
def test_config_from_spec_matches_the_shipped_config(checkpoint: str) -> None:
    """The config built from catalog numbers has the shipped file's architecture (same spec back)."""
    shipped = ProfileTarget.from_checkpoint(checkpoint)
    rebuilt = ProfileTarget.from_config(config_from_spec(shipped.spec), name=checkpoint)
    for part in ("llm", "vision"):
        assert getattr(rebuilt.spec, part) .model_dump(exclude={"name", "params_b"}) == \
            getattr(shipped.spec, part).model_dump(exclude={"name", "params_b"})
    assert rebuilt.spec.native_visual_tokens == shipped.spec.native_visual_tokens
    assert rebuilt.native_tokens() == shipped.native_tokens()


def test_config_from_spec_refuses_projectors_transformers_lacks() -> None:
    from vlmplanner.errors import ValidationError
    from vlmplanner.store.shipped import load_shipped

    paper = next(m for m in load_shipped().models if m.projector == "tokenpacker")
    with pytest.raises(ValidationError) as info:
        config_from_spec(paper)
    assert info.value.field == "projector"
