"""LLaVA-1.5-7B against arithmetic written out by hand, and against torch's FLOP counter.

The hand sums use the config numbers directly: LLM width 4096, MLP 11008, 32 layers, 32 KV heads,
vocab 32064; CLIP ViT-L/14-336 width 1024, MLP 4096, 24 layers, 577 tokens (576 patches + CLS).
"""

from __future__ import annotations

import pytest

from vlmplanner.cost import breakdown
from vlmplanner.schemas import CompressorSpec, ModelSpec, Workload

Q = 50
V = 576
T = Q + V  # 626

VISION = 24 * (8 * 577 * 1024**2 + 4 * 577**2 * 1024 + 4 * 577 * 1024 * 4096) + 2 * 576 * (3 * 14 * 14) * 1024
PROJECTOR = 2 * 576 * (1024 * 4096 + 4096 * 4096)
LLM_BLOCKS = 32 * (2 * T * (2 * 4096**2 + 2 * 4096 * 4096) + 4 * T**2 * 4096 + 6 * T * 4096 * 11008)
LM_HEAD = 2 * 4096 * 32064

LLM_PARAMS = (32064 * 4096  # embed_tokens
              + 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096)  # q/k/v/o, gate/up/down, 2 RMSNorms
              + 4096  # final norm
              + 32064 * 4096)  # lm_head (not tied)
CLIP_PARAMS = (1024 + 3 * 14 * 14 * 1024 + 577 * 1024  # class, patch conv, positions
               + 2 * 1024  # pre-LayerNorm
               + 24 * (4 * (1024 * 1024 + 1024) + 4 * 1024 + (1024 * 4096 + 4096) + (4096 * 1024 + 1024))
               + 2 * 1024)  # post-LayerNorm
PROJECTOR_PARAMS = 1024 * 4096 + 4096 + 4096 * 4096 + 4096


def test_prefill_flops_by_component(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    b = breakdown(llava7b, compressors["none"], V, Workload(text_tokens=Q))
    assert b.flops == {
        "vision_tower": VISION,
        "projector": PROJECTOR,
        "compressor": 0.0,
        "llm_blocks": LLM_BLOCKS,
        "lm_head": LM_HEAD,
        "decode": 0.0,
    }
    assert b.prefill_flops == VISION + PROJECTOR + LLM_BLOCKS + LM_HEAD
    assert b.total_flops == b.prefill_flops
    assert b.decode_flops == 0.0


def test_paper_accounting_is_two_n_times_tokens(llava7b: ModelSpec,
                                                compressors: dict[str, CompressorSpec]) -> None:
    b = breakdown(llava7b, compressors["none"], V, Workload(text_tokens=Q), accounting="paper")
    assert b.flops == {"llm_paper": 2 * 7e9 * (50 + 576)}
    assert b.total_flops == b.prefill_flops == 2 * 7e9 * 626
    assert b.decode_flops == 0.0


def test_decode_step_by_hand(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    steps = 8
    b = breakdown(llava7b, compressors["none"], V, Workload(text_tokens=Q, output_tokens=steps))
    per_step_linear = 32 * (2 * (2 * 4096**2 + 2 * 4096 * 4096) + 6 * 4096 * 11008) + LM_HEAD
    step = [per_step_linear + 32 * 4 * (T + j) * 4096 for j in range(steps)]
    assert b.decode_step_flops == step[0]
    assert b.flops["decode"] == pytest.approx(sum(step), rel=1e-15)


def test_parameters_match_the_known_count(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    b = breakdown(llava7b, compressors["none"], V, Workload())
    assert b.params == {"llm": LLM_PARAMS, "vision_tower": CLIP_PARAMS, "projector": PROJECTOR_PARAMS}
    total = sum(b.params.values())
    assert total == pytest.approx(7.06e9, rel=0.01)  # LLaVA-1.5-7B: 7.063 B
    assert b.params["vision_tower"] == pytest.approx(0.30e9, rel=0.02)  # CLIP ViT-L/14-336
    assert b.memory_bytes["weights"] == 2 * total  # bf16


def test_kv_cache_is_512_kib_per_token(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    b = breakdown(llava7b, compressors["none"], V, Workload(text_tokens=Q, output_tokens=10, batch_size=4))
    per_token = 2 * 32 * 4096 * 2  # K and V, 32 layers, 4096 wide, 2 bytes
    assert per_token == 512 * 1024
    assert b.memory_bytes["kv_cache_per_request"] == per_token * (T + 10)
    assert b.memory_bytes["kv_cache_batch"] == 4 * per_token * (T + 10)
    assert b.memory_bytes["activations"] == 4 * T * (2 * 4096 + 11008) * 2 + 4 * 32064 * 4
    assert b.memory_bytes["total"] == (b.memory_bytes["weights"] + b.memory_bytes["kv_cache_batch"]
                                       + b.memory_bytes["activations"])


# torch.utils.flop_counter.FlopCounterMode totals on fake-tensor models, from the project's profiling
# notes (reference/profiling.md §3.3); "all logits" rows ran forward() without logits_to_keep.
@pytest.mark.parametrize(
    ("checkpoint", "image", "text", "tokens", "all_logits", "measured"),
    [
        ("llava-hf/llava-1.5-7b-hf", None, 32, 576, False, 8.475e12),
        ("llava-hf/llava-1.5-7b-hf", None, 32, 576, True, 8.6344e12),
        ("llava-hf/llava-1.5-13b-hf", None, 32, 576, True, 16.349e12),
        ("llava-hf/llava-v1.6-vicuna-7b-hf", (480, 640), 32, 2340, False, 35.70e12),
        ("Qwen/Qwen2-VL-7B-Instruct", (336, 336), 32 + 2, 144, True, 3.3234e12),
        ("Qwen/Qwen2-VL-7B-Instruct", (1008, 1008), 32 + 2, 1296, True, 30.574e12),
        ("Qwen/Qwen2-VL-2B-Instruct", (504, 504), 32 + 2, 324, True, 3.0592e12),
        ("Qwen/Qwen2.5-VL-7B-Instruct", (504, 504), 32 + 2, 324, False, 6.4353e12),
    ],
)
def test_matches_torch_flop_counter(models: dict[str, ModelSpec], compressors: dict[str, CompressorSpec],
                                    checkpoint: str, image: tuple[int, int] | None, text: int, tokens: int,
                                    all_logits: bool, measured: float) -> None:
    model = models[checkpoint]
    b = breakdown(model, compressors["none"], tokens, Workload(text_tokens=text, image_size=image))
    flops = b.prefill_flops
    if all_logits:  # forward() without logits_to_keep computes logits at every position
        flops += (text + tokens - 1) * 2 * model.llm.hidden_size * model.llm.vocab_size
    assert flops == pytest.approx(measured, rel=1e-4)
