"""The projector that maps vision features into the LLM's width: FLOPs and parameters per projector kind."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .vision import VisionProfile

__all__ = ["ProjectorCost", "projector_cost"]


@dataclass(frozen=True)
class ProjectorCost:
    """Per image: ``flops`` is fixed, ``flops_per_token`` is charged per output visual token.

    Only TokenPacker has a per-token part: its MLP runs on the V tokens the packer produced.
    ``packer`` marks a projector whose own compression is charged as the compressor component.
    """

    flops: float
    flops_per_token: float
    params: int
    packer: bool
    note: str


def projector_cost(projector: str, profile: VisionProfile, vision_hidden: int,
                   llm_hidden: int) -> ProjectorCost:
    return _cost(projector, profile.merger_norm_params, profile.projected, profile.merge_dim, vision_hidden,
                 llm_hidden)


def _mlp2x(hv: int, d: int) -> tuple[int, int]:
    """Linear(hv->d), GELU, Linear(d->d): multiply-adds per token, and parameters."""
    return hv * d + d * d, hv * d + d + d * d + d


@lru_cache(maxsize=1024)
def _cost(projector: str, norm: int, tokens: int, merge_dim: int, hv: int, d: int) -> ProjectorCost:
    if projector == "patch_merger":  # norm: the merger's norm parameters (the family's vision profile)
        macs = merge_dim * merge_dim + merge_dim * d
        params = norm + merge_dim * merge_dim + merge_dim + merge_dim * d + d
        return ProjectorCost(2.0 * tokens * macs, 0.0, params, False,
                             f"projector patch_merger: MLP({merge_dim}->{merge_dim}->{d}) on {tokens}"
                             " merged tokens per image")
    if projector == "tokenpacker":
        macs, params = _mlp2x(hv, d)
        packer_params = 4 * hv * hv + 4 * hv  # one cross-attention block, width hv (an estimate)
        return ProjectorCost(0.0, 2.0 * macs, params + packer_params, True,
                             "projector tokenpacker: its cross-attention is charged as the compressor;"
                             f" the MLP({hv}->{d}->{d}) runs on the V packed tokens; its weights are"
                             f" estimated as one width-{hv} attention block plus the MLP")
    if projector == "pixel_shuffle_mlp":  # InternVL: LayerNorm(4hv), Linear(4hv->d), GELU, Linear(d->d), biased
        macs = merge_dim * d + d * d
        params = 2 * merge_dim + merge_dim * d + d + d * d + d
        return ProjectorCost(2.0 * tokens * macs, 0.0, params, False,
                             f"projector pixel_shuffle_mlp: LayerNorm({merge_dim}), MLP({merge_dim}->{d}->{d}) on the"
                             f" {tokens} pixel-shuffled tokens per image")
    if projector == "pooled_rmsnorm_linear":  # Gemma 3: the pooled tokens, RMSNorm(hv), then hv x d, no bias
        return ProjectorCost(2.0 * tokens * hv * d, 0.0, hv + hv * d, False,
                             f"projector pooled_rmsnorm_linear: RMSNorm({hv}) and linear({hv}->{d}, no bias) on the"
                             f" {tokens} pooled tokens per image")
    if projector == "linear":
        return ProjectorCost(2.0 * tokens * hv * d, 0.0, hv * d + d, False,
                             f"projector linear({hv}->{d}) on {tokens} tokens per image")
    macs, params = _mlp2x(hv, d)
    known = projector == "mlp2x_gelu"
    note = (f"projector mlp2x_gelu: MLP({hv}->{d}->{d}) on {tokens} tokens per image, before any"
            " compression (compressors are charged as acting after the projector)")
    if not known:
        note = f"projector {projector!r} is not modelled: costed as mlp2x_gelu. " + note
    return ProjectorCost(2.0 * tokens * macs, 0.0, params, False, note)
