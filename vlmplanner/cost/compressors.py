"""What each compressor's own work costs: one table, one entry per compressor.

An entry is a formula written as coefficients of a few named terms (below). Every term is either
fixed for a model and workload or proportional to V, the visual tokens kept, so the cost of one
(model, compressor) pair is ``A + B·V``: the planner's sweep evaluates it with two matrix products
over the small model and compressor tables, never per candidate in Python.

Symbols, per image: Vn native visual tokens, V tokens kept, hv the vision width, d the LLM width,
Lv vision layers; per request: Q text tokens and N the LLM's matmul parameters (blocks + lm_head).
Adding a compressor is adding one entry to ``FORMULAS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from vlmplanner.schemas import CompressorSpec

__all__ = ["FORMULAS", "PACKER", "CompressorFormula", "compressor_coefficients", "pair_costs", "resizing"]

Array = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Term:
    """A monomial: ``per_token`` terms are the coefficient of V; ``per_image`` ones scale with images."""

    value: Callable[[Mapping[str, Array]], Array]
    per_token: bool = False
    per_image: bool = True


TERMS: Mapping[str, Term] = MappingProxyType({
    "Vn*d": Term(lambda m: m["vn"] * m["d"]),
    "d*hv": Term(lambda m: m["d"] * m["hv"]),
    "Vn*hv": Term(lambda m: m["vn"] * m["hv"]),
    "Vn*hv^2": Term(lambda m: m["vn"] * m["hv"] ** 2),
    "Vn^2*d": Term(lambda m: m["vn"] ** 2 * m["d"]),
    "Vn^2*hv*Lv": Term(lambda m: m["vn"] ** 2 * m["hv"] * m["lv"]),
    "V*Vn": Term(lambda m: m["vn"], per_token=True),
    "V*hv^2": Term(lambda m: m["hv"] ** 2, per_token=True),
    "V*Vn*hv": Term(lambda m: m["vn"] * m["hv"], per_token=True),
    "V*Vn*d": Term(lambda m: m["vn"] * m["d"], per_token=True),
    "V*d": Term(lambda m: m["d"], per_token=True),  # group "inllm": PyramidDrop's later stages
    "N*Q": Term(lambda m: m["n_llm"] * m["q"], per_image=False),
    # group "sparsevlm": the text raters' work, Q text tokens against the image tokens
    "Q*Vn*d": Term(lambda m: m["q"] * m["vn"] * m["d"]),
    "Q*V*d": Term(lambda m: m["q"] * m["d"], per_token=True),
})


@dataclass(frozen=True)
class CompressorFormula:
    terms: Mapping[str, float] = field(default_factory=dict)
    note: str = ""
    #: it shrinks the input image: the vision tower and projector are charged at the smaller image
    #: (``vlmplanner.cost.vision.resized_vision``), not at the workload's
    resizes_input: bool = False


_SELECT_MERGE = CompressorFormula(
    {"V*Vn*hv": 2.0},
    "scores reuse attention the vision tower already computed; merging/selecting is ~2·Vn·V·hv",
)
_CROSS_ATTENTION = {"Vn*hv^2": 4.0, "V*Vn*hv": 4.0}
_IN_LLM_SCORING = CompressorFormula(
    {"Vn*d": 2.0}, "scoring the visual tokens at the pruning layer: 2·Vn·d"
)
_NOTHING = CompressorFormula({}, "no work of its own")

FORMULAS: Mapping[str, CompressorFormula] = MappingProxyType({
    "none": CompressorFormula({}, "no compression"),
    #: the profiler's "none below the native count": the first k native tokens kept, no work
    "index-selection": CompressorFormula({}, "the first k of the native tokens kept (below the native count)"),
    "pool": CompressorFormula({"Vn*d": 1.0}, "average pooling: one add per input element, Vn·d"),
    "cls-topk": _SELECT_MERGE,
    "visionzip": _SELECT_MERGE,
    "visionzip-ft": _SELECT_MERGE,
    "prumerge": _SELECT_MERGE,
    "prumerge+": _SELECT_MERGE,
    "divprune": CompressorFormula(
        {"Vn^2*d": 2.0, "Vn*d": 3.0, "V*Vn": 2.0},
        "all-pairs cosine distances 2·Vn²·d (the first pick needs every token's nearest neighbour),"
        " normalising 3·Vn·d, greedy max-min updates 2·V·Vn",
    ),
    # group "textcond": on the projected tokens (width d), relevance = cosine to the LLM's query
    # embedding, which costs an extra LLM pass over the question (2·N·Q), as for QueCC
    "cdpruner": CompressorFormula(
        {"Vn^2*d": 2.0, "Vn*d": 5.0, "V*Vn": 6.0, "N*Q": 2.0},
        "DPP kernel similarities 2·Vn²·d, normalising and query relevance 5·Vn·d, greedy MAP"
        " updates 6·V·Vn (the incremental Cholesky's V²·Vn is left out: it is not linear in V),"
        " plus the LLM pass over the question for the query embedding: 2·N·Q",
    ),
    "mmtok": CompressorFormula(
        {"Vn^2*d": 2.0, "Vn*d": 5.0, "N*Q": 2.0},
        "vision-vision similarities 2·Vn²·d, normalising and text-vision similarities 5·Vn·d"
        " (the softmaxes and the greedy cover, ~2·V·Vn² elementwise, are left out: not linear in"
        " the terms), plus the LLM pass over the question for the query embedding: 2·N·Q",
    ),
    "trim": CompressorFormula(
        {"Vn*d": 5.0, "N*Q": 2.0},
        "normalising and query similarity of every projected token 5·Vn·d (the mean of the rest,"
        " <= Vn·d adds, left out), plus the LLM pass over the question for the query embedding: 2·N·Q",
    ),
    "tome": CompressorFormula(  # group "simple": the SDK's ToMe, matching rounds at the seam
        {"Vn^2*d": 2.0 / 3.0, "Vn*d": 12.5},
        "bipartite matching rounds on the visual tokens at the seam (width <= d), halving them until"
        " V remain: at most (2/3)·Vn²·d similarities + 12.5·Vn·d normalising and merging; it runs"
        " after the vision tower, so it saves no encoder FLOPs (the paper's in-encoder ToMe would)",
    ),
    "tokenpacker": CompressorFormula(
        _CROSS_ATTENTION,
        "cross-attention of V queries over Vn keys, width E = hv: K/V projections 2·(2·Vn·E²) plus"
        " attention 4·V·Vn·E (an upper bound: TokenPacker attends to local regions)",
    ),
    "qformer-trained": CompressorFormula(
        _CROSS_ATTENTION, "learned-query cross-attention: 2·(2·Vn·hv²) + 4·V·Vn·hv"
    ),
    "mqt": CompressorFormula(_CROSS_ATTENTION, "query-transformer cross-attention: 2·(2·Vn·hv²) + 4·V·Vn·hv"),
    "quecc": CompressorFormula(
        {"Vn*hv^2": 28.0, "V*hv^2": 4.0, "Vn*hv": 7.0, "d*hv": 2.0, "N*Q": 2.0},
        "width E = hv over multi-layer features of width 4·E: dense projections on every token"
        " 28·Vn·E² (query MLP 4, key and value MLPs 2·10, attention key/value in-projections 4), the"
        " k queries' in- and out-projections 4·V·E², local-window attention, query add and depthwise"
        " convolution 7·Vn·E, the text projection 2·d·E, plus the extra LLM pass over the query"
        " text for its query embedding: 2·N·Q",
    ),
    "fastv": _IN_LLM_SCORING,
    "pdrop": CompressorFormula(  # group "inllm"
        {"Vn*d": 2.0, "V*d": 36.0 / 7.0},
        "one last-token attention row over the image tokens present at each of the three drops:"
        " 2·d·(Vn + n1 + n2) with n1 + n2 = (12/7 + 6/7)·V for the 32-layer pyramid (K = 8, stages"
        " at 8, 16, 24, ratio 0.5, averaging V over layers K..L-1)",
    ),
    "sparsevlm": CompressorFormula(  # group "sparsevlm"
        {"Q*Vn*d": 4.0, "Q*V*d": 4.0 * 1830.0 / 487.0, "Vn^2*d": 0.19},
        "text raters at each drop: relevance of the image tokens present to the Q text tokens and the"
        " text rows' attention over them, 4·Q·d per image token, summed over the drops' 2·d·(Vn + n1 +"
        " n2 + n3) with n1 + n2 + n3 = (900 + 600 + 330)/487·V for the 32-layer schedule (K = 2, stages"
        " at 2, 6, 15, ratio 300:200:110, a one-token remainder drop in the last stage); recycling's"
        " clustering of the best 30 % pruned, at most 0.19·Vn²·d (Q: the request's text tokens, >= the"
        " raters' candidates after the image)",
    ),
    "dart": CompressorFormula(  # group "inllm"
        {"Vn*d": 20.0},
        "key L1 norms Vn·Dk (Dk <= d), normalising 3·Vn·d and the cosine of 8 pivots to every image"
        " token 16·Vn·d: 20·Vn·d (the text tokens' key norms are left out)",
    ),
    "voco-llama": CompressorFormula(
        {}, "no separate work: its compression pass is the LLM itself, charged in llm_blocks"
    ),
    "avgpool-trained": CompressorFormula({"Vn*hv": 1.0}, "average pooling before the projector: Vn·hv"),
    "avgpool-linear-trained": CompressorFormula({"Vn*hv": 1.0}, "average pooling: Vn·hv"),
    "m3": CompressorFormula({"Vn*hv": 1.0}, "nested average pooling: Vn·hv"),
    "pixel-shuffle-trained": _NOTHING,
    "sequential-sampling": _NOTHING,
    "spatial-sampling": _NOTHING,
    "random": _NOTHING,  # group "simple"
    "downsample": CompressorFormula(
        {}, "no work of its own: the image is scaled down before the processor, so the vision tower"
        " and projector are charged at the smaller image (a quadratic in V fitted to the family's"
        " vision profile of the workload's image scaled down; exact for Qwen2-VL's full attention)",
        resizes_input=True,
    ),
})

#: The formula charged for a TokenPacker projector (the paper's grid models), and the compressors
#: that are that projector, so it is never charged twice.
PACKER = FORMULAS["tokenpacker"]
REPLACES_PACKER = frozenset({"tokenpacker", "quecc"})


def compressor_note(spec: CompressorSpec) -> str:
    formula = FORMULAS.get(spec.name)
    if formula is None:
        return f"compressor {spec.name!r} has no cost formula: its own work is counted as 0"
    return f"compressor {spec.name}: {formula.note}"


def _coefficients(formulas: Sequence[CompressorFormula]) -> np.ndarray[Any, np.dtype[np.float64]]:
    out = np.zeros((len(TERMS), len(formulas)))
    names = list(TERMS)
    for column, formula in enumerate(formulas):
        for term, coefficient in formula.terms.items():
            out[names.index(term), column] = coefficient
    return out


def resizing(compressors: Sequence[CompressorSpec]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Per compressor: whether it shrinks the input image (its vision cost follows V)."""
    return np.array([FORMULAS.get(c.name, _NOTHING).resizes_input for c in compressors], dtype=bool)


