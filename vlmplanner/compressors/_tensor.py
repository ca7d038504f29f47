"""Small tensor helpers the built-in compressors share (imports torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmplanner.extras import require

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:  # a missing torch is one MissingExtraError, not a ModuleNotFoundError from deep inside
    torch = require("torch", feature="a built-in compressor")

__all__ = ["gather_tokens", "grid_positions", "score_dtype", "unit"]


def grid_positions(h: int, w: int, device: torch.device | str | None = None) -> Tensor:
    """(row, col) of every token of an h x w grid in raster order, ``[h*w, 2]`` float32."""
    rows = torch.arange(h, device=device, dtype=torch.float32).repeat_interleave(w)
    cols = torch.arange(w, device=device, dtype=torch.float32).repeat(h)
    return torch.stack([rows, cols], dim=-1)


def gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """``x [B, N, D]`` at ``index [B, k]`` -> ``[B, k, D]``."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def score_dtype(t: Tensor) -> torch.dtype:
    """Scores and similarities are computed in at least float32 (half-precision ties change picks)."""
    return t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32


def unit(x: Tensor) -> Tensor:
    """L2-normalised along the last dimension, in at least float32."""
    x = x.to(score_dtype(x))
    out: Tensor = x / x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny ** 0.5)
    return out
