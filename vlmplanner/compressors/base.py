"""The compressor interface: a card (what it is, which token counts it allows), the context a seam
supplies, and the two kinds of compressor.

THIS MODULE IS THE INTERFACE the family seams and ``instantiate()`` code against. It imports no
torch: cards and token rules are plain Python, so the planner and the CLI can check a configuration
without the heavy stack; the tensors only appear when a compressor runs.

Two kinds (``CompressorCard.kind``):

* ``pre-llm`` -- :class:`Compressor`: ``compress(features [B, N, D], context) -> CompressionOutput``
  with ``features [B, k, D]`` and ``positions [B, k, 2]`` (row, col in the original patch grid).
  Runs between the vision tower and the LLM; the k tokens then enter every LLM layer.
* ``in-llm`` -- :class:`InLLMCompressor`: every token passes LLM layers ``0..K-1``; from layer
  ``K = prune_layer`` on the seam applies its ``schedule()`` (drop points), calling
  ``choose(LayerInputs, image_slice, tokens)`` at each (FastV-style methods implement
  ``select(hidden, attention_to_image, image_slice)``, one drop of k tokens).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require

if TYPE_CHECKING:
    from torch import Tensor

    from vlmplanner.schemas import CompressorSpec

__all__ = [
    "CONTEXT_INPUTS",
    "CompressionContext",
    "CompressionOutput",
    "Compressor",
    "CompressorCard",
    "IN_LLM_INPUTS",
    "InLLMCompressor",
    "LayerInputs",
    "TokenRule",
    "expand_schedule",
]

#: Which token counts a compressor accepts for a grid of ``native`` tokens:
#: ``any`` 1..native; ``native`` exactly native (no compression); ``pool-grid`` (h/f)·(w/f) for every
#: f dividing both sides (non-overlapping windows); ``conv-grid`` the same with f >= 2 (a kernel =
#: stride convolution that must compress).
TokenRule = Literal["any", "native", "pool-grid", "conv-grid"]

#: What a seam may have to supply, with its shape, for error messages and docs.
CONTEXT_INPUTS: dict[str, str] = {
    "cls_attention": "[CLS]->patch attention of the vision tower (head mean), [B, N]",
    "keys": "the vision tower's last-layer attention keys of the N patches (head mean), [B, N, Dk]",
    "query": "an embedding of the user's text query, [B, Dq]",
    "multi_layer_features": "vision hidden states of several layers concatenated on channels, [B, N, D2]",
    "attention_to_image": "the LLM's layer K-1 attention from the last prompt token to the image "
                          "tokens, [B, heads, Timg] or [B, Timg]",
    # in-LLM group (pdrop, dart, sparsevlm): what the in-LLM hooks compute at a drop layer
    "llm_keys": "the LLM's attention keys at the layer before a drop (after RoPE, key-value heads "
                "concatenated) of every prompt token, [B, T, Dk]",
    "llm_normed_hidden": "the hidden states entering the drop layer after the LLM's final norm, [B, T, D]",
    # in-LLM, sparsevlm: the text raters' attention rows and what the raters are chosen from
    "text_attention": "the LLM's attention (head mean) at the layer before a drop from the last Tq prompt "
                      "tokens (every token after the first image, at least) to all T prompt tokens, [B, Tq, T]",
    "llm_embeddings": "the LLM's input embeddings (what enters layer 0) of the T prompt tokens present "
                      "at a drop, [B, T, D]",
}

#: The context inputs only the in-LLM hooks supply (never part of a pre-LLM CompressionContext).
IN_LLM_INPUTS: tuple[str, ...] = ("attention_to_image", "llm_keys", "llm_normed_hidden", "text_attention",
                                  "llm_embeddings")

FlopsFn = Callable[..., float]


def _no_flops(native: int, k: int, dim: int, **extra: Any) -> float:
    return 0.0


def _as_grid(grid: Any) -> tuple[int, int]:
    try:
        h, w = grid
    except (TypeError, ValueError):
        raise ValidationError(f"grid must be (rows, cols), got {grid!r}", field="grid", value=grid) from None
    if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in (h, w)):
        raise ValidationError(f"grid must be two positive integers, got {grid!r}", field="grid", value=grid)
    return int(h), int(w)


def square_grid(native: int) -> tuple[int, int]:
    """The square grid of ``native`` tokens; a ValidationError when ``native`` is not a square."""
    side = math.isqrt(native)
    if side * side != native:
        raise ValidationError(
            f"{native} tokens are not a square grid: pass grid=(rows, cols)", field="grid", value=None
        )
    return side, side


def _common_divisors(h: int, w: int) -> list[int]:
    g = math.gcd(h, w)
    return [f for f in range(1, g + 1) if g % f == 0]


@dataclass(frozen=True)
class CompressorCard:
    """What a compressor is, where it hooks in, and which token counts it accepts. No torch needed.

    ``requires`` are the context inputs (keys of :data:`CONTEXT_INPUTS`) the seam must supply and
    ``stage`` where it runs: ``input`` (on the image, before the processor: ``downsample``),
    ``pre-projector`` (on vision-tower features), ``post-projector`` (on the
    LLM-width tokens), ``either``, or ``llm-layer`` (in-llm). Which families it supports follows from
    what each family adapter's seam provides (``ModelFamily.serves``); ``families``, when given,
    narrows that further (a trained compressor's weights fit one family).
    ``flops_fn(native, k, dim, **extra)`` estimates its own work per image.
    """

    name: str
    display_name: str
    kind: Literal["pre-llm", "in-llm"]
    training: Literal["training-free", "trained"]
    families: tuple[str, ...] | None = None
    token_rule: TokenRule = "any"
    requires: tuple[str, ...] = ()
    stage: Literal["input", "pre-projector", "post-projector", "either", "llm-layer"] = "either"
    paper: str = ""
    arxiv: str = ""
    aliases: tuple[str, ...] = ()
    prune_layer: int | None = None
    description: str = ""
    flops_fn: FlopsFn = field(default=_no_flops, compare=False, repr=False)
    flops_note: str = ""

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.lower() or " " in self.name or "@" in self.name:
            raise ValidationError(
                f"a compressor name is a lower-case slug without spaces or '@', got {self.name!r}",
                field="name", value=self.name,
            )
        if self.kind not in ("pre-llm", "in-llm"):
            raise ValidationError(f"kind must be 'pre-llm' or 'in-llm', got {self.kind!r}",
                                  field="kind", value=self.kind)
        if self.training not in ("training-free", "trained"):
            raise ValidationError(f"training must be 'training-free' or 'trained', got {self.training!r}",
                                  field="training", value=self.training)
        if self.token_rule not in ("any", "native", "pool-grid", "conv-grid"):
            raise ValidationError(f"unknown token_rule {self.token_rule!r}", field="token_rule",
                                  value=self.token_rule)
        if self.families is not None and not self.families:
            raise ValidationError(f"compressor {self.name!r} supports no family", field="families",
                                  value=self.families)
        unknown = [r for r in self.requires if r not in CONTEXT_INPUTS]
        if unknown:
            raise ValidationError(f"unknown context input(s) {unknown}; known: {sorted(CONTEXT_INPUTS)}",
                                  field="requires", value=self.requires)
        if self.kind == "in-llm" and (self.prune_layer is None or self.prune_layer < 1):
            raise ValidationError(f"in-llm compressor {self.name!r} needs prune_layer >= 1",
                                  field="prune_layer", value=self.prune_layer)

    # -- token rules ---------------------------------------------------------------------------
    def allowed_tokens(self, native: int, grid: tuple[int, int] | None = None) -> list[int]:
        """Every token count this compressor accepts for ``native`` tokens (on ``grid``), ascending.

        The grid rules need the patch grid; ``None`` means the square grid of ``native``.
        """
        native = _check_native(native)
        if self.token_rule == "any":
            return list(range(1, native + 1))
        if self.token_rule == "native":
            return [native]
        h, w = self._grid(native, grid)
        factors = _common_divisors(h, w)
        if self.token_rule == "conv-grid":
            factors = [f for f in factors if f >= 2]
        return sorted({(h // f) * (w // f) for f in factors})

    def check_tokens(self, k: Any, native: int, grid: tuple[int, int] | None = None) -> int:
        """``k`` as an int when this compressor can keep k of ``native`` tokens, else
        InvalidTokenCountError naming ``visual_tokens`` and the counts that would work."""
        if isinstance(k, bool) or not isinstance(k, int):
            raise InvalidTokenCountError(
                f"visual_tokens must be an integer, got {k!r}", field="visual_tokens", value=k
            )
        if k < 1:
            raise InvalidTokenCountError(
                f"visual_tokens must be at least 1, got {k}", field="visual_tokens", value=k
            )
        native = _check_native(native)
        if k > native:
            raise InvalidTokenCountError(
                f"{self.name} cannot keep {k} visual tokens: the image has only {native}",
                field="visual_tokens", value=k,
            )
        if self.token_rule == "any":
            return k
        allowed = self.allowed_tokens(native, grid)
        if k not in allowed:
            h, w = self._grid(native, grid)
            why = {
                "native": "it does not compress, so k must equal the native count",
                "pool-grid": f"k must tile the {h}x{w} patch grid with equal windows",
                "conv-grid": f"its kernel = stride convolution must tile the {h}x{w} patch grid",
            }[self.token_rule]
            raise InvalidTokenCountError(
                f"{self.name} cannot keep {k} visual tokens: {why}; allowed: "
                + ", ".join(str(a) for a in allowed),
                field="visual_tokens", value=k,
            )
        return k

    def output_grid(self, k: int, native: int, grid: tuple[int, int] | None = None) -> tuple[int, int]:
        """For grid rules: the (rows, cols) of the k output tokens."""
        h, w = self._grid(native, grid)
        self.check_tokens(k, native, (h, w))
        for f in _common_divisors(h, w):
            if (h // f) * (w // f) == k:
                return h // f, w // f
        raise InvalidTokenCountError(f"{k} tokens do not tile a {h}x{w} grid", field="visual_tokens",
                                     value=k)  # pragma: no cover - check_tokens rejects it first

    def _grid(self, native: int, grid: tuple[int, int] | None) -> tuple[int, int]:
        if grid is None:
            return square_grid(native)
        h, w = _as_grid(grid)
        if h * w != native:
            raise ValidationError(f"grid {h}x{w} holds {h * w} tokens, not {native}", field="grid",
                                  value=grid)
        return h, w

    # -- families ------------------------------------------------------------------------------
    def supports(self, model_type: str) -> bool:
        """Whether a seam of ``model_type`` provides what this compressor needs (see ``families``)."""
        from vlmplanner.families import get_family, has_family

        if self.families is not None and model_type not in self.families:
            return False
        if not has_family(model_type):
            return False
        return get_family(model_type).serves(self.kind, self.stage, self.requires, IN_LLM_INPUTS)

    def supported_families(self) -> list[str]:
        """Every registered family this compressor can run on."""
        from vlmplanner.families import list_families

        return [f for f in list_families() if self.supports(f)]

    def check_family(self, model_type: str) -> None:
        """ValidationError (field ``model_type``) when the compressor cannot serve this family."""
        if not self.supports(model_type):
            needs = (f"it needs {', '.join(self.requires)}" if self.requires else "") + (
                f"{', ' if self.requires else 'it '}runs {self.stage}" if self.stage != "either" else "")
            raise ValidationError(
                f"compressor {self.name!r} does not support model_type {model_type!r}; it supports "
                + (", ".join(self.supported_families()) or "no registered family")
                + (f" ({needs}, which the family's seam must provide)" if needs else ""),
                field="model_type", value=model_type,
            )

    # -- cost ----------------------------------------------------------------------------------
    def flops(self, native: int, k: int, dim: int, **extra: Any) -> float:
        """FLOPs of the compressor's own work for one image (see ``flops_note``)."""
        return float(self.flops_fn(native, k, dim, **extra))

    def spec(self, **fields: Any) -> CompressorSpec:
        """This card as the catalog's CompressorSpec."""
        from vlmplanner.schemas import CompressorSpec

        data: dict[str, Any] = {
            "name": self.name, "display_name": self.display_name, "kind": self.kind,
            "training": self.training, "paper": self.paper, "arxiv": self.arxiv,
            "prune_layer": self.prune_layer, "aliases": self.aliases, "description": self.description,
        }
        data.update(fields)
        return CompressorSpec(**data)

    def with_(self, **changes: Any) -> CompressorCard:
        """A copy with some fields changed (e.g. a third party's variant of a built-in)."""
        return replace(self, **changes)


def _is_traced_size(value: Any) -> bool:
    dim = getattr(value, "dim", None)
    return callable(dim) and dim() == 0 and not value.is_floating_point()


def _check_native(native: Any) -> int:
    if _is_traced_size(native):  # a torch.jit trace (fvcore) hands shapes over as 0-d integer tensors
        native = int(native)
    if isinstance(native, bool) or not isinstance(native, int) or native < 1:
        raise ValidationError(f"native token count must be a positive integer, got {native!r}",
                              field="native_tokens", value=native)
    return native


@dataclass(frozen=True)
class CompressionContext:
    """What a seam knows about the N visual tokens besides their features.

    Only ``grid`` is always needed; each compressor's ``required_inputs`` says which of the optional
    tensors it reads (their shapes are in :data:`CONTEXT_INPUTS`).
    """

    grid: tuple[int, int]
    cls_attention: Tensor | None = None
    keys: Tensor | None = None
    query: Tensor | None = None
    multi_layer_features: Tensor | None = None

    def item(self, index: int) -> CompressionContext:
        """The context of batch element ``index`` alone (batch dimension kept, size 1)."""
        def take(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[index:index + 1]

        return CompressionContext(self.grid, take(self.cls_attention), take(self.keys), take(self.query),
                                  take(self.multi_layer_features))

    def without(self, name: str) -> CompressionContext:
        """A copy lacking one optional input (the conformance suite checks the error)."""
        if name not in CONTEXT_INPUTS or name in IN_LLM_INPUTS:
            raise ValidationError(f"unknown context input {name!r}", field="name", value=name)
        changes: dict[str, Any] = {name: None}
        return replace(self, **changes)


@dataclass(frozen=True)
class CompressionOutput:
    """``features [B, k, D]`` in the input's dtype and device; ``positions [B, k, 2]`` float32 (row,
    col) in the original grid -- fractional for pooled or merged tokens (the centroid of what was
    merged, weighted as the features were). Seams use them for Qwen2-VL's M-RoPE positions."""

    features: Tensor
    positions: Tensor


class Compressor(abc.ABC):
    """A pre-LLM visual-token compressor keeping ``visual_tokens`` (k) tokens.

    Subclasses set ``card`` and implement :meth:`reduce`; :meth:`compress` validates the inputs
    first (shapes, k against the grid, the context inputs the method needs), so ``reduce`` may
    assume them. ``native_tokens`` / ``grid`` given at construction check k before any tensor exists.
    Trainable compressors also subclass ``torch.nn.Module``.
    """

    card: ClassVar[CompressorCard]

    def __init__(self, visual_tokens: int, *, native_tokens: int | None = None,
                 grid: tuple[int, int] | None = None) -> None:
        if isinstance(visual_tokens, bool) or not isinstance(visual_tokens, int) or visual_tokens < 1:
            raise InvalidTokenCountError(
                f"visual_tokens must be a positive integer, got {visual_tokens!r}",
                field="visual_tokens", value=visual_tokens,
            )
        self.visual_tokens = visual_tokens
        self.grid = None if grid is None else _as_grid(grid)
        if native_tokens is not None and self.grid is not None and native_tokens != self.grid[0] * self.grid[1]:
            raise ValidationError(
                f"native_tokens={native_tokens} does not match grid {self.grid[0]}x{self.grid[1]}",
                field="native_tokens", value=native_tokens,
            )
        self.native_tokens = native_tokens if native_tokens is not None else (
            None if self.grid is None else self.grid[0] * self.grid[1])
        if self.native_tokens is not None:
            self.card.check_tokens(visual_tokens, self.native_tokens, self.grid)

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def required_inputs(self) -> tuple[str, ...]:
        """The context inputs this instance reads (the card's, unless configured otherwise)."""
        return self.card.requires

    @classmethod
    def flops(cls, native: int, k: int, dim: int, **extra: Any) -> float:
        """FLOPs of this compressor's own work per image (``card.flops``)."""
        return cls.card.flops(native, k, dim, **extra)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(visual_tokens={self.visual_tokens})"

    # -- the pre-LLM call ----------------------------------------------------------------------
    def compress(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        """Keep ``visual_tokens`` of the N tokens in ``features [B, N, D]``."""
        self.validate(features, context)
        out = self.reduce(features, context)
        return out

    @abc.abstractmethod
    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        """The method itself, on validated inputs."""

    def validate(self, features: Tensor, context: CompressionContext) -> None:
        """Every check :meth:`compress` makes before running; raises ValidationError subclasses."""
        require("torch", feature="compressing visual tokens")
        import torch

        if not isinstance(features, torch.Tensor) or features.dim() != 3:
            raise ValidationError(
                f"{self.name}: features must be a tensor [batch, tokens, dim], got "
                f"{getattr(features, 'shape', type(features).__name__)}",
                field="features", value=getattr(features, "shape", None),
            )
        if not features.is_floating_point():
            raise ValidationError(f"{self.name}: features must be floating point, got {features.dtype}",
                                  field="features", value=features.dtype)
        if not isinstance(context, CompressionContext):
            raise ValidationError(f"{self.name}: context must be a CompressionContext, got "
                                  f"{type(context).__name__}", field="context", value=None)
        batch, n, _ = features.shape
        h, w = _as_grid(context.grid)
        if h * w != n:
            raise ValidationError(
                f"{self.name}: context.grid {h}x{w} holds {h * w} tokens but features have {n}",
                field="context.grid", value=context.grid,
            )
        if self.grid is not None and self.grid != (h, w):
            raise ValidationError(
                f"{self.name} was built for a {self.grid[0]}x{self.grid[1]} grid, got {h}x{w}",
                field="context.grid", value=context.grid,
            )
        self.card.check_tokens(self.visual_tokens, n, (h, w))
        expected_dims = {"cls_attention": 2, "keys": 3, "query": 2, "multi_layer_features": 3}
        for name in self.required_inputs:
            value = getattr(context, name, None)
            if value is None:
                raise ValidationError(
                    f"{self.name} needs context.{name} ({CONTEXT_INPUTS[name]}); the seam did not "
                    "supply it",
                    field=f"context.{name}", value=None,
                )
            want = expected_dims[name]
            shape = tuple(value.shape)
            ok = value.dim() == want and shape[0] == batch and (name == "query" or shape[1] == n)
            if not ok:
                raise ValidationError(
                    f"{self.name}: context.{name} has shape {shape}; expected {CONTEXT_INPUTS[name]} "
                    f"with B={batch}, N={n}",
                    field=f"context.{name}", value=shape,
                )
            if value.device != features.device:
                raise ValidationError(
                    f"{self.name}: context.{name} is on {value.device} but features on {features.device}",
                    field=f"context.{name}", value=str(value.device),
                )


@dataclass(frozen=True)
class LayerInputs:
    """What the in-LLM hooks hand a compressor at one drop layer (:meth:`InLLMCompressor.choose`).

    ``hidden [B, T, D]`` enters the drop layer (T: the sequence as it is now, after earlier drops);
    the optional tensors are those of :data:`IN_LLM_INPUTS` the compressor's card requires, over the
    same T tokens; ``image_mask [B, T]`` marks every image token (all images of the row);
    ``layer`` / ``stage`` say where in the schedule this drop is.
    """

    hidden: Tensor
    attention_to_image: Tensor | None = None
    llm_keys: Tensor | None = None
    llm_normed_hidden: Tensor | None = None
    image_mask: Tensor | None = None
    layer: int = 0
    stage: int = 0
    text_attention: Tensor | None = None
    llm_embeddings: Tensor | None = None

    def item(self, index: int) -> LayerInputs:
        """The inputs of batch element ``index`` alone (batch dimension kept, size 1)."""
        def take(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[index:index + 1]

        return LayerInputs(self.hidden[index:index + 1], take(self.attention_to_image), take(self.llm_keys),
                           take(self.llm_normed_hidden), take(self.image_mask), self.layer, self.stage,
                           take(self.text_attention), take(self.llm_embeddings))


def expand_schedule(schedule: Sequence[tuple[int, int]], native: int, num_layers: int) -> list[int]:
    """Image tokens of one image at every layer ``0..num_layers-1`` under drop points ``schedule``."""
    counts, current, points = [], native, dict(schedule)
    for layer in range(num_layers):
        current = points.get(layer, current)
        counts.append(current)
    return counts


class InLLMCompressor(Compressor):
    """An in-LLM compressor: every token passes layers ``0..prune_layer-1``; from ``prune_layer`` on,
    the hooks keep the image tokens :meth:`choose` returns at each drop point of :meth:`schedule`
    (one drop at ``prune_layer`` for FastV and DART, several for PyramidDrop and SparseVLM).

    Token convention (the planner's cost model): ``visual_tokens`` k is the number of image tokens
    per image *averaged over layers prune_layer..L-1*; a one-drop method keeps exactly k.
    """

    #: Whose attention row ``attention_to_image`` is at a drop before layer L: ``previous`` -- layer
    #: L-1's, recomputed from its input (FastV); ``current`` -- layer L's own, recomputed from the
    #: input it is about to see (PyramidDrop).
    attention_layer: ClassVar[Literal["previous", "current"]] = "previous"

    def __init__(self, visual_tokens: int, *, prune_layer: int | None = None,
                 native_tokens: int | None = None, grid: tuple[int, int] | None = None) -> None:
        super().__init__(visual_tokens, native_tokens=native_tokens, grid=grid)
        layer = self.card.prune_layer if prune_layer is None else prune_layer
        if isinstance(layer, bool) or not isinstance(layer, int) or layer < 1:
            raise ValidationError(f"{self.name}: prune_layer must be an integer >= 1, got {layer!r}",
                                  field="prune_layer", value=layer)
        self.prune_layer = layer

    def __repr__(self) -> str:
        return f"{type(self).__name__}(visual_tokens={self.visual_tokens}, prune_layer={self.prune_layer})"

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        raise ValidationError(
            f"{self.name} is an in-LLM compressor: it has no pre-LLM compress(); the seam calls "
            f"select() before LLM layer {self.prune_layer}",
            field="kind", value=self.card.kind,
        )

    def compress(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        return self.reduce(features, context)

    # -- the schedule --------------------------------------------------------------------------
    def check_depth(self, num_layers: int) -> int:
        """``num_layers`` as an int when ``prune_layer`` lies inside the LLM, else ValidationError."""
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers <= self.prune_layer:
            raise ValidationError(
                f"{self.name}: prune_layer {self.prune_layer} must be below the LLM's {num_layers} layers",
                field="prune_layer", value=self.prune_layer,
            )
        return num_layers

    #: keep this share of each image's native tokens instead of k (a ``@25%`` key; the seam sets it)
    share: float | None = None

    def tokens_for(self, native: int) -> int:
        """The k of one image of ``native`` tokens: ``visual_tokens``, or the share of its own count."""
        return self.visual_tokens if self.share is None else max(1, round(self.share * native))

    def schedule(self, native: int, num_layers: int) -> list[tuple[int, int]]:
        """Drop points ``[(layer, tokens), ...]`` for one image of ``native`` tokens in an LLM of
        ``num_layers`` layers: from ``layer`` on the image keeps ``tokens``. Layers ascend from
        ``prune_layer``, tokens never grow, and the mean over layers ``prune_layer..L-1`` is k
        (``tokens_for(native)``). One drop of k tokens at ``prune_layer`` unless a subclass says otherwise."""
        native = _check_native(native)
        self.check_depth(num_layers)
        k = self.tokens_for(native)
        if k > native:
            raise InvalidTokenCountError(
                f"{self.name} cannot keep {k} visual tokens: the image has only {native}",
                field="visual_tokens", value=k,
            )
        return [(self.prune_layer, k)]

    def layer_tokens(self, native: int, num_layers: int) -> list[int]:
        """Image tokens of one image at every layer (``expand_schedule`` of :meth:`schedule`)."""
        return expand_schedule(self.schedule(native, num_layers), native, num_layers)

    # -- selection -----------------------------------------------------------------------------
    def choose(self, inputs: LayerInputs, image_slice: slice | tuple[int, int],
               tokens: int | None = None) -> Tensor:
        """Sequence indices (``LongTensor [B, tokens]``, ascending, inside ``image_slice``) of the
        image tokens to keep at a drop point; ``tokens`` defaults to k. The hooks call this; the
        default is :meth:`select` with the attention row (one drop of k tokens)."""
        if tokens is not None and tokens != self.visual_tokens and self.share is None:
            raise InvalidTokenCountError(
                f"{self.name} drops once, to k={self.visual_tokens} tokens; asked for {tokens}",
                field="visual_tokens", value=tokens,
            )
        if inputs.attention_to_image is None:
            raise ValidationError(f"{self.name} needs attention_to_image ({CONTEXT_INPUTS['attention_to_image']})",
                                  field="attention_to_image", value=None)
        return self.select(inputs.hidden, inputs.attention_to_image, image_slice)

    def choose_merged(self, inputs: LayerInputs, image_slice: slice | tuple[int, int],
                      tokens: int | None = None) -> tuple[Tensor, Tensor | None]:
        """:meth:`choose`'s indices and the hidden states the kept image slots carry on (``[B, tokens,
        D]`` in the order of the indices), or None when they keep their own -- what the hooks call.
        A method that merges tokens (SparseVLM's recycling) returns the merged states at the slots
        whose sequence positions the merged tokens take."""
        return self.choose(inputs, image_slice, tokens), None

    def select(self, hidden: Tensor, attention_to_image: Tensor,
               image_slice: slice | tuple[int, int]) -> Tensor:
        """Sequence indices (``LongTensor [B, k]``, ascending, inside ``image_slice``) of the image
        tokens to keep before layer ``prune_layer``.

        ``hidden [B, T, D]``: the hidden states entering layer ``prune_layer``;
        ``attention_to_image``: layer ``prune_layer - 1`` attention from the last prompt token to
        the image tokens, ``[B, heads, Timg]`` or ``[B, Timg]`` (a full row over T is sliced);
        ``image_slice``: where the ``Timg`` image tokens sit in the sequence. Methods that need more
        than the attention row (:data:`IN_LLM_INPUTS`) implement :meth:`choose` instead.
        """
        raise ValidationError(
            f"{self.name} needs {', '.join(self.card.requires)} from the LLM: call choose() with LayerInputs",
            field="requires", value=self.card.requires,
        )

    @staticmethod
    def sequence_keep(length: int, image_slice: slice | tuple[int, int], kept: Tensor) -> Tensor:
        """All sequence indices to keep ``[B, length - Timg + k]``: text before the image, the kept
        image tokens, text after -- what the seam gathers hidden states, positions and masks with."""
        require("torch", feature="in-LLM compression")
        import torch

        start, stop = _as_slice(image_slice, length)
        batch = kept.shape[0]
        before = torch.arange(0, start, device=kept.device).expand(batch, -1)
        after = torch.arange(stop, length, device=kept.device).expand(batch, -1)
        return torch.cat([before, kept.to(torch.long), after], dim=1)


def _as_slice(image_slice: slice | tuple[int, int] | Sequence[int], length: int) -> tuple[int, int]:
    if isinstance(image_slice, slice):
        if image_slice.step not in (None, 1):
            raise ValidationError("image_slice must be contiguous (step 1)", field="image_slice",
                                  value=image_slice)
        start, stop = image_slice.start or 0, image_slice.stop
    else:
        try:
            start, stop = image_slice
        except (TypeError, ValueError):
            raise ValidationError(f"image_slice must be a slice or (start, stop), got {image_slice!r}",
                                  field="image_slice", value=image_slice) from None
    if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop <= length):
        raise ValidationError(
            f"image_slice {start}:{stop} is not a non-empty range inside a sequence of {length}",
            field="image_slice", value=(start, stop),
        )
    return start, stop
