"""The cost model's components grouped into the phases a report shows: where FLOPs and memory go."""

from __future__ import annotations

from typing import Any

__all__ = ["FLOP_PHASES", "MEMORY_PARTS", "flops_by_phase", "memory_by_part"]

#: phase -> the cost model's FLOP components it adds up (docs/cost-model.md names them)
FLOP_PHASES: dict[str, tuple[str, ...]] = {
    "vision encoder": ("vision_tower",),
    "projector": ("projector",),
    "compressor": ("compressor",),
    "prefill": ("llm_blocks", "lm_head", "llm_paper"),
    "decode": ("decode",),
}
#: what a batch's memory is made of (the KV cache per request is shown beside it)
MEMORY_PARTS: dict[str, str] = {
    "weights": "weights",
    "KV cache (batch)": "kv_cache_batch",
    "activations": "activations",
}


def flops_by_phase(flops: dict[str, float]) -> dict[str, float]:
    """FLOPs per request by phase; a component no phase names is shown as ``other``."""
    phases = {phase: sum(flops.get(c, 0.0) for c in parts) for phase, parts in FLOP_PHASES.items()}
    known = {c for parts in FLOP_PHASES.values() for c in parts}
    other = sum(v for c, v in flops.items() if c not in known)
    if other:
        phases["other"] = other
    return phases


def memory_by_part(memory: dict[str, Any]) -> dict[str, float]:
    return {part: float(memory.get(component, 0.0)) for part, component in MEMORY_PARTS.items()}