def adds_row_tokens(compressors: Sequence[CompressorSpec]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Per compressor: 1 where the model adds its per-row newline tokens to the k it keeps (a pre-LLM
    compressor's tokens are packed into the tile grid's rows); 0 for ``none`` (its count is the
    native one, newlines included), in-LLM pruning (it keeps k of the native tokens) and resizing
    (the smaller image's count is native)."""
    resized = resizing(compressors)
    return np.array([float(c.kind == "pre-llm" and c.name != "none" and not r) for c, r in zip(compressors, resized)])


def compressor_coefficients(compressors: Sequence[CompressorSpec]) -> Array:
    """Terms x compressors: each compressor's formula as coefficients (unknown names: all zero)."""
    return _coefficients([FORMULAS.get(c.name, CompressorFormula()) for c in compressors])


def pair_costs(model_values: Mapping[str, Array], images: int, packer: Array,
               compressors: Sequence[CompressorSpec]) -> tuple[Array, Array]:
    """(A, B), each models x compressors: a pair's compressor FLOPs per request are A + B·V.

    ``model_values`` holds the symbols per model (vn, d, hv, lv, n_llm, q); ``packer`` is 1 for
    models whose projector is TokenPacker, which is charged unless the compressor replaces it.
    """
    n_models = len(packer)
    fixed = np.zeros((n_models, len(TERMS)))
    per_token = np.zeros((n_models, len(TERMS)))
    for column, term in enumerate(TERMS.values()):
        target = per_token if term.per_token else fixed
        target[:, column] = term.value(model_values) * (images if term.per_image else 1)
    coefficients = compressor_coefficients(compressors)
    charged_packer = np.array([0.0 if c.name in REPLACES_PACKER else 1.0 for c in compressors])
    packer_coefficients = _coefficients([PACKER])[:, 0]
    extra = np.outer(packer, charged_packer)
    a = fixed @ coefficients + extra * (fixed @ packer_coefficients)[:, None]
    b = per_token @ coefficients + extra * (per_token @ packer_coefficients)[:, None]
    return a, b
