"""Multi-stage in-LLM schedules whose per-layer image-token counts average exactly k (no torch).

The planner charges an in-LLM method "every token for layers 0..K-1, then k tokens" (K =
``prune_layer``), so a stage schedule must give the LLM, averaged over layers K..L-1, exactly k
image tokens per image -- the papers' "equivalent average tokens". :func:`staged_schedule` derives
one from k, the LLM's depth and a method's stage shape:

1. stage starts: ``K + round(f·(L-K))`` for the method's fractions f (PyramidDrop: 0, 1/3, 2/3,
   i.e. layers 8, 16, 24 of a 32-layer LLM); stages that round onto the same layer or past the last
   layer vanish (a 3-layer test model keeps one stage);
2. real stage counts ``c_i = clamp(s·w_i, 1, native)`` for the method's relative weights w (0.5,
   0.25, 0.125 for PyramidDrop), with the one s that makes ``Σ c_i·len_i = k·(L-K)`` (exact
   rationals);
3. integer counts per layer: ``floor(c_i)``, plus one token on the first D layers after K that are
   below ``native``, D being what the floors lost. Counts never grow from layer to layer; the
   remainder can add one drop of a single token inside a stage.

The per-layer counts then sum to k·(L-K) for every 1 <= k <= native: the average is k exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from vlmplanner.errors import InvalidTokenCountError, ValidationError

__all__ = ["stage_starts", "staged_schedule"]


def stage_starts(first: int, num_layers: int, fractions: Sequence[Fraction]) -> list[int]:
    """The distinct first layers of the stages: ``first + round(f·(num_layers-first))`` (halves
    round up), kept when below ``num_layers``."""
    span = num_layers - first
    starts: list[int] = []
    for f in fractions:
        layer = first + math.floor(Fraction(f) * span + Fraction(1, 2))
        if layer < num_layers and (not starts or layer > starts[-1]):
            starts.append(layer)
    return starts


def _scale(total: int, lengths: list[int], weights: list[Fraction], native: int) -> list[Fraction]:
    """Real counts clamp(s·w_i, 1, native) with Σ c_i·len_i = total (w strictly decreasing)."""
    n = len(lengths)
    for top in range(n + 1):                       # stages capped at native (a prefix)
        for bottom in range(n - top + 1):          # stages clamped to 1 (a suffix)
            free = range(top, n - bottom)
            fixed = native * sum(lengths[:top]) + sum(lengths[n - bottom:])
            mass = sum((weights[i] * lengths[i] for i in free), Fraction(0))
            if not free:
                if fixed == total:
                    return [Fraction(native)] * top + [Fraction(1)] * bottom
                continue
            s = Fraction(total - fixed) / mass
            counts = [s * weights[i] for i in free]
            if not all(1 <= c <= native for c in counts):
                continue
            if top and s * weights[top - 1] < native:
                continue
            if bottom and s * weights[n - bottom] > 1:
                continue
            return [Fraction(native)] * top + counts + [Fraction(1)] * bottom
    raise AssertionError("no stage scale found")  # pragma: no cover - 1 <= k <= native always has one


def staged_schedule(name: str, k: int, native: int, first: int, num_layers: int,
                    fractions: Sequence[Fraction], weights: Sequence[Fraction]) -> list[tuple[int, int]]:
    """Drop points ``[(layer, tokens), ...]`` whose per-layer counts average exactly ``k`` over
    layers ``first..num_layers-1`` (see the module docstring for the rule)."""
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers <= first:
        raise ValidationError(f"{name}: prune_layer {first} must be below the LLM's {num_layers} layers",
                              field="prune_layer", value=first)
    if not 1 <= k <= native:
        raise InvalidTokenCountError(
            f"{name} cannot keep {k} visual tokens on average: the image has only {native}"
            if k > native else f"visual_tokens must be at least 1, got {k}",
            field="visual_tokens", value=k,
        )
    starts = stage_starts(first, num_layers, fractions)
    kept = [i for i, f in enumerate(fractions)
            if first + math.floor(Fraction(f) * (num_layers - first) + Fraction(1, 2)) in starts]
    # one weight per surviving start: the last fraction that rounds onto it
    by_start: dict[int, Fraction] = {}
    for i in kept:
        layer = first + math.floor(Fraction(fractions[i]) * (num_layers - first) + Fraction(1, 2))
        by_start[layer] = Fraction(weights[i])
    stage_weights = [by_start[layer] for layer in starts]
    lengths = [b - a for a, b in zip(starts, [*starts[1:], num_layers])]
    total = k * (num_layers - first)
    reals = _scale(total, lengths, stage_weights, native)
    per_layer: list[int] = []
    for count, length in zip(reals, lengths):
        per_layer.extend([math.floor(count)] * length)
    missing = total - sum(per_layer)
    for index, value in enumerate(per_layer):
        if missing == 0:
            break
        if value < native:
            per_layer[index] += 1
            missing -= 1
    assert missing == 0 and sum(per_layer) == total
    points: list[tuple[int, int]] = []
    for offset, tokens in enumerate(per_layer):
        if not points or tokens != points[-1][1]:
            points.append((first + offset, tokens))
    return points
