"""The built-in compressors' cards and FLOP estimates (plain Python: no torch).

FLOPs count one multiply-add as 2, per image, for the compressor's own work only (the vision tower,
projector and LLM are charged by vlmplanner.cost). ``dim`` is the width of the features the method
runs on; keys are assumed as wide unless ``key_dim`` is given. ``tests/compressors`` compares every
estimate with ``vlmplanner.cost.compressors.FORMULAS`` (the planner's table) and pins the known gaps.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from .base import CompressorCard

__all__ = ["BUILTIN_CARDS", "tome_schedule", "visionzip_split"]



def visionzip_split(k: int) -> tuple[int, int]:
    """(dominant, contextual) for k tokens, in the ratio of VisionZip's settings (54+10 of 64,
    108+20 of 128, 162+30 of 192): contextual = round(5k/32)."""
    contextual = round(k * 5 / 32)
    return k - contextual, contextual


def _pool(native: int, k: int, dim: int, **extra: Any) -> float:
    # one add per input element (the division per output is ignored, as in the planner's table)
    return float(native * dim)


def _cls_topk(native: int, k: int, dim: int, **extra: Any) -> float:
    # top-k over N precomputed scores; the gather moves memory but does no arithmetic
    return float(native)


def _visionzip(native: int, k: int, dim: int, **extra: Any) -> float:
    key_dim = int(extra.get("key_dim", dim))
    dominant, contextual = int(extra.get("dominant", -1)), int(extra.get("contextual", -1))
    if dominant < 0 or contextual < 0:
        dominant, contextual = visionzip_split(k)
    rest = native - dominant
    if contextual == 0:
        return float(native)
    return float(native                              # top-k of the [CLS] scores
                 + 3 * rest * key_dim                # L2-normalise the remaining keys
                 + 2 * (rest - contextual) * contextual * key_dim  # similarity to the targets
                 + rest * dim + contextual * dim)    # mean of the assigned tokens, add to target


def _prumerge_plus(native: int, k: int, dim: int, **extra: Any) -> float:
    key_dim = int(extra.get("key_dim", dim))
    neighbours = min(int(extra.get("neighbours", 32)), native - k)
    return float(3 * native * key_dim                # normalise keys
                 + 2 * k * native * key_dim          # kept x all key similarities
                 + 2 * k * neighbours * dim          # weighted sums of the merged neighbours
                 + native * 8)                       # IQR quantiles (sorting), roughly


def _divprune(native: int, k: int, dim: int, **extra: Any) -> float:
    return float(3 * native * dim                    # normalise
                 + 2 * native * native * dim         # all-pairs cosine: the first pick needs every
                                                     # token's nearest-neighbour distance
                 + 2 * k * native)                   # greedy min updates


def _fastv(native: int, k: int, dim: int, **extra: Any) -> float:
    # the last token's attention row at layer K-1 over the N image keys (all heads): 2·N·d, as when a
    # seam recomputes that single row instead of materialising eager attention; top-k is free
    return float(2 * native * dim)


def _quecc(native: int, k: int, dim: int, **extra: Any) -> float:
    """QueCC at embed width E = dim over multi-layer features of width M (default 4·E), query Dq."""
    e = dim
    m = int(extra.get("multi_dim", 4 * e))
    dq = int(extra.get("query_dim", e))
    llm_params = float(extra.get("llm_params", 0.0))
    query_tokens = float(extra.get("query_tokens", 0.0))
    n, v = native, k
    dense = (2 * dq * e                               # text projection (once per image)
             + n * e                                  # add the query to every token
             + 4 * n * e * e                          # q_proj: two E x E linears over N tokens
             + 2 * n * e                              # depthwise conv, kernel = stride
             + 2 * (2 * n * m * e + 2 * n * e * e)    # k_proj and v_proj: M->E, E->E
             + 2 * v * e * e + 4 * n * e * e          # attention in-projections: q (k tokens), k, v
             + 4 * n * e                              # local-window scores and weighted sums
             + 2 * v * e * e)                         # attention out-projection
    return float(dense + 2 * llm_params * query_tokens)  # + the LLM pass over the query (if given)


BUILTIN_CARDS: dict[str, CompressorCard] = {
    "none": CompressorCard(
        name="none", display_name="No compression (full visual tokens)", kind="pre-llm",
        training="training-free", token_rule="native", stage="either",
        aliases=("vanilla", "identity", "full"),
        description="Identity: every visual token enters every LLM layer.",
        flops_note="no work",
    ),
    "pool": CompressorCard(
        name="pool", display_name="2-D average pooling (training-free)", kind="pre-llm",
        training="training-free", token_rule="pool-grid", stage="either",
        aliases=("pooling", "avgpool", "avg-pool", "average-pooling"),
        description="Average-pools the patch grid with equal non-overlapping f x f windows.",
        flops_fn=_pool, flops_note="one add per input element: N·D",
    ),
    "cls-topk": CompressorCard(
        name="cls-topk", display_name="FasterVLM ([CLS]-attention top-k)", kind="pre-llm",
        training="training-free", token_rule="any", requires=("cls_attention",),
        stage="either", aliases=("FasterVLM",),
        paper="[CLS] Attention is All You Need for Training-Free Visual Token Pruning",
        arxiv="2412.01818",
        description="Keeps the k patches with the highest head-mean [CLS] attention, in spatial order.",
        flops_fn=_cls_topk, flops_note="top-k over N scores: ~N (the selection does no arithmetic)",
    ),
    "visionzip": CompressorCard(
        name="visionzip", display_name="VisionZip", kind="pre-llm", training="training-free",
        token_rule="any", requires=("cls_attention", "keys"), stage="pre-projector",
        aliases=("VisionZip",), paper="VisionZip (CVPR'25)", arxiv="2412.04467",
        description="Dominant tokens by [CLS] attention plus contextual tokens merged by key "
                    "similarity (k = dominant + round(5k/32) contextual).",
        flops_fn=_visionzip,
        flops_note="normalise the remaining keys, 2·(N-kd)·kc·Dk similarities, merge means",
    ),
    "prumerge+": CompressorCard(
        name="prumerge+", display_name="PruMerge+", kind="pre-llm", training="training-free",
        token_rule="any", requires=("cls_attention", "keys"), stage="pre-projector",
        aliases=("PruMerge+", "prumerge-plus", "prumerge_plus"), paper="LLaVA-PruMerge (ICCV'25)",
        arxiv="2403.15388",
        description="IQR outliers of [CLS] attention plus spatially uniform samples (exactly k), "
                    "then the pruned tokens most key-similar to each kept one are merged into it.",
        flops_fn=_prumerge_plus, flops_note="2·k·N·Dk key similarities + weighted merges",
    ),
    "divprune": CompressorCard(
        name="divprune", display_name="DivPrune", kind="pre-llm", training="training-free",
        token_rule="any", stage="post-projector", aliases=("DivPrune",),
        paper="DivPrune (CVPR'25)", arxiv="2503.02175",
        description="Greedy max-min diversity selection on cosine distance of the tokens.",
        flops_fn=_divprune, flops_note="all-pairs cosine 2·N²·D + greedy updates 2·k·N",
    ),
    "fastv": CompressorCard(
        name="fastv", display_name="FastV", kind="in-llm", training="training-free",
        token_rule="any", requires=("attention_to_image",), stage="llm-layer",
        aliases=("FastV",), prune_layer=2,
        paper="An Image is Worth 1/2 Tokens After Layer 2 (ECCV'24)", arxiv="2403.06764",
        description="Before LLM layer K keeps the k image tokens the last prompt token attends to "
                    "most at layer K-1 (head mean).",
        flops_fn=_fastv, flops_note="the last token's attention row over the image keys: 2·N·d",
    ),
    "quecc": CompressorCard(
        name="quecc", display_name="QueCC", kind="pre-llm", training="trained", families=("llava",),
        token_rule="conv-grid", requires=("query", "multi_layer_features"), stage="pre-projector",
        aliases=("QueCC",),
        paper="Inference Optimal VLMs Need Only One Visual Token but Larger Models", arxiv="2411.03312",
        description="Query-conditioned convolutional cross-attention: the text query is added to the "
                    "visual tokens, a depthwise kernel = stride convolution downsamples them to k "
                    "queries, each attending to its local window of multi-layer features.",
        flops_fn=_quecc,
        flops_note="dense projections ~(12·N·E² + 4·N·M·E) + local attention 4·N·E, plus 2·N_llm·Q "
                   "for the LLM pass over the query when llm_params and query_tokens are given",
    ),
}


# -- group "simple": random, spatial-sampling, sequential-sampling, prumerge, tome -------------------

def tome_schedule(native: int, k: int, r: int | None = None) -> list[tuple[int, int]]:
    """ToMe's rounds from ``native`` to k tokens: (tokens before the round, merges in it).

    Bipartite matching can merge at most t // 2 of t tokens (every A token into B); each round
    merges ``min(t - k, t // 2, r)``, so without ``r`` the count halves until the last round lands
    on k exactly.
    """
    rounds, t = [], native
    while t > k:
        merges = min(t - k, t // 2, t if r is None else r)
        rounds.append((t, merges))
        t -= merges
    return rounds


def _tome(native: int, k: int, dim: int, **extra: Any) -> float:
    total = 0
    for t, merges in tome_schedule(native, k, extra.get("r")):
        total += (3 * t * dim                        # L2-normalise the t tokens (the matching metric)
                  + 2 * ((t + 1) // 2) * (t // 2) * dim  # cosine of every A token to every B token
                  + merges * dim)                    # add the merged A tokens into their partners
    return float(total + (k * dim if k < native else 0))  # one divide by the sizes at the end


def _prumerge(native: int, k: int, dim: int, **extra: Any) -> float:
    key_dim = int(extra.get("key_dim", dim))
    neighbours = min(int(extra.get("neighbours", 32)), native - k)
    return float(native                              # top-k of the [CLS] scores
                 + 3 * native * key_dim              # normalise keys
                 + 2 * k * native * key_dim          # kept x all key similarities
                 + 2 * k * neighbours * dim)         # weighted sums of the merged neighbours


_SAMPLING_NOTE = "no arithmetic: the kept indices depend only on the grid (a gather moves memory)"

BUILTIN_CARDS.update({
    "random": CompressorCard(
        name="random", display_name="Random pruning", kind="pre-llm", training="training-free",
        token_rule="any", stage="either", aliases=("random pruning", "random-pruning", "random token selection"),
        description="Keeps k tokens drawn uniformly at random without replacement, in raster order; "
                    "seeded (seed=0), so every image of a grid keeps the same fixed random subset.",
        flops_note=_SAMPLING_NOTE,
    ),
    "spatial-sampling": CompressorCard(
        name="spatial-sampling", display_name="Spatial uniform sampling", kind="pre-llm",
        training="training-free", token_rule="any", stage="either",
        aliases=("spatial uniform sampling", "spatial", "uniform-sampling"),
        paper="ablation baseline in LLaVA-PruMerge (ICCV'25) project page",
        description="Keeps the tokens on a uniform rows x cols sub-grid of the patch grid when k factors "
                    "into one near the grid's aspect (144 -> 12x12); otherwise k tokens evenly spaced "
                    "in raster order.",
        flops_note=_SAMPLING_NOTE,
    ),
    "sequential-sampling": CompressorCard(
        name="sequential-sampling", display_name="Sequential (first-N) sampling", kind="pre-llm",
        training="training-free", token_rule="any", stage="either",
        aliases=("sequential (first-N) sampling", "sequential", "first-n"),
        paper="ablation baseline in LLaVA-PruMerge (ICCV'25) project page",
        description="Keeps the first k tokens in raster order.",
        flops_note=_SAMPLING_NOTE,
    ),
    "prumerge": CompressorCard(
        name="prumerge", display_name="LLaVA-PruMerge", kind="pre-llm", training="training-free",
        token_rule="any", requires=("cls_attention", "keys"), stage="pre-projector",
        aliases=("LLaVA-PruMerge", "PruMerge"), paper="LLaVA-PruMerge (ICCV'25)", arxiv="2403.15388",
        description="Keeps the k most [CLS]-attended tokens (the IQR outliers first: the paper's adaptive "
                    "outlier count becomes the requested k), then merges the pruned tokens most "
                    "key-similar to each kept one into it.",
        flops_fn=_prumerge, flops_note="2·k·N·Dk key similarities + normalising keys + weighted merges",
    ),
    "tome": CompressorCard(
        name="tome", display_name="ToMe (Token Merging)", kind="pre-llm", training="training-free",
        token_rule="any", stage="either", aliases=("ToMe", "token-merging"),
        paper="Token Merging: Your ViT But Faster (ICLR'23)", arxiv="2210.09461",
        description="Rounds of bipartite soft matching (alternate A/B tokens, each A token's most "
                    "cosine-similar B token, merge the most similar edges by size-weighted averaging) "
                    "until k tokens remain. Runs on the vision features at the seam, not inside every "
                    "ViT block as in the paper, so it does not cut the vision encoder's cost.",
        flops_fn=_tome,
        flops_note="per round of t tokens: 2·ceil(t/2)·floor(t/2)·D similarities + 3·t·D normalising + "
                   "r·D merges, then k·D to divide by the sizes; ~(2/3)·N²·D when the rounds halve",
    ),
})


# -- group "textcond": cdpruner, mmtok, trim (cosine to the LLM's query embedding, post-projector) --

def _query_pass(extra: dict[str, Any]) -> float:
    """The extra LLM pass over the question the seam runs for ``context.query`` (when given)."""
    return 2 * float(extra.get("llm_params", 0.0)) * float(extra.get("query_tokens", 0.0))


def _cdpruner(native: int, k: int, dim: int, **extra: Any) -> float:
    n, d, dq = native, dim, int(extra.get("query_dim", dim))
    return float(3 * n * d + 3 * dq                 # normalise tokens and query
                 + 2 * n * d                         # relevance: cosine to the query
                 + 2 * n * n * d                     # S: all-pairs cosine of the tokens
                 + 7 * n                             # min-max of r, the kernel diagonal r²·S_jj
                 + 6 * n * (k - 1)                   # per pick after the first: kernel row, residuals
                 + n * (k - 1) * (k - 2)             # Cholesky: pick i projects on the i earlier rows
                 + _query_pass(extra))


def _mmtok(native: int, k: int, dim: int, **extra: Any) -> float:
    n, d, dq = native, dim, int(extra.get("query_dim", dim))
    return float(3 * n * d + 3 * dq                 # normalise tokens and query
                 + 2 * n * d + 2 * n * n * d         # text->vision and vision->vision cosines
                 + 4 * n * (n + 1) + n * n           # softmaxes (scale, exp, sum, divide), weight α/N
                 + k * (n + 1) * (2 * n + 1)         # greedy gains over the 1 + N targets, max update
                 + _query_pass(extra))


def _trim(native: int, k: int, dim: int, **extra: Any) -> float:
    n, d, dq = native, dim, int(extra.get("query_dim", dim))
    return float(3 * n * d + 3 * dq                 # normalise tokens and query
                 + 2 * n * d                         # cosine to the query
                 + n                                 # top-(k-1) of the N scores
                 + (n - k + 2) * (d + 2)             # mean (and centroid) of the other N-k+1 tokens
                 + _query_pass(extra))


_QUERY_PASS_NOTE = "plus 2·N_llm·Q for the LLM pass over the query when llm_params and query_tokens are given"

BUILTIN_CARDS.update({
    "cdpruner": CompressorCard(
        name="cdpruner", display_name="CDPruner", kind="pre-llm", training="training-free",
        token_rule="any", requires=("query",), stage="post-projector",
        aliases=("CDPruner",), paper="CDPruner (NeurIPS'25)", arxiv="2506.10967",
        description="Conditional DPP on the projected tokens: kernel diag(r)·S·diag(r), S their cosine "
                    "similarity, r their min-max normalised relevance to the instruction (optionally "
                    "exp(θ/(2(1-θ))·r)); greedy MAP inference keeps exactly k, in raster order. "
                    "Adaptation: r is the cosine to the LLM's query embedding, not CLIP text-image "
                    "similarity.",
        flops_fn=_cdpruner,
        flops_note="all-pairs cosine 2·N²·D + normalising and relevance 5·N·D + greedy Cholesky "
                   "N·(k-1)(k-2) + 6·N·(k-1) + 7·N, " + _QUERY_PASS_NOTE,
    ),
    "mmtok": CompressorCard(
        name="mmtok", display_name="MMTok", kind="pre-llm", training="training-free",
        token_rule="any", requires=("query",), stage="post-projector",
        aliases=("MMTok",), paper="MMTok (arXiv)", arxiv="2508.18264",
        description="Greedy submodular coverage: the k tokens that best cover the instruction "
                    "(text->vision softmax, τ=0.02) and all tokens (vision->vision softmax, τ=0.2, "
                    "weight α=0.5). Adaptation: one text target, the LLM's query embedding, and "
                    "vision->vision on the projected tokens.",
        flops_fn=_mmtok,
        flops_note="all-pairs cosine 2·N²·D + normalising and text cosines 5·N·D + softmaxes 5·N² + 4·N "
                   "+ greedy gains k·(N+1)(2N+1), " + _QUERY_PASS_NOTE,
    ),
    "trim": CompressorCard(
        name="trim", display_name="TRIM", kind="pre-llm", training="training-free",
        token_rule="any", requires=("query",), stage="post-projector",
        aliases=("TRIM",), paper="TRIM (COLING'25)", arxiv="",
        description="The k-1 tokens most similar to the instruction (the paper's IQR outliers, "
                    "capped or filled to k-1) plus the mean of the others as the k-th token. "
                    "Adaptation: exact k, and cosine to the LLM's query embedding on the projected "
                    "tokens instead of CLIP text-image similarity inside the encoder.",
        flops_fn=_trim,
        flops_note="normalising and query cosines 5·N·D + top-k N + the mean of the N-k+1 others "
                   "(N-k+2)·(D+2), " + _QUERY_PASS_NOTE,
    ),
})


# -- group "inllm": pdrop (PyramidDrop), dart (DART) -----------------------------------------------

#: PyramidDrop's stage starts as fractions of the layers after K (8, 16, 24 of a 32-layer LLM) and
#: its stage weights (0.5, 0.25, 0.125 of N: λ = 0.5); see vlmplanner.compressors._schedule.
PDROP_STAGES = (Fraction(0), Fraction(1, 3), Fraction(2, 3))
PDROP_WEIGHTS = (Fraction(1, 2), Fraction(1, 4), Fraction(1, 8))
#: DART's pivots: image tokens and text tokens with the largest key L1 norm (paper defaults 4 + 4).
DART_PIVOTS = (4, 4)


def _pdrop(native: int, k: int, dim: int, **extra: Any) -> float:
    """One attention row over the image tokens present at every drop: 2·d·Σ n_before(drop)."""
    from ._schedule import staged_schedule

    layers = int(extra.get("num_layers", 32))
    first = int(extra.get("prune_layer", 8))
    present, total = native, 0
    for _, tokens in staged_schedule("pdrop", k, native, first, layers, PDROP_STAGES, PDROP_WEIGHTS):
        total += 2 * present * dim
        present = tokens
    return float(total)


def _dart(native: int, k: int, dim: int, **extra: Any) -> float:
    key_dim = int(extra.get("key_dim", dim))
    pivots = int(extra.get("pivots", sum(DART_PIVOTS)))
    return float(native * key_dim                    # L1 norms of the image keys (pivot choice)
                 + 3 * native * dim                  # L2-normalise the image tokens' hidden states
                 + 2 * pivots * native * dim)        # cosine of every pivot to every image token


BUILTIN_CARDS.update({
    "pdrop": CompressorCard(
        name="pdrop", display_name="PyramidDrop", kind="in-llm", training="training-free",
        token_rule="any", requires=("attention_to_image",), stage="llm-layer",
        aliases=("PyramidDrop",), prune_layer=8, paper="PyramidDrop (CVPR'25)", arxiv="2410.17247",
        description="Drops image tokens in stages (before layers 8, 16, 24 of a 32-layer LLM; later "
                    "stages scale with the depth after K), each time keeping those the last prompt "
                    "token attends to most at that layer. SDK adaptation: the geometric stage counts "
                    "(ratio 0.5) are scaled so the image keeps exactly k tokens on average over layers "
                    "K..L-1 (k = 168 of 576 is the paper's 288/144/72); original position ids kept.",
        flops_fn=_pdrop,
        flops_note="one last-token attention row over the image tokens present at each drop: "
                   "2·d·(N + n1 + n2) for the 32-layer schedule (num_layers, prune_layer extras)",
    ),
    "dart": CompressorCard(
        name="dart", display_name="DART", kind="in-llm", training="training-free",
        token_rule="any", requires=("llm_keys", "llm_normed_hidden"),
        stage="llm-layer", aliases=("DART",), prune_layer=2,
        paper="Stop Looking for Important Tokens ... Duplication Matters More (EMNLP'25)",
        arxiv="2502.11494",
        description="Before LLM layer K picks pivots (4 image + 4 text tokens with the largest layer-(K-1) "
                    "key L1 norm) and keeps the image tokens least cosine-similar to the pivots "
                    "(final-norm hidden states), removing duplicates; attention-free. SDK adaptation: "
                    "exactly k image tokens (the image pivots plus k minus those, shared out over the "
                    "pivots), not 4 + 8·floor(k/8).",
        flops_fn=_dart,
        flops_note="key L1 norms N·Dk + normalising 3·N·D + pivot cosines 2·P·N·D (P = 8 pivots); "
                   "the text tokens' key norms are not counted",
    ),
})


# -- group "sparsevlm": sparsevlm (SparseVLM) --------------------------------------------------------

#: SparseVLM's stage starts as fractions of the layers after K = 2 (before layers 2, 6, 15 of a
#: 32-layer LLM) and its stage weights, in the ratio of the paper's 192-token schedule 300/200/110.
SPARSEVLM_STAGES = (Fraction(0), Fraction(4, 30), Fraction(13, 30))
SPARSEVLM_WEIGHTS = (Fraction(1), Fraction(2, 3), Fraction(11, 30))
#: Recycling: of the p tokens a drop prunes, the top 3/10 (+1) by score are clustered into one
#: tenth of that (+1) merged tokens (the paper's code: int(0.3·p) + 1 candidates, int(m/10) + 1).
SPARSEVLM_RECYCLE = (Fraction(3, 10), 10)


def sparsevlm_candidates(pruned: int) -> int:
    """How many of ``pruned`` tokens are clustering candidates: floor(0.3·p) + 1 (0 when none)."""
    return 0 if pruned <= 0 else min(pruned, math.floor(SPARSEVLM_RECYCLE[0] * pruned) + 1)


def sparsevlm_recycled(present: int, tokens: int) -> int:
    """How many of a drop's ``tokens`` (of ``present``) are merged clusters of pruned tokens: the r
    with r = candidates(p) // 10 + 1 for the p = present - (tokens - r) tokens pruned, so kept + r =
    tokens exactly; at most tokens - 1 (one token at least is kept as it is), 0 when nothing drops."""
    if tokens >= present:
        return 0
    r = 0
    while r < tokens - 1 and sparsevlm_candidates(present - tokens + r) // SPARSEVLM_RECYCLE[1] + 1 > r:
        r += 1
    return r


def sparsevlm_drop_flops(present: int, tokens: int, dim: int, text: int) -> float:
    """One drop's own work (see the card's flops_note)."""
    r = sparsevlm_recycled(present, tokens)
    m = sparsevlm_candidates(present - tokens + r) if r else 0
    return float(2 * present * text * dim        # rater relevance: image x text input embeddings
                 + 2 * text * present * dim      # the text rows' attention logits over the image tokens
                 + 2 * text * present            # raters' mean of those rows
                 + 2 * m * m * dim               # candidates' pairwise distances (Gram matrix)
                 + m * dim)                      # merging: each candidate added into its cluster


def _sparsevlm(native: int, k: int, dim: int, **extra: Any) -> float:
    from ._schedule import staged_schedule

    layers = int(extra.get("num_layers", 32))
    first = int(extra.get("prune_layer", 2))
    text = int(extra.get("text_tokens", 0))
    present, total = native, 0.0
    for _, tokens in staged_schedule("sparsevlm", k, native, first, layers, SPARSEVLM_STAGES,
                                     SPARSEVLM_WEIGHTS):
        if tokens < present:                     # a stage that keeps every token drops nothing
            total += sparsevlm_drop_flops(present, tokens, dim, text)
        present = tokens
    return total


BUILTIN_CARDS.update({
    "sparsevlm": CompressorCard(
        name="sparsevlm", display_name="SparseVLM", kind="in-llm", training="training-free",
        token_rule="any", requires=("text_attention", "llm_embeddings"),
        stage="llm-layer", aliases=("SparseVLM",), prune_layer=2,
        paper="SparseVLM: Visual Token Sparsification for Efficient Vision-Language Model Inference "
              "(ICML'25)", arxiv="2410.04417",
        description="Text 'raters' (the text tokens after the image most relevant to it, from the LLM's "
                    "input embeddings) score the image tokens by their attention to them inside the LLM; "
                    "three drops (before layers 2, 6, 15 of a 32-layer LLM, scaled with the depth) keep "
                    "the best and recycle some pruned ones as merged cluster tokens (density-peak "
                    "clustering of the top 30 % pruned). SDK adaptation: stage counts (ratio 300:200:110) "
                    "derived from k so the image keeps exactly k tokens on average over layers K..L-1, "
                    "recycled tokens included; merged tokens take their cluster centre's position; "
                    "raters re-chosen at each drop among the image tokens present.",
        flops_fn=_sparsevlm,
        flops_note="per drop with n image tokens present and Tt text tokens after the image (text_tokens "
                   "extra, 0 by default): rater relevance 2·n·Tt·D + the text rows' attention over the "
                   "image 2·Tt·n·D + their rater mean 2·Tt·n + recycling 2·m²·D + m·D (m = 0.3·pruned + 1 "
                   "candidates); 32-layer schedule (num_layers, prune_layer extras)",
    ),
})


# -- group "resize": image downsampling, the baseline that works on the input -----------------------

BUILTIN_CARDS.update({
    "downsample": CompressorCard(
        name="downsample", display_name="Image downsampling", kind="pre-llm", training="training-free",
        token_rule="any", stage="input",
        aliases=("image downsampling", "downsampling", "resize", "max_pixels"),
        paper="baseline in VTC-Bench (repo Chenfei-Liao/VTC-Bench)",
        description="Scales each image down (aspect kept, bicubic) to the largest size the family turns "
                    "into at most k visual tokens, or at most that share of its own count, before the "
                    "processor: what Qwen2-VL's max_pixels does. For families whose count follows the "
                    "image (Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT); the vision tower does less work too.",
        flops_note="no work of its own: the saving is in the vision tower, which the cost model charges "
                   "at the smaller image",
    ),
})
