"""What the in-LLM FLOP tests share: a counter, and the two modules of a Llama decoder layer that the
in-LLM hooks read (``input_layernorm``, ``self_attn.q_proj`` / ``k_proj``)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode


def counted(run: object) -> int:
    """FLOPs FlopCounterMode counts while ``run()`` runs (matmuls; no SDPA formula needed here)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()  # type: ignore[operator]
    return int(counter.get_total_flops())


class _Attention(torch.nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.head_dim, self.scaling = dim // heads, (dim // heads) ** -0.5
        self.q_proj = torch.nn.Linear(dim, dim, bias=False)
        self.k_proj = torch.nn.Linear(dim, dim, bias=False)


class DecoderLayer(torch.nn.Module):
    """Just what the in-LLM hooks read from a Llama decoder layer."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.input_layernorm = torch.nn.Identity()
        self.self_attn = _Attention(dim, heads)
