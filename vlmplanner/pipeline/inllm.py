"""The in-LLM seam: FastV-style pruning as forward pre-hooks on the language model's layers (torch).

For an :class:`~vlmplanner.compressors.InLLMCompressor` with ``prune_layer`` K:

* a pre-hook on layer K-1 recomputes, at prefill, the attention row of the last prompt token
  (``softmax(q_last·Kᵀ·scale + mask)`` from that layer's ``input_layernorm``, ``q_proj``, ``k_proj``
  and the rotary embedding the model passes in) -- the same row eager attention would return, but
  one row instead of T², so it works with SDPA and flash attention;
* a pre-hook on layer K calls ``compressor.select()`` for every image span of every row, and gathers
  the hidden states, the rotary cos/sin, the position ids and the attention mask with the kept
  indices (text, kept image tokens, text: ``InLLMCompressor.sequence_keep``);
* pre-hooks on the layers after K apply the same gathered arguments (the model passes every layer
  the full-length ones), and during decoding they drop the pruned columns from the attention mask,
  because those layers' KV cache never held them.

Pruning happens once, at prefill; decoding sees the same subset. Kept tokens keep their original
positions (no RoPE re-indexing), as in FastV. The hooks do nothing unless a session is active
(:meth:`InLLMHooks.session`), so the model stays usable on its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from vlmplanner import compat
from vlmplanner.compressors import InLLMCompressor
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:  # a missing torch is one MissingExtraError naming the extra
    torch = require("torch", feature="in-LLM compression")

__all__ = ["InLLMHooks", "image_runs", "last_token_attention"]


def image_runs(mask: Tensor) -> list[tuple[int, int]]:
    """The (start, stop) of every run of True in a 1-D bool mask."""
    flags = mask.to(torch.int8).tolist()
    runs: list[tuple[int, int]] = []
    start = None
    for i, flag in enumerate([*flags, 0]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    # x [B, H, T, d]; cos / sin [B, T, d] (Llama, Qwen2 and Qwen2-VL's text model all use this form)
    return x * cos.unsqueeze(1) + _rotate_half(x) * sin.unsqueeze(1)


def last_token_attention(layer: Any, hidden: Tensor, position_embeddings: tuple[Tensor, Tensor] | None,
                         attention_mask: Tensor | None) -> Tensor:
    """``[B, heads, T]``: the attention of the last token of ``hidden [B, T, D]`` in ``layer``.

    Recomputed from the layer's input exactly as its attention would compute that row (eager).
    """
    parts = compat.decoder_attention(layer)
    x = parts.norm(hidden)
    batch, length, _ = x.shape
    head_dim = parts.head_dim
    q = parts.q_proj(x[:, -1:]).view(batch, 1, -1, head_dim).transpose(1, 2)          # [B, H, 1, d]
    k = parts.k_proj(x).view(batch, length, -1, head_dim).transpose(1, 2)             # [B, Hkv, T, d]
    if position_embeddings is not None:
        cos, sin = position_embeddings
        if cos.shape[0] != batch:
            cos, sin = cos.expand(batch, -1, -1), sin.expand(batch, -1, -1)
        q = _rope(q, cos[:, -1:], sin[:, -1:])
        k = _rope(k, cos, sin)
    dtype = torch.float32 if q.dtype not in (torch.float32, torch.float64) else q.dtype
    q, k = q.to(dtype), k.to(dtype)
    groups = q.shape[1] // k.shape[1]
    if groups > 1:
        k = k.repeat_interleave(groups, dim=1)
    scores = (q @ k.transpose(2, 3)) * parts.scaling                                         # [B, H, 1, T]
    if attention_mask is not None:
        row = attention_mask[..., -1:, :]
        if row.shape[-1] != length:
            row = row[..., -length:]
        scores = scores.masked_fill(~row, float("-inf")) if row.dtype == torch.bool else scores + row.to(dtype)
    return torch.softmax(scores, dim=-1)[:, :, 0]


def _expand(t: Tensor, batch: int, dim: int = 0) -> Tensor:
    if t.shape[dim] == batch:
        return t
    shape = list(t.shape)
    shape[dim] = batch
    return t.expand(*shape)


def _gather_seq(t: Tensor, keep: Tensor, seq_dim: int, batch_dim: int) -> Tensor:
    """``t`` with its sequence dimension indexed by ``keep [B, T']`` row by row."""
    t = _expand(t, keep.shape[0], batch_dim)
    shape = [1] * t.dim()
    shape[batch_dim] = keep.shape[0]
    shape[seq_dim] = keep.shape[1]
    index = keep.view(shape)
    target = list(t.shape)
    target[seq_dim] = keep.shape[1]
    return torch.gather(t, seq_dim, index.expand(*target))


class InLLMHooks:
    """Pre-hooks on ``language_model.layers`` that run an in-LLM compressor at prefill."""

    def __init__(self, language_model: Any, compressor: InLLMCompressor, image_token_id: int) -> None:
        layers = language_model.layers
        k = compressor.prune_layer
        if k >= len(layers):
            raise ValidationError(f"{compressor.name}: prune_layer {k} must be below the LLM's {len(layers)} layers",
                                  field="prune_layer", value=k)
        self.compressor = compressor
        self.prune_layer = k
        self.image_token_id = image_token_id
        self.stats: dict[str, float] = {"compressor_s": 0.0}
        self._input_ids: Tensor | None = None
        self._active = False
        self._pending = False
        self._prefill = False
        self._keep: Tensor | None = None          # [B, T'] kept indices of the prompt
        self._length = 0                           # T, the prompt length
        self._row: Tensor | None = None
        self._gathered: dict[str, Any] | None = None
        self._decode_mask: tuple[Any, Any] | None = None
        self.seen: list[tuple[int, int]] = []      # (layer, tokens) of the last prefill, for tests and reports
        self._handles = [layers[0].register_forward_pre_hook(self._start, with_kwargs=True),
                         layers[k - 1].register_forward_pre_hook(self._score, with_kwargs=True)]
        for index in range(k, len(layers)):
            self._handles.append(layers[index].register_forward_pre_hook(partial(self._apply, index),
                                                                         with_kwargs=True))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @contextmanager
    def session(self, input_ids: Tensor) -> Iterator[None]:
        """Prune the next prefill of the prompt ``input_ids [B, T]``; decoding steps follow."""
        self._input_ids, self._active, self._pending, self._keep = input_ids, True, True, None
        self.seen = []
        try:
            yield
        finally:
            self._active = self._pending = self._prefill = False
            self._input_ids = self._keep = self._row = None
            self._gathered = None
            self._decode_mask = None

    # -- hooks ---------------------------------------------------------------------------------
    @staticmethod
    def _hidden(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
        hidden: Tensor = args[0] if args else kwargs["hidden_states"]
        return hidden

    @staticmethod
    def _with_hidden(args: tuple[Any, ...], kwargs: dict[str, Any], hidden: Tensor
                     ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if args:
            return (hidden, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": hidden}

    def _start(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not self._active:
            return
        hidden = self._hidden(args, kwargs)
        assert self._input_ids is not None
        self._gathered = None
        self._decode_mask = None
        self._prefill = self._pending and hidden.shape[1] == self._input_ids.shape[1]
        if self._prefill:
            self.seen = [(0, hidden.shape[1])]

    def _score(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not (self._active and self._prefill):
            return
        start = time.perf_counter()
        hidden, position_embeddings, attention_mask = compat.decoder_layer_inputs(args, kwargs)
        self._row = last_token_attention(module, hidden, position_embeddings, attention_mask)
        self.stats["compressor_s"] += time.perf_counter() - start

    def _select(self, hidden: Tensor) -> Tensor:
        assert self._input_ids is not None and self._row is not None
        batch, length, _ = hidden.shape
        ids = self._input_ids.to(hidden.device)
        if ids.shape[0] != batch:  # beams / num_return_sequences expand the batch
            ids = ids.repeat_interleave(batch // ids.shape[0], dim=0)
        image = ids == self.image_token_id
        rows = []
        for b in range(batch):
            runs = image_runs(image[b])
            if len(runs) == 1:
                kept = self.compressor.select(hidden[b:b + 1], self._row[b:b + 1], runs[0])
                rows.append(InLLMCompressor.sequence_keep(length, runs[0], kept)[0])
                continue
            keep = ~image[b]
            for run in runs:
                kept = self.compressor.select(hidden[b:b + 1], self._row[b:b + 1], run)
                keep[kept[0]] = True
            rows.append(keep.nonzero().squeeze(1))
        if len({len(r) for r in rows}) > 1:
            raise ValidationError(
                f"{self.compressor.name}: rows of this batch keep different numbers of tokens"
                f" ({sorted({len(r) for r in rows})}); run them in separate batches",
                field="images", value=None,
            )
        return torch.stack(rows)

    def _apply(self, index: int, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
               ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        if not self._active:
            return None
        hidden = self._hidden(args, kwargs)
        if self._prefill:
            if self._gathered is None:                       # layer K: prune
                start = time.perf_counter()
                keep = self._select(hidden)
                self._keep, self._length = keep, hidden.shape[1]
                gathered: dict[str, Any] = {}
                for name, value in kwargs.items():
                    gathered[name] = self._gather_argument(name, value, keep)
                self._gathered = gathered
                hidden = _gather_seq(hidden, keep, 1, 0)
                self._pending = False
                self.stats["compressor_s"] += time.perf_counter() - start
            self.seen.append((index, hidden.shape[1]))
            args, _ = self._with_hidden(args, kwargs, hidden)
            return args, {**kwargs, **self._gathered}
        if self._keep is None:
            return None
        mask = kwargs.get("attention_mask")
        if not isinstance(mask, torch.Tensor):
            return None
        if self._decode_mask is None or self._decode_mask[0] is not mask:
            kv = mask.shape[-1]
            keep = self._keep.to(mask.device)
            if keep.shape[0] != mask.shape[0] and mask.shape[0] % keep.shape[0] == 0:
                keep = keep.repeat_interleave(mask.shape[0] // keep.shape[0], dim=0)
            tail = torch.arange(self._length, kv, device=mask.device).expand(keep.shape[0], -1)
            self._decode_mask = (mask, _gather_seq(mask, torch.cat([keep, tail], dim=1), mask.dim() - 1, 0))
        return args, {**kwargs, "attention_mask": self._decode_mask[1]}

    def _gather_argument(self, name: str, value: Any, keep: Tensor) -> Any:
        length = self._length
        if value is None:
            return None
        if name == "position_embeddings" and isinstance(value, tuple):
            return tuple(_gather_seq(t, keep, 1, 0) for t in value)
        if name == "position_ids" and isinstance(value, torch.Tensor):
            if value.dim() == 2:
                return _gather_seq(value, keep, 1, 0)
            if value.dim() == 3:                         # [P, B, T]
                return _gather_seq(value, keep, 2, 1)
        if name == "attention_mask":
            if not isinstance(value, torch.Tensor):
                raise ValidationError(
                    f"{self.compressor.name}: the model's attention mask is a {type(value).__name__}; the in-LLM"
                    " seam supports eager and SDPA attention (a tensor mask or none)",
                    field="attn_implementation", value=type(value).__name__,
                )
            if value.dim() == 4 and value.shape[-2] == length:     # [B, 1, T, T]: queries and keys
                value = _gather_seq(value, keep, 2, 0)
            return _gather_seq(value, keep, value.dim() - 1, 0)     # keys (or a [B, T] padding mask)
        if isinstance(value, torch.Tensor) and value.dim() >= 2 and value.shape[-1] == length:
            raise ValidationError(f"{self.compressor.name}: cannot prune the layer argument {name!r}",
                                  field="model", value=name)
        return value

    def check_tokens(self, counts: list[int]) -> None:
        """Every image span must hold at least k tokens (raised before the model runs)."""
        k = self.compressor.visual_tokens
        for n in counts:
            if n < k:
                raise InvalidTokenCountError(
                    f"{self.compressor.name} cannot keep {k} visual tokens: an image gives only {n}",
                    field="visual_tokens", value=k,
                )
