"""Every cost of a (model, compressor) pair as a polynomial in V, for one workload.

This is where the formulas of docs/cost-model.md are assembled: the component FLOPs, the first
decode step, the memory terms and the roofline's per-pair terms. Arrays are shaped
(models, compressors) while building and raveled at the end (pair = model * n_compressors +
compressor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlmplanner.schemas import CompressorSpec, Workload

from . import llm
from .compressors import adds_row_tokens, pair_costs, resizing
from .poly import Poly, Ramp
from .roofline import Rates
from .tables import ModelTable, prune_layers
from .vision import resized_vision

__all__ = ["PairCosts", "pair_costs_for"]

Array = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Roofline:
    """Per-pair roofline terms; decode step j costs max(f0 + f1·j, g0 + g1·j) seconds.

    Stored as the sum of g over all steps (``base``) and the excess of f over g, ``d0 + d1·j``;
    with sliding-window layers the excess bends at each window's fill step: ``kinks`` holds
    (start, drop), the slope falling by drop from step start on (``positive_part_kinked``).
    """

    prefill_stream_s: Array
    base: Poly
    d0: Poly
    d1: Array
    kinks: tuple[tuple[Poly, Array], ...] = ()


@dataclass(frozen=True)
class PairCosts:
    flops: dict[str, Poly]
    prefill: Poly
    decode: Poly
    decode_step: Poly
    memory: dict[str, Poly]
    layers_full: Array
    roofline: Roofline | None


def pair_costs_for(table: ModelTable, compressors: Sequence[CompressorSpec], workload: Workload,
                   accounting: str, rates: Rates | None) -> PairCosts:
    col = {name: value[:, None] for name, value in table.columns.items()}  # (models, 1)
    shape = (len(table.models), len(compressors))
    q, images = float(workload.text_tokens), float(workload.images_per_request)
    batch, steps = float(workload.batch_size), workload.output_tokens

    layers = col["layers"]
    layers_full = np.minimum(prune_layers(compressors)[None, :], layers)  # (models, compressors)
    layers_kept = layers - layers_full
    # text plus the newline tokens an anyres model packs a pre-LLM compressor's k into, per image
    q_kept = q + images * col["row_tokens"] * adds_row_tokens(compressors)[None, :]
    t_kept = Poly(q_kept, images)  # Q + (V + rows)·images
    t_full = q + images * col["native"]  # Q + native·images
    held = layers_full * t_full + layers_kept * t_kept  # Σ over layers of the tokens each keeps
    window = _Window.of(table, col, layers_full, layers, t_full, q_kept, images)

    if accounting == "full":
        symbols = {name: table.columns[name] for name in ("d", "hv", "lv", "n_llm")}
        symbols["vn"] = table.columns["native"]
        symbols["q"] = np.full_like(symbols["d"], q)
        fixed, per_token = pair_costs(symbols, workload.images_per_request, table.columns["packer"], compressors)
        vision, projector = _vision_side(table, compressors, workload, col)
        flops = {
            "vision_tower": vision,
            "projector": projector,
            "compressor": Poly(fixed, per_token),
            "llm_blocks": llm.block_flops(layers_full, layers_kept, t_full, t_kept, col["per_token"],
                                          col["attention"]),
            "lm_head": Poly(col["lm_head"]),
        }
        prefill = sum(flops.values(), Poly())
        step = layers * col["decode_per_token"] + col["attention"] * held + col["lm_head"]
        slope = col["attention"] * layers  # each step attends over one more position
        # a sliding-window layer attends to min(T + j, W) positions at step j
        flops["decode"] = llm.decode_flops(step, slope, steps) - col["attention"] * window.beyond(0, steps)
        decode = flops["decode"]
        first_step = step - col["attention"] * window.beyond(0, 1)
    else:
        prefill = 2.0 * col["nominal_params"] * Poly(q, images)   # the paper's T = Q + V·images
        flops = {"llm_paper": prefill}
        step, slope, decode = Poly(), 0.0 * layers, Poly()
        first_step = step

    # a sliding-window layer caches min(T + steps, W) positions
    # linear-attention layers hold a constant state instead (state_bytes)
    kv_request = col["kv_token_bytes"] * (held + layers * steps - window.beyond(steps, 1)) + col["state_bytes"]
    in_llm = layers_full > 0
    activation_tokens = Poly(np.where(in_llm, t_full, q_kept), np.where(in_llm, 0.0, images))
    memory = {
        "weights": Poly(col["weight_bytes"]),
        "kv_cache_per_request": kv_request,
        "kv_cache_batch": batch * kv_request,
        "activations": batch * (activation_tokens * col["activation_token_bytes"] + col["logit_bytes"]),
    }
    memory["total"] = memory["weights"] + memory["kv_cache_batch"] + memory["activations"]

    roofline = None
    if rates is not None:
        kv_bytes = batch * col["kv_token_bytes"]
        f0 = (batch * rates.per_flop) * step
        f1 = (batch * rates.per_flop) * slope
        g0 = rates.per_byte * (col["decode_stream_bytes"] + kv_bytes * held)
        g1 = rates.per_byte * kv_bytes * layers
        # per windowed layer once its window is full: f's slope falls by the attention per
        # position, g's by the KV bytes read per position
        drop = batch * rates.per_flop * col["attention"] - rates.per_byte * kv_bytes
        base = steps * g0 + g1 * (steps * (steps - 1) / 2) - rates.per_byte * kv_bytes * window.beyond(0, steps)
        kinks = tuple((start.flat(shape), _flat(drop * share, shape)) for start, share in window.kinks())
        if accounting != "full":  # the paper counts no decode
            f0, f1, g0, g1, base, kinks = Poly(), 0.0 * layers, Poly(), 0.0 * layers, Poly(), ()
        roofline = Roofline(
            prefill_stream_s=_flat(col["prefill_stream_bytes"] * rates.per_byte, shape),
            base=base.flat(shape),
            d0=(f0 - g0).flat(shape),
            d1=_flat(f1 - g1, shape),
            kinks=kinks,
        )
    return PairCosts(
        flops={name: p.flat(shape) for name, p in flops.items()},
        prefill=prefill.flat(shape),
        decode=decode.flat(shape),
        decode_step=Poly.of(first_step).flat(shape),
        memory={name: p.flat(shape) for name, p in memory.items()},
        layers_full=_flat(layers_full, shape),
        roofline=roofline,
    )


@dataclass(frozen=True)
class _Window:
    """The sliding-window layers of each pair's model: how many see every native token (an in-LLM
    compressor's first layers, ``full``) and how many the kept ones (``kept``), and the window W.
    The windowed layers are taken as spread evenly over the depth (Gemma 3: five in every six),
    which is exact for pre-LLM compressors, the only ones such families serve."""

    full: Array
    kept: Array
    window: Array
    t_full: Array
    q: Array
    images: float
    active: bool

    @staticmethod
    def of(table: ModelTable, col: dict[str, Array], layers_full: Array, layers: Array, t_full: Array, q: Array,
           images: float) -> _Window:
        share = np.minimum(layers_full, layers) / layers
        sliding = col["sliding"]
        return _Window(sliding * share, sliding * (1.0 - share), col["window"], t_full, q, images,
                       bool(np.any(table.columns["sliding"] > 0)))

    def beyond(self, extra: int, steps: int) -> Poly:
        """Σ over windowed layers and steps j < ``steps`` of max(0, T + extra + j - W): what a full
        window holds back (0 when no model has windowed layers)."""
        if not self.active:
            return Poly()
        return Poly(ramps=(Ramp(self.kept, self.q + extra - self.window, self.images, steps),
                           Ramp(self.full, self.t_full + extra - self.window, 0.0, steps)))

    def kinks(self) -> list[tuple[Poly, Array]]:
        """(the decode step from which each layer group's window is full, W - T, and its layers)."""
        if not self.active:
            return []
        return [(Poly(self.window - self.q, -self.images + 0.0 * self.window), self.kept),
                (Poly(self.window - self.t_full), self.full)]


def _vision_side(table: ModelTable, compressors: Sequence[CompressorSpec], workload: Workload,
                 col: dict[str, Array]) -> tuple[Poly, Poly]:
    """The vision tower's and the projector's FLOPs per pair: fixed at the workload's image, except
    for a compressor that shrinks the image first (``downsample``), whose pairs pay for the smaller
    image: a polynomial in V (``resized_vision``)."""
    tower = Poly(col["vision"])
    projector = Poly(col["projector_fixed"], col["projector_per_token"])
    shrinks = resizing(compressors)[None, :]                  # (1, compressors)
    if not shrinks.any():
        return tower, projector
    images = float(workload.images_per_request)
    fits = [resized_vision(model, workload.image_size) for model in table.models]
    t0, t1, t2 = (np.array([f.tower[i] for f in fits])[:, None] * images for i in range(3))
    p0, p1 = (np.array([f.projector[i] for f in fits])[:, None] * images for i in range(2))
    tower = Poly(np.where(shrinks, t0, col["vision"]), np.where(shrinks, t1, 0.0), np.where(shrinks, t2, 0.0))
    projector = Poly(np.where(shrinks, p0, col["projector_fixed"]),
                     np.where(shrinks, p1, col["projector_per_token"]))
    return tower, projector


def _flat(value: Array, shape: tuple[int, int]) -> Array:
    return np.broadcast_to(value, shape).ravel()
