"""What every stored count means: components, the FLOP convention of each method, and keys.

This module is light (no torch): the CLI and the planner may read it.
"""

from __future__ import annotations

__all__ = [
    "COMPONENTS",
    "CONVENTIONS",
    "FLOP_DEVICE",
    "METHODS",
    "PREFILL_COMPONENTS",
    "prefill_flops",
]

#: The components of one request's prefill, as the analytic model names them.
PREFILL_COMPONENTS: tuple[str, ...] = ("vision_tower", "projector", "compressor", "llm_blocks", "lm_head")
#: Every FLOP key a count stores: the prefill components and one decode step.
COMPONENTS: tuple[str, ...] = (*PREFILL_COMPONENTS, "decode_step")
#: The counting/measuring methods, as CostMeasurement.method spells them.
METHODS: tuple[str, ...] = ("analytic", "traced", "fvcore", "measured")
#: FLOP counts do not depend on a device; their rows carry this device name.
FLOP_DEVICE = "none"

_COMMON = (
    "FLOPs = 2 x multiply-adds per request (batch 1); attention counted dense (full Sq x Sk, no causal"
    " halving); norms, activations, softmax, biases and elementwise ops not counted; prefill keeps the"
    " logits of the last position only (logits_to_keep=1, as generate() does); decode_step = one step"
    " of one new token over a KV cache of the prefill length"
)

CONVENTIONS: dict[str, str] = {
    "analytic": _COMMON + ". analytic: vlmplanner.cost closed-form formulas (decode_step attends over"
                          " the T cached positions, the traced step over T + 1: 4·L·d FLOPs apart)",
    "traced": _COMMON + ". traced: torch.utils.flop_counter.FlopCounterMode over the full-size model"
                        " built on FakeTensor weights (no weights allocated), with a formula for"
                        " aten._scaled_dot_product_flash_attention_for_cpu (torch counts it as 0);"
                        " components from FlopCounterMode's per-module totals, nested ones subtracted",
    "fvcore": _COMMON + ". fvcore: FlopCountAnalysis (torch.jit trace) on materialized weights; its"
                        " multiply-add counts x 2; handles added for scaled_dot_product_attention and"
                        " baddbmm, norm handles set to 0, elementwise ops explicitly 0; component"
                        " outputs kept alive so the jit trace does not drop executed layers (dead code)",
    "measured": "wall-clock median of repeated runs after warm-up: prefill_ms is the time to first"
                " token (vision tower, projector, compressor and the LLM prefill with"
                " logits_to_keep=1), decode_ms_per_token the median of single-token decode steps with"
                " a KV cache; spread = interquartile range; peak memory: torch.cuda.max_memory_allocated"
                " after reset_peak_memory_stats on CUDA, the process's peak RSS (VmHWM after writing"
                " 5 to /proc/self/clear_refs) on CPU",
}


def prefill_flops(flops: dict[str, float]) -> float:
    """The prefill FLOPs of a stored count: the sum of its prefill components (and ``other``)."""
    return float(sum(flops.get(name, 0.0) for name in (*PREFILL_COMPONENTS, "other")))
