"""``breakdown``: one candidate's cost, component by component, with the assumptions that applied."""

from __future__ import annotations

from typing import Literal

import numpy as np

from vlmplanner.schemas import CompressorSpec, Hardware, ModelSpec, Workload
from vlmplanner.schemas._base import Schema

from .compressors import adds_row_tokens, compressor_note, resizing
from .compute import Computed, compute
from .efficiency import Efficiency
from .vision import resized_vision

__all__ = ["CostBreakdown", "breakdown"]

CONVENTIONS = (
    "FLOPs = 2 x multiply-adds; attention counted dense (full T², as torch's FLOP counter counts"
    " SDPA); norms, activations, softmax, biases and elementwise ops are ignored"
)


class CostBreakdown(Schema):
    """The cost of one candidate. FLOPs are per request; memory and latency per batch."""

    candidate: str
    accounting: Literal["full", "paper"]
    dtype: str
    hardware: str | None
    flops: dict[str, float]
    decode_step_flops: float
    total_flops: float
    prefill_flops: float
    decode_flops: float
    params: dict[str, int]
    memory_bytes: dict[str, float]
    latency_s: dict[str, float] | None
    usd_per_1k_requests: float | None
    notes: list[str]


def breakdown(
    model: ModelSpec,
    compressor: CompressorSpec,
    visual_tokens: int,
    workload: Workload,
    *,
    hardware: Hardware | None = None,
    dtype: str = "bf16",
    accounting: Literal["full", "paper"] = "full",
    efficiency: Efficiency | None = None,
) -> CostBreakdown:
    """The same numbers ``evaluate`` gives this candidate, split by component and explained."""
    c = compute([model], np.zeros(1, dtype=np.intp), [compressor], np.zeros(1, dtype=np.intp),
                np.array([visual_tokens]), workload, hardware=hardware, dtype=dtype,
                accounting=accounting, efficiency=efficiency)
    cols = c.table.columns
    latency = None
    usd = None
    if c.rates is not None:
        latency = {"prefill": float(c.prefill_s[0]), "decode": float(c.decode_s[0]),
                   "total": float(c.latency_s[0])}
        usd = None if np.isnan(c.usd_per_1k[0]) else float(c.usd_per_1k[0])
    return CostBreakdown.trusted(
        candidate=f"{model.checkpoint}+{compressor.name}@{visual_tokens}",
        accounting=accounting,
        dtype=c.dtype.name,
        hardware=None if hardware is None else hardware.name,
        flops={name: float(c.component(poly)[0]) for name, poly in c.pairs.flops.items()},
        decode_step_flops=float(c.component(c.pairs.decode_step)[0]),
        total_flops=float(c.total_flops[0]),
        prefill_flops=float(c.prefill_flops[0]),
        decode_flops=float(c.decode_flops[0]),
        params={"llm": int(cols["params_llm"][0]), "vision_tower": int(cols["params_vision"][0]),
                "projector": int(cols["params_projector"][0])},
        memory_bytes={name: float(c.component(poly)[0]) for name, poly in c.pairs.memory.items()},
        latency_s=latency,
        usd_per_1k_requests=usd,
        notes=_notes(c, model, compressor, visual_tokens, workload),
    )


def _notes(c: Computed, model: ModelSpec, compressor: CompressorSpec, tokens: int,
           workload: Workload) -> list[str]:
    images, steps = workload.images_per_request, workload.output_tokens
    layers = model.llm.num_layers
    profile = c.table.profiles[0]
    notes = []
    if c.accounting == "paper":
        notes.append(
            f"paper accounting: 2·N·(Q + V·images) with N = {model.llm.params_b:g}e9 (the LLM's"
            " nominal size); the vision tower, projector, compressor, attention's T² term, lm_head"
            " and decode are not counted (memory is still the full model's)"
        )
    else:
        notes.append(CONVENTIONS)
        notes.extend(profile.notes)
        if images > 1:
            notes.append(f"{images} images per request: vision, projector and compressor run per image")
        notes.append(c.table.projectors[0].note)
        notes.append(compressor_note(compressor))
        if resizing([compressor])[0]:
            fit = resized_vision(model, workload.image_size)
            notes.append(f"{compressor.name}: the vision tower is charged for the image scaled down to {tokens}"
                         f" tokens (fitted through {fit.points} image sizes, within {fit.max_error:.1%} of the"
                         f" family's profile at them); the processor's rounding can give a few fewer tokens")
    if c.accounting == "full":
        notes.append(_llm_note(c, compressor, tokens, workload, layers, profile.native))
        notes.append("lm_head: prefill computes logits for the last position only, as generate()"
                     " keeps only that one (logits_to_keep=1)")
        notes.append(f"decode: {steps} steps; step j attends over T + j cached positions in every layer"
                     " and runs lm_head once" if steps else "decode: no output tokens, nothing charged")
    notes.append("activations: an estimate, batch·T·(2d + I)·bytes + batch·vocab·4 (fp32 logits of the"
                 " last position); T is the longest sequence a layer processes")
    if c.dtype.weight_bytes != c.dtype.cache_bytes:
        notes.append(f"{c.dtype.name}: weight-only quantization; KV cache and activations are"
                     f" {c.dtype.cache_bytes}-byte and the matmuls run at the {c.dtype.peak} peak")
    if c.rates is not None:
        notes.extend(_roofline_notes(c, workload))
    return notes


def _llm_note(c: Computed, compressor: CompressorSpec, tokens: int, workload: Workload, layers: int,
              native: int) -> str:
    q, images = workload.text_tokens, workload.images_per_request
    full = int(c.pairs.layers_full[int(c.pair[0])])
    rows = int(c.table.columns["row_tokens"][0] * adds_row_tokens([compressor])[0])
    kept = q + images * (tokens + rows)
    if rows:
        return (f"llm_blocks: T = Q + (V + rows)·images = {q} + ({tokens} + {rows})·{images} = {kept} tokens in all"
                f" {layers} layers (the model follows each of the {rows} rows of the tile grid with a newline token)")
    if full == 0:
        return f"llm_blocks: T = Q + V·images = {q} + {tokens}·{images} = {kept} tokens in all {layers} layers"
    how = (f"without a prune layer: all {layers} layers are charged with" if compressor.prune_layer is None
           else f"K = {compressor.prune_layer}: layers 0-{full - 1} see")
    rest = "" if full >= layers else f", layers {full}-{layers - 1} see Q + V·images = {kept}"
    return f"{compressor.name} is in-llm, {how} Q + {native}·{images} native = {q + images * native} tokens{rest}"


def _roofline_notes(c: Computed, workload: Workload) -> list[str]:
    rates = c.rates
    assert rates is not None
    hw = rates.hardware
    batch = workload.batch_size
    compute_s = batch * float(c.prefill_flops[0]) * rates.per_flop
    notes = [
        f"latency: roofline on {hw.name}, peak {rates.peak_flops / 1e12:g} TFLOP/s ({c.dtype.peak}) x"
        f" {rates.efficiency.compute:g}, bandwidth {rates.bandwidth / 1e9:g} GB/s x"
        f" {rates.efficiency.bandwidth:g}; weights are streamed once per forward pass (all but an"
        " untied input-embedding table; the decode streams the LLM's only)",
        f"prefill is {'compute' if compute_s >= float(c.prefill_s[0]) else 'bandwidth'}-bound"
        f" for a batch of {batch}",
    ]
    if hw.price_usd_per_hour is None:
        notes.append(f"hardware {hw.name!r} has no price: usd_per_1k_requests is None")
    return notes
