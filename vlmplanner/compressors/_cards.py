"""The built-in compressors' cards and FLOP estimates (plain Python: no torch).

FLOPs count one multiply-add as 2, per image, for the compressor's own work only (the vision tower,
projector and LLM are charged by vlmplanner.cost). ``dim`` is the width of the features the method
runs on; keys are assumed as wide unless ``key_dim`` is given. ``tests/compressors`` compares every
estimate with ``vlmplanner.cost.compressors.FORMULAS`` (the planner's table) and pins the known gaps.
"""

from __future__ import annotations

from typing import Any

from .base import FAMILIES, CompressorCard

__all__ = ["BUILTIN_CARDS", "visionzip_split"]

LLAVA = ("llava", "llava_next")


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
        training="training-free", families=FAMILIES, token_rule="native", stage="either",
        aliases=("vanilla", "identity", "full"),
        description="Identity: every visual token enters every LLM layer.",
        flops_note="no work",
    ),
    "pool": CompressorCard(
        name="pool", display_name="2-D average pooling (training-free)", kind="pre-llm",
        training="training-free", families=FAMILIES, token_rule="pool-grid", stage="either",
        aliases=("pooling", "avgpool", "avg-pool", "average-pooling"),
        description="Average-pools the patch grid with equal non-overlapping f x f windows.",
        flops_fn=_pool, flops_note="one add per input element: N·D",
    ),
    "cls-topk": CompressorCard(
        name="cls-topk", display_name="FasterVLM ([CLS]-attention top-k)", kind="pre-llm",
        training="training-free", families=LLAVA, token_rule="any", requires=("cls_attention",),
        stage="either", aliases=("FasterVLM",),
        paper="[CLS] Attention is All You Need for Training-Free Visual Token Pruning",
        arxiv="2412.01818",
        description="Keeps the k patches with the highest head-mean [CLS] attention, in spatial order.",
        flops_fn=_cls_topk, flops_note="top-k over N scores: ~N (the selection does no arithmetic)",
    ),
    "visionzip": CompressorCard(
        name="visionzip", display_name="VisionZip", kind="pre-llm", training="training-free",
        families=LLAVA, token_rule="any", requires=("cls_attention", "keys"), stage="pre-projector",
        aliases=("VisionZip",), paper="VisionZip (CVPR'25)", arxiv="2412.04467",
        description="Dominant tokens by [CLS] attention plus contextual tokens merged by key "
                    "similarity (k = dominant + round(5k/32) contextual).",
        flops_fn=_visionzip,
        flops_note="normalise the remaining keys, 2·(N-kd)·kc·Dk similarities, merge means",
    ),
    "prumerge+": CompressorCard(
        name="prumerge+", display_name="PruMerge+", kind="pre-llm", training="training-free",
        families=LLAVA, token_rule="any", requires=("cls_attention", "keys"), stage="pre-projector",
        aliases=("PruMerge+", "prumerge-plus", "prumerge_plus"), paper="LLaVA-PruMerge (ICCV'25)",
        arxiv="2403.15388",
        description="IQR outliers of [CLS] attention plus spatially uniform samples (exactly k), "
                    "then the pruned tokens most key-similar to each kept one are merged into it.",
        flops_fn=_prumerge_plus, flops_note="2·k·N·Dk key similarities + weighted merges",
    ),
    "divprune": CompressorCard(
        name="divprune", display_name="DivPrune", kind="pre-llm", training="training-free",
        families=FAMILIES, token_rule="any", stage="post-projector", aliases=("DivPrune",),
        paper="DivPrune (CVPR'25)", arxiv="2503.02175",
        description="Greedy max-min diversity selection on cosine distance of the tokens.",
        flops_fn=_divprune, flops_note="all-pairs cosine 2·N²·D + greedy updates 2·k·N",
    ),
    "fastv": CompressorCard(
        name="fastv", display_name="FastV", kind="in-llm", training="training-free",
        families=FAMILIES, token_rule="any", requires=("attention_to_image",), stage="llm-layer",
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
