"""The in-LLM seam: pruning inside the language model as forward pre-hooks on its layers (torch).

For an :class:`~vlmplanner.compressors.InLLMCompressor` with ``prune_layer`` K, one pre-hook per
layer runs the compressor's ``schedule(native, num_layers)`` -- one drop at K for FastV and DART,
several for PyramidDrop and SparseVLM -- at prefill:

* before a drop at layer L it computes what the card requires: the last prompt token's attention
  row (``softmax(q_last·Kᵀ·scale + mask)`` recomputed from a layer's ``input_layernorm``, ``q_proj``,
  ``k_proj`` and the rotary embedding the model passes in: layer L-1's for FastV, layer L's own for
  PyramidDrop; one row instead of T², so SDPA and flash attention work), layer L-1's keys, or the
  hidden states after the final norm (DART), the attention rows of the tokens after the image and
  the LLM's input embeddings of the tokens present (SparseVLM's text raters);
* at the drop it calls ``compressor.choose()`` for every image span of every row and gathers the
  hidden states, the rotary cos/sin, the position ids and the attention mask, from the model's
  full-length arguments, with the kept prompt indices (text, kept image tokens, text); a method
  that merges (``choose_merged`` returns states) has them written into the kept slots;
* the layers after a drop get the same gathered arguments (the model passes every layer the
  full-length ones), and during decoding each layer's attention mask drops the columns its KV cache
  never held (each stage's cache holds that stage's tokens).

Pruning happens once, at prefill; decoding sees the same subsets. Kept tokens keep their original
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
from vlmplanner.compressors.base import LayerInputs, expand_schedule
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:  # a missing torch is one MissingExtraError naming the extra
    torch = require("torch", feature="in-LLM compression")

__all__ = ["InLLMHooks", "image_runs", "last_token_attention", "layer_keys", "tail_attention"]


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
    return attention_rows(parts.q_proj(x[:, -1:]), parts.k_proj(x), parts.head_dim, parts.scaling,
                          position_embeddings, attention_mask)[:, :, 0]


def tail_attention(layer: Any, hidden: Tensor, position_embeddings: tuple[Tensor, Tensor] | None,
                   attention_mask: Tensor | None, rows: int) -> Tensor:
    """``[B, rows, T]``: the head-mean attention of the last ``rows`` tokens of ``hidden [B, T, D]``
    in ``layer`` (SparseVLM's text raters are among them), recomputed from the layer's input as its
    eager attention would compute those rows, causal mask included (SDPA may pass none)."""
    parts = compat.decoder_attention(layer)
    x = parts.norm(hidden)
    length = x.shape[1]
    return projected_tail_attention(parts.q_proj(x[:, length - rows:]), parts.k_proj(x), parts.head_dim,
                                    parts.scaling, position_embeddings, attention_mask)


def projected_tail_attention(queries: Tensor, keys: Tensor, head_dim: int, scaling: float,
                             position_embeddings: tuple[Tensor, Tensor] | None,
                             attention_mask: Tensor | None) -> Tensor:
    """:func:`tail_attention` from a layer's q/k projections: ``queries [B, R, H·d]`` of the last R
    tokens and ``keys [B, T, Hkv·d]``, before RoPE (the head mean of :func:`attention_rows`)."""
    return attention_rows(queries, keys, head_dim, scaling, position_embeddings, attention_mask).mean(dim=1)


def attention_rows(queries: Tensor, keys: Tensor, head_dim: int, scaling: float,
                   position_embeddings: tuple[Tensor, Tensor] | None, attention_mask: Tensor | None) -> Tensor:
    """``[B, H, R, T]``: the eager attention probabilities of the last R tokens, from their queries
    ``[B, R, H·d]`` and every token's keys ``[B, T, Hkv·d]`` before RoPE, causal mask included (SDPA
    may pass none), in float32 at least."""
    batch, length, _ = keys.shape
    rows = queries.shape[1]
    q = queries.reshape(batch, rows, -1, head_dim).transpose(1, 2)                          # [B, H, R, d]
    k = keys.reshape(batch, length, -1, head_dim).transpose(1, 2)                           # [B, Hkv, T, d]
    if position_embeddings is not None:
        cos, sin = position_embeddings
        if cos.shape[0] != batch:
            cos, sin = cos.expand(batch, -1, -1), sin.expand(batch, -1, -1)
        q = _rope(q, cos[:, length - rows:], sin[:, length - rows:])
        k = _rope(k, cos, sin)
    dtype = torch.float32 if q.dtype not in (torch.float32, torch.float64) else q.dtype
    q, k = q.to(dtype), k.to(dtype)
    groups = q.shape[1] // k.shape[1]
    if groups > 1:
        k = k.repeat_interleave(groups, dim=1)
    scores = (q @ k.transpose(2, 3)) * scaling                                             # [B, H, R, T]
    if rows > 1:
        causal = (torch.arange(length, device=scores.device)[None, :]
                  > torch.arange(length - rows, length, device=scores.device)[:, None])       # [R, T]
        scores = scores.masked_fill(causal, float("-inf"))
    if attention_mask is not None:
        block = attention_mask[..., -rows:, :] if attention_mask.dim() == 4 else attention_mask[:, None, None, :]
        if block.shape[-1] != length:
            block = block[..., -length:]
        scores = scores.masked_fill(~block, float("-inf")) if block.dtype == torch.bool else scores + block.to(dtype)
    return torch.softmax(scores, dim=-1)


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


def layer_keys(layer: Any, hidden: Tensor, position_embeddings: tuple[Tensor, Tensor] | None) -> Tensor:
    """``[B, T, Hkv·d]``: the attention keys ``layer`` computes from ``hidden [B, T, D]`` (after
    RoPE, key-value heads concatenated) -- what its KV cache holds (DART's pivot criterion)."""
    parts = compat.decoder_attention(layer)
    x = parts.norm(hidden)
    batch, length, _ = x.shape
    k = parts.k_proj(x).view(batch, length, -1, parts.head_dim).transpose(1, 2)      # [B, Hkv, T, d]
    if position_embeddings is not None:
        cos, sin = position_embeddings
        if cos.shape[0] != batch:
            cos, sin = cos.expand(batch, -1, -1), sin.expand(batch, -1, -1)
        k = _rope(k, cos, sin)
    keys: Tensor = k.transpose(1, 2).reshape(batch, length, -1)
    return keys


class InLLMHooks:
    """Pre-hooks on ``language_model.layers`` that run an in-LLM compressor's schedule at prefill.

    One hook per layer. At prefill it (1) applies the current stage's gathered arguments, (2) at a
    drop layer of ``compressor.schedule`` asks ``compressor.choose`` which image tokens of every span
    stay and gathers again from the model's full-length arguments, (3) before a drop computes what
    the compressor needs from the layer before (its attention row, its keys), and records the
    tokens every layer from ``prune_layer`` on saw (``seen``). While decoding, each layer's mask
    drops the columns its KV cache never held.
    """

    def __init__(self, language_model: Any, compressor: InLLMCompressor, image_token_id: int) -> None:
        layers = language_model.layers
        k = compressor.prune_layer
        if k >= len(layers):
            raise ValidationError(f"{compressor.name}: prune_layer {k} must be below the LLM's {len(layers)} layers",
                                  field="prune_layer", value=k)
        self.language_model = language_model
        self.compressor = compressor
        self.prune_layer = k
        self.num_layers = len(layers)
        self.image_token_id = image_token_id
        self.requires = frozenset(compressor.card.requires)
        self.stats: dict[str, float] = {"compressor_s": 0.0}
        self._input_ids: Tensor | None = None
        self._active = False
        self._pending = False
        self._prefill = False
        self._image: Tensor | None = None          # [B, T] image-token mask of the prompt
        self._runs: list[list[tuple[int, int]]] = []  # per row, the image spans of the current sequence
        self._plan: dict[int, list[list[int]]] = {}  # drop layer -> per row, per image span: tokens after
        self._keep: Tensor | None = None          # [B, T'] prompt indices of the current sequence
        self._stage_keep: dict[int, Tensor] = {}   # drop layer -> the keep from there on (decoding)
        self._length = 0                           # T, the prompt length
        self._gathered: dict[str, Any] | None = None
        self._before: dict[str, Tensor] = {}       # computed at layer L-1 for the drop at L
        self._embeddings: Tensor | None = None     # [B, T, D] what entered layer 0 (llm_embeddings)
        self._capturing: dict[str, Any] | None = None  # q/k hooks on the layer before a drop
        self._decode_masks: dict[int, tuple[Any, Any]] = {}
        self.seen: list[tuple[int, int]] = []      # (layer, tokens) of the last prefill, for tests and reports
        self._handles = [layer.register_forward_pre_hook(partial(self._hook, index), with_kwargs=True)
                         for index, layer in enumerate(layers)]

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
            if self._capturing is not None:          # a prefill that failed between capture and drop
                for handle in self._capturing["handles"]:
                    handle.remove()
                self._capturing = None
            self._active = self._pending = self._prefill = False
            self._input_ids = self._keep = self._image = self._embeddings = None
            self._runs = []
            self._plan, self._stage_keep, self._before, self._decode_masks = {}, {}, {}, {}
            self._gathered = None

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

    def _hook(self, index: int, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
              ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        if not self._active:
            return None
        if index == 0:
            self._start(self._hidden(args, kwargs))
        if self._prefill:
            return self._prefill_layer(index, module, args, kwargs)
        return self._decode_layer(index, args, kwargs)

    def _start(self, hidden: Tensor) -> None:
        assert self._input_ids is not None
        self._gathered = None
        self._decode_masks = {}
        self._prefill = self._pending and hidden.shape[1] == self._input_ids.shape[1]
        if not self._prefill:
            return
        self._pending = False
        self._keep, self._stage_keep, self._before = None, {}, {}
        self._length = hidden.shape[1]
        self.seen = [(0, hidden.shape[1])]
        ids = self._input_ids.to(hidden.device)
        if ids.shape[0] != hidden.shape[0]:  # beams / num_return_sequences expand the batch
            ids = ids.repeat_interleave(hidden.shape[0] // ids.shape[0], dim=0)
        self._image = ids == self.image_token_id
        self._runs = [image_runs(row) for row in self._image]
        self._embeddings = hidden if "llm_embeddings" in self.requires else None
        self._plan = self._schedule()

    def _schedule(self) -> dict[int, list[list[int]]]:
        """Drop layer -> for every row, the tokens each image span keeps from that layer on."""
        per_span: list[list[list[int]]] = []                 # row -> span -> tokens per layer
        drops: set[int] = set()
        for runs in self._runs:
            spans = []
            for start, stop in runs:
                points = self.compressor.schedule(stop - start, self.num_layers)
                drops.update(layer for layer, _ in points)
                spans.append(expand_schedule(points, stop - start, self.num_layers))
            per_span.append(spans)
        return {layer: [[counts[layer] for counts in spans] for spans in per_span] for layer in sorted(drops)}

    def _prefill_layer(self, index: int, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                       ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        hidden = self._hidden(args, kwargs)
        current = kwargs if self._gathered is None else {**kwargs, **self._gathered}
        changed = self._gathered is not None
        if index in self._plan:
            start = time.perf_counter()
            inputs = self._inputs(index, module, hidden, current)
            local, merged = self._choose(index, inputs)
            keep = local if self._keep is None else torch.gather(self._keep, 1, local)
            self._keep = self._stage_keep[index] = keep
            self._gathered = {name: self._gather_argument(name, value, keep) for name, value in kwargs.items()}
            current = {**kwargs, **self._gathered}
            hidden = _gather_seq(hidden, local, 1, 0)
            for row, slot, states in merged:             # recycled tokens' merged states (SparseVLM)
                hidden[row, slot:slot + states.shape[0]] = states.to(hidden.dtype)
            changed = True
            self.stats["compressor_s"] += time.perf_counter() - start
        if index + 1 in self._plan:
            start = time.perf_counter()
            self._prepare_next(module, hidden, current)
            self.stats["compressor_s"] += time.perf_counter() - start
        if index >= self.prune_layer:
            self.seen.append((index, hidden.shape[1]))
        if not changed:
            return None
        args, current = self._with_hidden(args, current, hidden)
        return args, current

    def _prepare_next(self, module: Any, hidden: Tensor, kwargs: dict[str, Any]) -> None:
        """What the drop before the next layer needs from this one (FastV's row, DART's keys,
        SparseVLM's text rows)."""
        self._before = {}
        previous = self.compressor.attention_layer == "previous"
        wants_row = "attention_to_image" in self.requires and previous
        wants_text = "text_attention" in self.requires and previous
        if not (wants_row or wants_text or "llm_keys" in self.requires):
            return
        hidden, position_embeddings, attention_mask = compat.decoder_layer_inputs((hidden,), kwargs)
        if wants_row:
            self._before["attention_to_image"] = last_token_attention(module, hidden, position_embeddings,
                                                                      attention_mask)
        if wants_text:   # the rows come from this layer's own q/k projections as it runs (no recompute)
            self._capture(module, position_embeddings, attention_mask, self._text_rows(hidden.shape[1]))
        if "llm_keys" in self.requires:
            self._before["llm_keys"] = layer_keys(module, hidden, position_embeddings)

    def _capture(self, module: Any, position_embeddings: Any, attention_mask: Any, rows: int) -> None:
        """Keep what this layer's q_proj (its last ``rows`` tokens) and k_proj compute in its forward;
        :meth:`_captured_rows` turns them into ``text_attention`` for the drop before the next layer."""
        parts = compat.decoder_attention(module)
        store: dict[str, Any] = {"pe": position_embeddings, "mask": attention_mask, "parts": parts}

        def keep(name: str, _: Any, __: Any, output: Tensor) -> None:
            store[name] = output[:, output.shape[1] - rows:] if name == "q" else output

        store["handles"] = [parts.q_proj.register_forward_hook(partial(keep, "q")),
                            parts.k_proj.register_forward_hook(partial(keep, "k"))]
        self._capturing = store

    def _captured_rows(self) -> Tensor | None:
        store, self._capturing = self._capturing, None
        if store is None:
            return None
        for handle in store["handles"]:
            handle.remove()
        if "q" not in store or "k" not in store:
            raise ValidationError(f"{self.compressor.name}: the layer before the drop never ran its q/k projections",
                                  field="model", value=None)
        parts = store["parts"]
        return projected_tail_attention(store["q"], store["k"], parts.head_dim, parts.scaling, store["pe"],
                                        store["mask"])

    def _text_rows(self, length: int) -> int:
        """How many trailing rows ``text_attention`` holds: every token after the first image of the
        row whose first image ends earliest (known from the prompt, not traced)."""
        stops = [runs[0][1] for runs in self._runs if runs]
        return max(1, length - min(stops)) if stops else 1

    def _inputs(self, index: int, module: Any, hidden: Tensor, kwargs: dict[str, Any]) -> LayerInputs:
        row = self._before.get("attention_to_image")
        if "attention_to_image" in self.requires and self.compressor.attention_layer == "current":
            _, position_embeddings, attention_mask = compat.decoder_layer_inputs((hidden,), kwargs)
            row = last_token_attention(module, hidden, position_embeddings, attention_mask)
        normed = self.language_model.norm(hidden) if "llm_normed_hidden" in self.requires else None
        text = self._captured_rows()
        if "text_attention" in self.requires and self.compressor.attention_layer == "current":
            _, position_embeddings, attention_mask = compat.decoder_layer_inputs((hidden,), kwargs)
            text = tail_attention(module, hidden, position_embeddings, attention_mask,
                                  self._text_rows(hidden.shape[1]))
        embeddings = self._embeddings
        if embeddings is not None and self._keep is not None:
            embeddings = _gather_seq(embeddings, self._keep.to(embeddings.device), 1, 0)
        assert self._image is not None
        image = self._image
        if self._keep is not None:                         # the spans as they stand (known, not traced)
            image = torch.zeros(hidden.shape[0], hidden.shape[1], dtype=torch.bool, device=hidden.device)
            for b, runs in enumerate(self._runs):
                for start, stop in runs:
                    image[b, start:stop] = True
        stage = sorted(self._plan).index(index)
        return LayerInputs(hidden, row, self._before.get("llm_keys"), normed, image, index, stage, text,
                           embeddings)

    def _choose(self, index: int, inputs: LayerInputs) -> tuple[Tensor, list[tuple[int, int, Tensor]]]:
        """The kept prompt indices of every row ``[B, T']`` and the merged states to write into
        the gathered hidden states: (row, first slot, states [tokens, D]) per merging span."""
        assert inputs.image_mask is not None
        rows, after = [], []
        merged: list[tuple[int, int, Tensor]] = []
        for b, counts in enumerate(self._plan[index]):
            image = inputs.image_mask[b]
            one = inputs.item(b)
            runs = self._runs[b]
            shifted, removed = [], 0
            for (start, stop), tokens in zip(runs, counts):
                shifted.append((start - removed, start - removed + tokens))
                removed += stop - start - tokens
            after.append(shifted)
            if len(runs) == 1:                             # the common case: no data-dependent shapes
                if counts[0] == runs[0][1] - runs[0][0]:
                    kept, states = torch.arange(runs[0][0], runs[0][1], device=image.device)[None], None
                else:
                    kept, states = self.compressor.choose_merged(one, runs[0], counts[0])
                if states is not None:
                    merged.append((b, shifted[0][0], states[0]))
                rows.append(InLLMCompressor.sequence_keep(image.shape[0], runs[0], kept)[0])
                continue
            keep = ~image
            for run, tokens, new in zip(runs, counts, shifted):
                if tokens == run[1] - run[0]:
                    keep[run[0]:run[1]] = True
                    continue
                kept, states = self.compressor.choose_merged(one, run, tokens)
                keep[kept[0]] = True
                if states is not None:
                    merged.append((b, new[0], states[0]))
            rows.append(keep.nonzero().squeeze(1))
        self._runs = after
        if len({len(r) for r in rows}) > 1:
            raise ValidationError(
                f"{self.compressor.name}: rows of this batch keep different numbers of tokens"
                f" ({sorted({len(r) for r in rows})}); run them in separate batches",
                field="images", value=None,
            )
        return torch.stack(rows), merged

    def _decode_layer(self, index: int, args: tuple[Any, ...], kwargs: dict[str, Any]
                      ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        if self._keep is None or index < self.prune_layer:
            return None
        mask = kwargs.get("attention_mask")
        if not isinstance(mask, torch.Tensor):
            return None
        stage = max(layer for layer in self._stage_keep if layer <= index)
        cached = self._decode_masks.get(stage)
        if cached is None or cached[0] is not mask:
            kv = mask.shape[-1]
            keep = self._stage_keep[stage].to(mask.device)
            if keep.shape[0] != mask.shape[0] and mask.shape[0] % keep.shape[0] == 0:
                keep = keep.repeat_interleave(mask.shape[0] // keep.shape[0], dim=0)
            tail = torch.arange(self._length, kv, device=mask.device).expand(keep.shape[0], -1)
            cached = (mask, _gather_seq(mask, torch.cat([keep, tail], dim=1), mask.dim() - 1, 0))
            self._decode_masks[stage] = cached
        return args, {**kwargs, "attention_mask": cached[1]}

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
        for n in counts:
            k = self.compressor.tokens_for(n)
            if n < k:
                raise InvalidTokenCountError(
                    f"{self.compressor.name} cannot keep {k} visual tokens: an image gives only {n}",
                    field="visual_tokens", value=k,
                )
