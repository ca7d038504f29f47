"""``quecc``: the query-conditioned convolutional cross-attention compressor of Li et al., "Inference
Optimal VLMs Need Only One Visual Token but Larger Models" (arXiv 2411.03312, §QueCC), written from
the paper's description.

Inputs per image (LLaVA-1.5, CLIP ViT-L/14-336: a 24 x 24 grid, E = 1024):

* ``features [B, N, E]`` -- the vision features LLaVA feeds its projector (layer -2, no [CLS]);
* ``context.multi_layer_features [B, N, M]`` -- hidden states of several vision layers
  concatenated on channels (the paper: layers 12, 16, 22, 23 -> M = 4096);
* ``context.query [B, Dq]`` -- an embedding of the user's question: the LLM's last-layer hidden
  state of the question's last token (one extra LLM pass over the question, no gradient).

Layers::

    t   = LN(Linear(Dq->E)(query))                       # text projection
    q   = LN(Linear(GELU(Linear(features + t))))         # the query is added to every visual token
    qd  = DepthwiseConv2d(kernel = stride = s)(q on the h x w grid)   -> k = (h/s)·(w/s) queries
    K,V = LN(Linear(GELU(Linear(M->E)(multi))))          # separate weights for K and V
    out = MultiheadAttention(E, heads)(qd_i, K_window_i, V_window_i)   # each query attends only to
                                                                       # the s x s window it covers

No residual and no positional embedding inside QueCC; its output (``[B, k, E]``) goes to the
LLaVA projector, which must be trained with it (paper recipe: stage 1 projector only, AdamW lr 1e-3,
cosine schedule, warmup 3 %, weight decay 0; stage 2 LLM + projector at 2e-5).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS
from ._tensor import grid_positions
from .base import CompressionContext, CompressionOutput, Compressor, CompressorCard

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
    from torch import Tensor, nn
else:
    torch = require("torch", feature="compressor quecc")
    F, nn = torch.nn.functional, torch.nn

__all__ = ["QueCC", "QueCCData", "TrainingResult", "read_quecc_config", "train_quecc"]

_FORMAT = "vlmplanner.quecc"
_FORMAT_VERSION = "1"
_DEFAULTS: dict[str, Any] = {"grid": (24, 24), "vision_dim": 1024, "multi_dim": None, "query_dim": 4096,
                             "heads": 8, "multi_layer": True}


def read_quecc_config(path: str | Path) -> dict[str, Any]:
    """The configuration stored with QueCC weights (cheap: reads the safetensors header only)."""
    safe_open = require("safetensors", feature="QueCC weights").safe_open

    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"quecc weights file {str(path)!r} does not exist", field="weights",
                              value=str(path))
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as exc:
        raise ValidationError(f"{str(path)!r} is not a safetensors file: {exc}", field="weights",
                              value=str(path)) from exc
    if metadata.get("format") != _FORMAT or "config" not in metadata:
        raise ValidationError(
            f"{str(path)!r} holds no QueCC weights saved by vlmplanner (metadata format "
            f"{metadata.get('format')!r})", field="weights", value=str(path),
        )
    config: dict[str, Any] = json.loads(metadata["config"])
    config["grid"] = tuple(config["grid"])
    return config


def _mlp(d_in: int, d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d), nn.GELU(), nn.Linear(d, d), nn.LayerNorm(d))


class QueCC(Compressor, nn.Module):
    """Trainable query-conditioned compressor (an ``nn.Module``) to k = (h/s)·(w/s) tokens.

    Without ``weights`` it is untrained: fine for :func:`train_quecc` (or ``forward`` in your own
    loop), but :meth:`compress` refuses to run unless ``allow_untrained=True`` (tests) or the module
    has been trained or loaded. ``multi_layer=False`` draws keys and values from ``features`` itself
    (then ``context.multi_layer_features`` is not needed). ``seed`` makes the initial weights
    reproducible without touching the global RNG.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["quecc"]

    def __init__(self, visual_tokens: int, *, grid: tuple[int, int] | None = None,
                 native_tokens: int | None = None, vision_dim: int | None = None,
                 multi_dim: int | None = None, query_dim: int | None = None, heads: int | None = None,
                 multi_layer: bool | None = None, weights: str | Path | None = None,
                 allow_untrained: bool = False, seed: int | None = None) -> None:
        nn.Module.__init__(self)
        given: dict[str, Any] = {"grid": grid, "vision_dim": vision_dim, "multi_dim": multi_dim, "query_dim": query_dim,
                 "heads": heads, "multi_layer": multi_layer}
        stored: dict[str, Any] = {}
        if weights is not None:
            stored = read_quecc_config(weights)                   # cheap: before building anything
            if stored["visual_tokens"] != visual_tokens:
                raise InvalidTokenCountError(
                    f"quecc weights {str(weights)!r} were trained for {stored['visual_tokens']} tokens, "
                    f"not {visual_tokens}", field="visual_tokens", value=visual_tokens,
                )
            for key, value in given.items():
                if value is not None and (tuple(value) if key == "grid" else value) != stored[key]:
                    raise ValidationError(
                        f"quecc weights {str(weights)!r} have {key}={stored[key]!r}, not {value!r}",
                        field=key, value=value,
                    )
        config: dict[str, Any] = {key: (value if value is not None else stored.get(key, _DEFAULTS[key]))
                  for key, value in given.items()}
        if grid is None and native_tokens is not None and not stored:
            side = math.isqrt(native_tokens)
            config["grid"] = (side, side) if side * side == native_tokens else config["grid"]
        Compressor.__init__(self, visual_tokens, native_tokens=native_tokens, grid=config["grid"])
        assert self.grid is not None
        for key in ("vision_dim", "query_dim", "heads"):
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(f"quecc: {key} must be a positive integer, got {value!r}",
                                      field=key, value=value)
        e = int(config["vision_dim"])
        if config["multi_dim"] is None:
            config["multi_dim"] = 4 * e if config["multi_layer"] else e
        if e % int(config["heads"]):
            raise ValidationError(f"quecc: heads ({config['heads']}) must divide vision_dim ({e})",
                                  field="heads", value=config["heads"])
        h, w = self.grid
        oh, ow = self.card.output_grid(visual_tokens, h * w, self.grid)
        self.stride = h // oh
        self.out_grid = (oh, ow)
        self.config: dict[str, Any] = {"visual_tokens": visual_tokens, **config, "grid": self.grid}
        self.allow_untrained = bool(allow_untrained)
        self.trained_from: str | None = None
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.text_projection = nn.Sequential(nn.Linear(int(config["query_dim"]), e), nn.LayerNorm(e))
            self.q_proj = _mlp(e, e)
            self.downsample = nn.Conv2d(e, e, kernel_size=self.stride, stride=self.stride, groups=e)
            self.k_proj = _mlp(int(config["multi_dim"]), e)
            self.v_proj = _mlp(int(config["multi_dim"]), e)
            self.attention = nn.MultiheadAttention(e, int(config["heads"]), batch_first=True)
        if weights is not None:
            self.load_weights(weights)

    def __repr__(self) -> str:
        c = self.config
        return (f"QueCC(visual_tokens={self.visual_tokens}, grid={c['grid']}, stride={self.stride}, "
                f"vision_dim={c['vision_dim']}, multi_dim={c['multi_dim']}, query_dim={c['query_dim']}, "
                f"heads={c['heads']}, trained={self.is_trained})")

    @property
    def required_inputs(self) -> tuple[str, ...]:
        return ("query", "multi_layer_features") if self.config["multi_layer"] else ("query",)

    @property
    def is_trained(self) -> bool:
        return self.trained_from is not None

    def mark_trained(self, source: str = "trained in-process") -> None:
        self.trained_from = source

    # -- running -------------------------------------------------------------------------------
    def validate(self, features: Tensor, context: CompressionContext) -> None:
        super().validate(features, context)
        widths = {"features": (features.shape[-1], "vision_dim")}
        assert context.query is not None
        widths["context.query"] = (context.query.shape[-1], "query_dim")
        if self.config["multi_layer"]:
            assert context.multi_layer_features is not None
            widths["context.multi_layer_features"] = (context.multi_layer_features.shape[-1], "multi_dim")
        for name, (width, key) in widths.items():
            if width != self.config[key]:
                raise ValidationError(f"quecc: {name} has width {width}; this QueCC has {key}="
                                      f"{self.config[key]}", field=name, value=width)
        weight = self.downsample.weight
        if features.device != weight.device:
            raise ValidationError(f"quecc weights are on {weight.device} but features on {features.device}; "
                                  "move the compressor with .to(device)", field="features",
                                  value=str(features.device))

    def compress(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        if not self.is_trained and not self.allow_untrained:
            raise ValidationError(
                "quecc has no trained weights: load them (weights=... / load_weights) or train it with "
                "train_quecc(); pass allow_untrained=True only for tests", field="weights", value=None,
            )
        self.validate(features, context)
        with torch.no_grad() if not self.training else torch.enable_grad():
            return self.reduce(features, context)

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        return self.forward(features, context)

    def forward(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        """The module itself, without the trained-weights guard (training loops call this)."""
        assert context.query is not None
        h, w = context.grid
        oh, ow = self.out_grid
        s = self.stride
        batch, _, e = features.shape
        dtype = self.downsample.weight.dtype
        x = features.to(dtype)
        t = self.text_projection(context.query.to(dtype)).unsqueeze(1)            # [B, 1, E]
        q = self.q_proj(x + t)                                                    # [B, N, E]
        q = self.downsample(q.transpose(1, 2).reshape(batch, e, h, w))            # [B, E, oh, ow]
        queries = q.flatten(2).transpose(1, 2).reshape(batch * oh * ow, 1, e)
        source = x
        if self.config["multi_layer"]:
            assert context.multi_layer_features is not None
            source = context.multi_layer_features.to(dtype)
        keys = self._windows(self.k_proj(source), batch)
        values = self._windows(self.v_proj(source), batch)
        out, _ = self.attention(queries, keys, values, need_weights=False)
        out = out.reshape(batch, oh * ow, e).to(features.dtype)
        centres = grid_positions(oh, ow, features.device) * s + (s - 1) / 2
        return CompressionOutput(out, centres.expand(batch, -1, -1).clone())

    def _windows(self, t: Tensor, batch: int) -> Tensor:
        """``[B, N, E]`` on the h x w grid -> ``[B·k, s·s, E]``: each output token's s x s window."""
        oh, ow = self.out_grid
        s, e = self.stride, t.shape[-1]
        t = t.reshape(batch, oh, s, ow, s, e).permute(0, 1, 3, 2, 4, 5)
        return t.reshape(batch * oh * ow, s * s, e)

    # -- weights -------------------------------------------------------------------------------
    def save_weights(self, path: str | Path) -> Path:
        """Write the weights and configuration to a safetensors file."""
        save_file = require("safetensors.torch", feature="saving QueCC weights").save_file

        path = Path(path)
        tensors = {name: t.detach().contiguous().cpu() for name, t in self.state_dict().items()}
        config = {**self.config, "grid": list(self.config["grid"])}
        save_file(tensors, str(path), metadata={"format": _FORMAT, "format_version": _FORMAT_VERSION,
                                                "config": json.dumps(config, sort_keys=True),
                                                "trained_from": self.trained_from or ""})
        return path

    def load_weights(self, path: str | Path) -> QueCC:
        """Load weights saved by :meth:`save_weights`; the stored configuration must match."""
        load_file = require("safetensors.torch", feature="loading QueCC weights").load_file

        stored = read_quecc_config(path)
        for key, value in self.config.items():
            if stored.get(key) != value:
                raise ValidationError(
                    f"quecc weights {str(path)!r} have {key}={stored.get(key)!r}; this QueCC has {value!r}",
                    field=key, value=value,
                )
        device = self.downsample.weight.device
        try:
            self.load_state_dict(load_file(str(path), device=str(device)), strict=True)
        except RuntimeError as exc:
            raise ValidationError(f"quecc weights {str(path)!r} do not fit: {exc}", field="weights",
                                  value=str(path)) from exc
        self.trained_from = str(path)
        return self

    @classmethod
    def from_weights(cls, path: str | Path, **options: Any) -> QueCC:
        """A QueCC built from the configuration stored with its weights."""
        config = read_quecc_config(path)
        return cls(int(config["visual_tokens"]), weights=path, **options)


# -- training ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueCCData:
    """A training set: ``features [M, N, E]``, ``query [M, Dq]``, ``targets [M, ...]`` and, for a
    multi-layer QueCC, ``multi_layer_features [M, N, M2]``."""

    features: Tensor
    query: Tensor
    targets: Tensor
    multi_layer_features: Tensor | None = None

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def batch(self, index: Tensor, grid: tuple[int, int]) -> tuple[Tensor, CompressionContext, Tensor]:
        multi = None if self.multi_layer_features is None else self.multi_layer_features[index]
        return (self.features[index], CompressionContext(grid, query=self.query[index],
                                                         multi_layer_features=multi), self.targets[index])


@dataclass
class TrainingResult:
    """Mean training loss per epoch, optimiser steps and wall time."""

    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0


def train_quecc(quecc: QueCC, data: QueCCData, head: nn.Module, *,
                loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None, epochs: int = 10,
                batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0, warmup: float = 0.03,
                max_grad_norm: float | None = 1.0, seed: int = 0) -> TrainingResult:
    """Train ``quecc`` jointly with ``head`` (AdamW, linear warmup then cosine decay: the paper's
    stage-1 recipe by default) and mark it trained.

    ``head(tokens [B, k, E], query [B, Dq])`` stands in for what reads the compressed tokens (in a
    VLM: projector + LLM, which also sees the question); ``loss_fn(head_output, targets)`` defaults
    to cross-entropy. Deterministic for a given ``seed`` and initial weights: batches are shuffled by
    a seeded generator and the global RNG is restored afterwards.
    """
    if not isinstance(quecc, QueCC):
        raise ValidationError(f"train_quecc trains a QueCC, got {type(quecc).__name__}", field="quecc",
                              value=type(quecc).__name__)
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValidationError(f"train_quecc: {name} must be an integer >= {low}, got {value!r}",
                                  field=name, value=value)
    if not (lr > 0 and 0 <= warmup < 1 and weight_decay >= 0):
        raise ValidationError("train_quecc: need lr > 0, 0 <= warmup < 1, weight_decay >= 0", field="lr",
                              value=lr)
    n = len(data)
    if n == 0 or any(t is not None and t.shape[0] != n for t in
                     (data.query, data.targets, data.multi_layer_features)):
        raise ValidationError("train_quecc: data tensors must share a non-empty first dimension",
                              field="data", value=n)
    assert quecc.grid is not None
    grid = quecc.grid
    probe_x, probe_ctx, _ = data.batch(torch.arange(min(n, 2)), grid)
    quecc.validate(probe_x, probe_ctx)
    loss_fn = loss_fn or F.cross_entropy
    params = [p for p in list(quecc.parameters()) + list(head.parameters()) if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    per_epoch = math.ceil(n / batch_size)
    total = per_epoch * epochs
    warm = max(1, round(warmup * total)) if warmup > 0 else 0

    def schedule(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    generator = torch.Generator().manual_seed(seed)
    result = TrainingResult()
    start = time.perf_counter()
    quecc.train()
    head.train()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for _ in range(epochs):
                order = torch.randperm(n, generator=generator)
                running = 0.0
                for i in range(per_epoch):
                    index = order[i * batch_size:(i + 1) * batch_size]
                    x, context, targets = data.batch(index, grid)
                    out = quecc.forward(x, context)
                    loss = loss_fn(head(out.features, context.query), targets)
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()  # type: ignore[no-untyped-call]
                    if max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
                    optimiser.step()
                    scheduler.step()
                    running += float(loss.detach()) * len(index)
                    result.steps += 1
                result.losses.append(running / n)
    finally:
        quecc.eval()
        head.eval()
    result.seconds = time.perf_counter() - start
    quecc.mark_trained(f"train_quecc(seed={seed}, epochs={epochs}, lr={lr})")
    return result
