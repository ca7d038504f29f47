"""fvcore on tiny real models agrees with the traced count per component; its raw behaviours."""

from __future__ import annotations

from typing import Any

import pytest
from _extras import TORCH_STACK, need
from profiling_helpers import FAMILIES, within

from vlmplanner.profiling import COMPONENTS, ProfileTarget, count_flops

need(*TORCH_STACK, "fvcore")

#: Agreement required between fvcore (with vlmplanner's handles) and the traced count.
TOLERANCE = 0.01


@pytest.mark.parametrize(("model_type", "tokens"), [
    *((family, None) for family in FAMILIES),
    ("llava", 3), ("qwen2_vl", 3),  # the features path (fewer tokens than native), with M-RoPE for Qwen
])
def test_fvcore_agrees_with_traced_per_component(tiny: dict[str, Any], model_type: str, tokens: int | None) -> None:
    target = ProfileTarget.from_bundle(tiny[model_type])
    traced = count_flops(target, tokens, method="traced")
    fvcore = count_flops(target, tokens, method="fvcore")
    assert set(fvcore.flops) == set(COMPONENTS) == set(traced.flops)
    for component in COMPONENTS:
        f, t = fvcore.flops[component], traced.flops[component]
        assert within(f, t, TOLERANCE), f"{model_type} {component}: fvcore {f:.6e} vs traced {t:.6e}"
    assert fvcore.unsupported_ops == {}, "every op fvcore skips has a handle (or is known elementwise)"
    assert traced.flops["vision_tower"] > 0 and traced.flops["llm_blocks"] > 0


def test_fvcore_drops_dead_code_without_keep_alive(tiny: dict[str, Any]) -> None:
    """LLaVA selects vision layer -2: a jit trace prunes the last CLIP layer HF executes."""
    bundle = tiny["llava"]
    target = ProfileTarget.from_bundle(bundle)
    kept = count_flops(target, method="fvcore")
    raw = count_flops(target, method="fvcore", keep_alive=False)
    missing = kept.flops["vision_tower"] - raw.flops["vision_tower"]
    vision = bundle.config.vision_config
    tokens = (vision.image_size // vision.patch_size) ** 2 + 1
    d, inter = vision.hidden_size, vision.intermediate_size
    one_layer = 8 * tokens * d * d + 4 * tokens * tokens * d + 4 * tokens * d * inter
    assert missing == one_layer
    assert any("dead code" in note for note in raw.notes)
    assert raw.flops["llm_blocks"] == kept.flops["llm_blocks"]


def test_traced_counts_cpu_sdpa_as_zero_without_the_formula(tiny: dict[str, Any]) -> None:
    """torch 2.13 has no formula for aten._scaled_dot_product_flash_attention_for_cpu."""
    bundle = tiny["llava"]
    target = ProfileTarget.from_bundle(bundle)
    fixed = count_flops(target, method="traced")
    raw = count_flops(target, method="traced", sdpa_formula=False)
    text = bundle.config.text_config
    seq = fixed.text_tokens + fixed.visual_tokens
    assert fixed.flops["llm_blocks"] - raw.flops["llm_blocks"] == 4 * text.num_hidden_layers * seq * seq * \
        text.hidden_size
    assert raw.flops["vision_tower"] < fixed.flops["vision_tower"]


def test_fvcore_needs_weights() -> None:
    from vlmplanner.errors import ValidationError

    target = ProfileTarget.from_checkpoint("llava-hf/llava-1.5-7b-hf")
    with pytest.raises(ValidationError) as info:
        count_flops(target, method="fvcore")
    assert info.value.field == "method"


def test_a_compressor_module_is_its_own_component(tiny: dict[str, Any]) -> None:
    """The seam for compressors to come: a module's FLOPs land in 'compressor', the same in both."""
    import torch
    from torch import nn

    class LinearPool(nn.Module):
        name = "linear-pool-test"

        def __init__(self, dim: int) -> None:
            super().__init__()
            self.mix = nn.Linear(dim, dim, bias=False)

        def forward(self, features: torch.Tensor, tokens: int) -> torch.Tensor:
            chunks = features[: (features.shape[0] // tokens) * tokens].reshape(tokens, -1, features.shape[-1])
            return self.mix(chunks.mean(dim=1))

    bundle = tiny["llava"]
    d = bundle.config.text_config.hidden_size
    target = ProfileTarget.from_bundle(bundle)
    compressor = LinearPool(d)
    traced = count_flops(target, 4, method="traced", compressor=compressor)
    fvcore = count_flops(target, 4, method="fvcore", compressor=compressor)
    assert traced.flops["compressor"] == fvcore.flops["compressor"] == 2 * 4 * d * d
    assert traced.compressor == "linear-pool-test"
