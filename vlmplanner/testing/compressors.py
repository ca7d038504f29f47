"""Conformance suite for visual-token compressors (pytest), for the built-ins and for third parties.

Subclass one of the two base classes in a test module, under a name pytest collects (``Test…``),
and say how to build your compressor::

    from vlmplanner.testing.compressors import CompressorConformance

    class TestMyCompressor(CompressorConformance):
        compressor_name = "my-method"          # registered name (get_compressor), or override:

        def make_compressor(self, k, grid=None):
            return MyCompressor(k, grid=grid)

Every ``test_*`` method then runs: the card is valid and its token rule holds, the output has
exactly k tokens with the right shapes, dtype and device are kept, the result is deterministic,
a batch equals its items compressed one by one, positions lie inside the grid, bad token counts
and missing context inputs raise the documented errors, and the FLOP estimate is sane.
``test_model_still_generates`` (:meth:`CompressorConformance.check_generation`) wires the
compressor into a tiny random-weight model of every family its card supports, through the family
seam (``vlmplanner.pipeline.wrap``), generates for a batch of two prompts, and checks that the
language model receives exactly the visual tokens the compressor keeps (in-LLM: all tokens
before layer K, then at every layer the count its ``schedule()`` gives, averaging k). Override ``make_generation_compressor`` if your compressor
needs options the tiny models cannot infer, or ``generation_families`` to narrow the families.

Class attributes tune the inputs (``grids``, ``token_counts``, ``dim``, ``key_dim``,
``query_dim``, ``multi_dim``, ``batch_size``, ``dtypes``). In-LLM compressors subclass
:class:`InLLMCompressorConformance` instead.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from vlmplanner.compressors import (
    CONTEXT_INPUTS,
    CompressionContext,
    CompressionOutput,
    Compressor,
    CompressorCard,
    InLLMCompressor,
    compressor_card,
    get_compressor,
)
from vlmplanner.compressors.base import IN_LLM_INPUTS, LayerInputs
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require

__all__ = ["CompressorConformance", "InLLMCompressorConformance", "check_card", "check_generates", "spread"]


class _Torch:
    """torch, imported on first use: the suite imports (and its card checks run) without it, and
    a tensor check raises MissingExtraError naming the extra instead of a ModuleNotFoundError."""

    def __getattr__(self, name: str) -> Any:
        return getattr(require("torch", feature="the compressor conformance suite"), name)


if TYPE_CHECKING:
    import torch
else:
    torch = _Torch()


def spread(values: list[int], n: int = 3) -> list[int]:
    """Up to n values spread over a sorted list: the first, the last, and evenly in between."""
    if len(values) <= n:
        return list(values)
    picks = {values[round(i * (len(values) - 1) / (n - 1))] for i in range(n)}
    return sorted(picks)


def check_card(card: CompressorCard, native: int, grid: tuple[int, int] | None = None) -> None:
    """Assert a card is well formed and its token rule is self-consistent for one grid."""
    assert isinstance(card, CompressorCard)
    assert card.name and card.name == card.name.lower() and " " not in card.name and "@" not in card.name
    assert card.display_name
    assert card.kind in ("pre-llm", "in-llm")
    assert card.training in ("training-free", "trained")
    assert card.families is None or (card.families and all(isinstance(f, str) and f for f in card.families))
    assert card.supported_families(), f"{card.name} serves no registered family's seam"
    assert set(card.requires) <= set(CONTEXT_INPUTS)
    if card.kind == "in-llm":
        assert card.prune_layer is not None and card.prune_layer >= 1
    allowed = card.allowed_tokens(native, grid)
    assert allowed == sorted(set(allowed)), "allowed_tokens must be ascending and unique"
    assert all(1 <= k <= native for k in allowed)
    for k in allowed:
        assert card.check_tokens(k, native, grid) == k
    for bad in (0, -1, native + 1):
        with pytest.raises(InvalidTokenCountError) as info:
            card.check_tokens(bad, native, grid)
        assert info.value.field == "visual_tokens"
    for k in range(1, native + 1):
        if k not in allowed:
            with pytest.raises(InvalidTokenCountError):
                card.check_tokens(k, native, grid)
    assert card.flops(native, allowed[0], 16) >= 0
    from vlmplanner.families import list_families

    for family in list_families():
        if card.supports(family):
            card.check_family(family)
        else:
            with pytest.raises(ValidationError) as family_error:
                card.check_family(family)
            assert family_error.value.field == "model_type"


class _Base:
    compressor_name: ClassVar[str | None] = None
    options: ClassVar[dict[str, Any]] = {}
    #: patch grids to test on; a grid the card allows no token count for is skipped
    grids: ClassVar[tuple[tuple[int, int], ...]] = ((6, 6), (4, 6))
    #: None: a spread of ``card.allowed_tokens`` (smallest, largest, middle) per grid
    token_counts: ClassVar[tuple[int, ...] | None] = None
    batch_size: ClassVar[int] = 3
    dim: ClassVar[int] = 16
    seed: ClassVar[int] = 0

    @property
    def card(self) -> CompressorCard:
        if self.compressor_name is None:
            return type(self.make_compressor(1, None)).card
        return compressor_card(self.compressor_name)

    def make_compressor(self, k: int, grid: tuple[int, int] | None = None) -> Compressor:
        """Your compressor keeping k tokens (``grid`` given: of that patch grid)."""
        if self.compressor_name is None:
            raise NotImplementedError("set compressor_name or override make_compressor(k, grid)")
        options = dict(self.options)
        if grid is not None:
            options.setdefault("grid", grid)
        return get_compressor(self.compressor_name, k, **options)

    def devices(self) -> list[str]:
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    def cases(self) -> list[tuple[tuple[int, int], int]]:
        out: list[tuple[tuple[int, int], int]] = []
        for grid in self.grids:
            native = grid[0] * grid[1]
            try:
                allowed = self.card.allowed_tokens(native, grid)
            except ValidationError:
                continue
            counts = [k for k in (self.token_counts or ()) if k in allowed] or spread(allowed)
            out.extend((grid, k) for k in counts)
        assert out, "no (grid, k) case to test: adjust grids / token_counts"
        return out

    def _build(self, k: int, grid: tuple[int, int], device: str = "cpu") -> Any:
        compressor = self.make_compressor(k, grid)
        if isinstance(compressor, torch.nn.Module):
            compressor.to(device)
            compressor.eval()
        return compressor

    #: families :meth:`check_generation` runs on (None: every family the card supports that has a seam)
    generation_families: ClassVar[tuple[str, ...] | None] = None
    #: the tiny models' LLM depth in :meth:`check_generation` (deeper ones exercise multi-stage
    #: in-LLM schedules) and an in-LLM prune layer for them (None: the card's, capped at depth - 1)
    generation_layers: ClassVar[int] = 3
    generation_prune_layer: ClassVar[int | None] = None

    def make_generation_compressor(self, k: int, grid: tuple[int, int] | None, needs: dict[str, Any]) -> Compressor:
        """The compressor for a tiny model's check: ``needs`` are the options the model requires
        (``grid``; QueCC's widths and ``allow_untrained``; FastV's ``prune_layer``). With
        ``compressor_name`` set: ``get_compressor(name, k, **options, **needs)``; otherwise
        ``make_compressor(k, grid)``. Override it when your compressor needs more."""
        if self.compressor_name is None:
            return self.make_compressor(k, grid)
        return get_compressor(self.compressor_name, k, **{**self.options, **needs})

    def check_generation(self, compressor: Compressor, grid: tuple[int, int]) -> None:
        """A tiny random-weight model of each family the card supports generates with the compressor
        wired in by the family seam (``vlmplanner.pipeline.wrap``), for a batch of two prompts, and
        its language model receives exactly the visual tokens the compressor keeps."""
        card = type(compressor).card
        families = self.generation_families or tuple(card.supported_families())
        if not families:
            pytest.skip(f"{card.name} serves no registered family's seam")
        for family in families:
            check_generates(card, family, self.make_generation_compressor, layers=self.generation_layers,
                            prune_layer=self.generation_prune_layer)

    def test_model_still_generates(self) -> None:
        grid, k = self.cases()[0]
        self.check_generation(self._build(k, grid), grid)


class CompressorConformance(_Base):
    """The suite for a pre-LLM compressor (``compress(features, context)``)."""

    key_dim: ClassVar[int] = 8
    query_dim: ClassVar[int] = 12
    multi_dim: ClassVar[int] = 32
    dtypes: ClassVar[tuple[str, ...]] = ("float32", "float64", "bfloat16")

    def make_inputs(self, grid: tuple[int, int], *, batch: int | None = None,
                    dtype: torch.dtype | None = None, device: str = "cpu",
                    seed: int | None = None) -> tuple[torch.Tensor, CompressionContext]:
        """Random features and a full context (every optional input present); float32 unless
        ``dtype`` says otherwise."""
        batch = batch or self.batch_size
        dtype = torch.float32 if dtype is None else dtype
        n = grid[0] * grid[1]
        g = torch.Generator().manual_seed(self.seed if seed is None else seed)
        features = torch.randn(batch, n, self.dim, generator=g, dtype=torch.float64)
        logits = torch.randn(batch, n, generator=g, dtype=torch.float64) * 2
        context = CompressionContext(
            grid=grid,
            cls_attention=torch.softmax(logits, dim=-1).to(dtype).to(device),
            keys=torch.randn(batch, n, self.key_dim, generator=g, dtype=torch.float64).to(dtype).to(device),
            query=torch.randn(batch, self.query_dim, generator=g, dtype=torch.float64).to(dtype).to(device),
            multi_layer_features=torch.randn(batch, n, self.multi_dim, generator=g,
                                             dtype=torch.float64).to(dtype).to(device),
        )
        return features.to(dtype).to(device), context

    def _run(self, compressor: Compressor, features: torch.Tensor,
             context: CompressionContext) -> CompressionOutput:
        with torch.no_grad():
            return compressor.compress(features, context)

    # -- the suite -----------------------------------------------------------------------------
    def test_card_is_valid(self) -> None:
        card = self.card
        assert card.kind == "pre-llm"
        for grid in self.grids:
            native = grid[0] * grid[1]
            try:
                card.allowed_tokens(native, grid)
            except ValidationError:
                continue
            check_card(card, native, grid)
        compressor = self.make_compressor(self.cases()[0][1], self.cases()[0][0])
        assert isinstance(compressor, Compressor) and not isinstance(compressor, InLLMCompressor)
        assert type(compressor).card is card or compressor.card == card
        assert set(compressor.required_inputs) <= set(CONTEXT_INPUTS)

    def test_output_token_count_and_shapes(self) -> None:
        for grid, k in self.cases():
            features, context = self.make_inputs(grid)
            out = self._run(self._build(k, grid), features, context)
            assert isinstance(out, CompressionOutput)
            assert tuple(out.features.shape) == (self.batch_size, k, self.dim), (grid, k)
            assert tuple(out.positions.shape) == (self.batch_size, k, 2), (grid, k)
            assert torch.isfinite(out.features).all()

    def test_dtype_and_device_preserved(self) -> None:
        grid, k = self.cases()[0]
        for device in self.devices():
            compressor = self._build(k, grid, device)
            for name in self.dtypes:
                dtype = getattr(torch, name)
                features, context = self.make_inputs(grid, dtype=dtype, device=device)
                out = self._run(compressor, features, context)
                assert out.features.dtype == dtype, (name, out.features.dtype)
                assert out.features.device == features.device
                assert out.positions.dtype == torch.float32
                assert out.positions.device == features.device

    def test_deterministic(self) -> None:
        for grid, k in self.cases():
            features, context = self.make_inputs(grid)
            first = self._run(self._build(k, grid), features, context)
            again = self._run(self._build(k, grid), features, context)
            assert torch.equal(first.features, again.features), (grid, k)
            assert torch.equal(first.positions, again.positions), (grid, k)

    def test_batch_consistency(self) -> None:
        for grid, k in self.cases():
            compressor = self._build(k, grid)
            features, context = self.make_inputs(grid, dtype=torch.float64)
            whole = self._run(compressor, features, context)
            for i in range(self.batch_size):
                one = self._run(compressor, features[i:i + 1], context.item(i))
                torch.testing.assert_close(one.features[0], whole.features[i], rtol=1e-5, atol=1e-5)
                torch.testing.assert_close(one.positions[0], whole.positions[i], rtol=1e-5, atol=1e-5)

    def test_positions_inside_grid(self) -> None:
        for grid, k in self.cases():
            features, context = self.make_inputs(grid)
            out = self._run(self._build(k, grid), features, context)
            rows, cols = out.positions[..., 0], out.positions[..., 1]
            assert torch.isfinite(out.positions).all()
            assert (rows >= 0).all() and (rows <= grid[0] - 1).all(), (grid, k)
            assert (cols >= 0).all() and (cols <= grid[1] - 1).all(), (grid, k)

    def test_rejects_more_tokens_than_native(self) -> None:
        for grid in self.grids:
            native = grid[0] * grid[1]
            features, context = self.make_inputs(grid)
            with pytest.raises(InvalidTokenCountError) as info:
                self._run(self.make_compressor(native + 1, None), features, context)
            assert info.value.field == "visual_tokens"
            with pytest.raises(InvalidTokenCountError):
                self.make_compressor(native + 1, grid)

    def test_rejects_disallowed_token_counts(self) -> None:
        for grid in self.grids:
            native = grid[0] * grid[1]
            try:
                allowed = set(self.card.allowed_tokens(native, grid))
            except ValidationError:
                continue
            bad = [k for k in range(1, native + 1) if k not in allowed]
            if not bad:
                continue
            features, context = self.make_inputs(grid)
            for k in spread(bad):
                with pytest.raises(InvalidTokenCountError) as info:
                    self._run(self.make_compressor(k, grid), features, context)
                assert info.value.field == "visual_tokens"
                assert str(k) in str(info.value)

    def test_missing_context_inputs_are_named(self) -> None:
        grid, k = self.cases()[0]
        compressor = self._build(k, grid)
        features, context = self.make_inputs(grid)
        for name in compressor.required_inputs:
            with pytest.raises(ValidationError) as info:
                self._run(compressor, features, context.without(name))
            assert info.value.field == f"context.{name}"
            assert name in str(info.value)
        bad_grid = CompressionContext((grid[0] + 1, grid[1]), context.cls_attention, context.keys,
                                      context.query, context.multi_layer_features)
        with pytest.raises(ValidationError):
            self._run(compressor, features, bad_grid)

    def test_flops_estimate(self) -> None:
        for grid, k in self.cases():
            native = grid[0] * grid[1]
            value = type(self.make_compressor(k, grid)).flops(native, k, self.dim)
            assert isinstance(value, float) and math.isfinite(value) and value >= 0


class InLLMCompressorConformance(_Base):
    """The suite for an in-LLM compressor (``choose(LayerInputs, image_slice, tokens)`` at each drop
    point of ``schedule(native, num_layers)``; FastV-style methods implement ``select``)."""

    heads: ClassVar[int] = 4
    prefix: ClassVar[int] = 5
    suffix: ClassVar[int] = 7
    key_dim: ClassVar[int] = 8
    #: LLM depths the schedule is checked on (with the card's prune layer, when it fits)
    depths: ClassVar[tuple[int, ...]] = (32, 40, 28, 24, 12)

    def make_inputs(self, grid: tuple[int, int], *, batch: int | None = None,
                    seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor, slice]:
        """hidden [B, T, D], attention of the last token to the image tokens [B, heads, Timg], and
        where the image tokens sit."""
        batch = batch or self.batch_size
        n = grid[0] * grid[1]
        length = self.prefix + n + self.suffix
        g = torch.Generator().manual_seed(self.seed if seed is None else seed)
        hidden = torch.randn(batch, length, self.dim, generator=g, dtype=torch.float64).float()
        attention = torch.softmax(torch.randn(batch, self.heads, n, generator=g, dtype=torch.float64) * 2, -1)
        return hidden, attention.float(), slice(self.prefix, self.prefix + n)

    def make_layer_inputs(self, grid: tuple[int, int], *, batch: int | None = None,
                          seed: int | None = None) -> tuple[LayerInputs, slice]:
        """Everything the hooks can supply at a drop (:data:`IN_LLM_INPUTS`), random, and where the
        image tokens sit: the attention row of :meth:`make_inputs`, keys [B, T, key_dim], normed
        hidden states [B, T, D], the image mask, the attention rows of the tokens after the image
        [B, suffix, T] and input embeddings [B, T, D]."""
        hidden, attention, where = self.make_inputs(grid, batch=batch, seed=seed)
        batch, length, _ = hidden.shape
        g = torch.Generator().manual_seed((self.seed if seed is None else seed) + 1)
        keys = torch.randn(batch, length, self.key_dim, generator=g, dtype=torch.float64).float()
        normed = torch.randn(batch, length, self.dim, generator=g, dtype=torch.float64).float()
        image = torch.zeros(batch, length, dtype=torch.bool)
        image[:, where] = True
        rows = length - where.stop
        text = torch.softmax(torch.randn(batch, rows, length, generator=g, dtype=torch.float64) * 2, -1).float()
        embeddings = torch.randn(batch, length, self.dim, generator=g, dtype=torch.float64).float()
        return LayerInputs(hidden, attention, keys, normed, image, text_attention=text,
                           llm_embeddings=embeddings), where

    def _in_llm(self, k: int) -> InLLMCompressor:
        compressor = self.make_compressor(k)
        assert isinstance(compressor, InLLMCompressor), "an in-LLM compressor subclasses InLLMCompressor"
        return compressor

    def _uses_attention(self) -> bool:
        return "attention_to_image" in self.card.requires

    def test_card_is_valid(self) -> None:
        card = self.card
        assert card.kind == "in-llm" and card.prune_layer is not None and card.prune_layer >= 1
        assert set(card.requires) <= set(IN_LLM_INPUTS), "the in-LLM hooks supply only IN_LLM_INPUTS"
        for grid in self.grids:
            check_card(card, grid[0] * grid[1], grid)
        compressor = self._in_llm(self.cases()[0][1])
        assert isinstance(compressor, InLLMCompressor)
        assert compressor.prune_layer >= 1

    def test_selects_k_sorted_image_positions(self) -> None:
        for grid, k in self.cases():
            inputs, where = self.make_layer_inputs(grid)
            keep = self._in_llm(k).choose(inputs, where)
            assert keep.dtype == torch.long and tuple(keep.shape) == (self.batch_size, k)
            assert (keep >= where.start).all() and (keep < where.stop).all()
            assert (keep[:, 1:] > keep[:, :-1]).all(), "ascending and unique"
            full = InLLMCompressor.sequence_keep(inputs.hidden.shape[1], where, keep)
            assert full.shape == (self.batch_size, inputs.hidden.shape[1] - (where.stop - where.start) + k)

    def test_every_stage_keeps_its_count(self) -> None:
        """At every drop point of a 32-layer schedule, choose() keeps exactly the scheduled tokens of
        the image as it stands then (the previous stage's count)."""
        for grid, k in self.cases():
            compressor = self._in_llm(k)
            native = grid[0] * grid[1]
            if compressor.prune_layer >= 32:
                continue
            present = native
            for stage, (layer, tokens) in enumerate(compressor.schedule(native, 32)):
                inputs, _ = self.make_layer_inputs((1, present), seed=stage)
                where = slice(self.prefix, self.prefix + present)
                staged = replace(inputs, layer=layer, stage=stage)
                keep = compressor.choose(staged, where, tokens)
                assert tuple(keep.shape) == (self.batch_size, tokens), (grid, k, layer)
                assert (keep[:, 1:] > keep[:, :-1]).all() and (keep >= where.start).all()
                present = tokens

    def test_merged_states_fit_the_kept_slots(self) -> None:
        """``choose_merged`` keeps choose()'s indices; merged states, when given, are one per kept
        slot ``[B, tokens, D]`` in the hidden states' dtype, and finite."""
        for grid, k in self.cases():
            inputs, where = self.make_layer_inputs(grid)
            compressor = self._in_llm(k)
            keep, states = compressor.choose_merged(inputs, where)
            assert torch.equal(keep, compressor.choose(inputs, where))
            if states is not None:
                assert tuple(states.shape) == (self.batch_size, k, inputs.hidden.shape[-1])
                assert states.dtype == inputs.hidden.dtype and bool(torch.isfinite(states).all())

    def test_schedule_averages_to_k(self) -> None:
        """Drop points ascend from prune_layer inside the LLM, counts never grow and stay in 1..N,
        and their mean over layers prune_layer..L-1 is exactly k (the planner's convention)."""
        for grid, k in self.cases():
            compressor = self._in_llm(k)
            first = compressor.prune_layer
            natives = sorted({grid[0] * grid[1], 576, k})
            for depth in sorted({*self.depths, first + 1, first + 2, first + 5}):
                if depth <= first:
                    continue
                for native in natives:
                    if native < k:
                        continue
                    points = compressor.schedule(native, depth)
                    layers = [layer for layer, _ in points]
                    assert layers[0] == first and layers == sorted(set(layers)) and layers[-1] < depth
                    counts = compressor.layer_tokens(native, depth)
                    assert counts[:first] == [native] * first
                    assert all(1 <= c <= native for c in counts)
                    assert all(a >= b for a, b in itertools.pairwise(counts)), counts
                    assert sum(counts[first:]) == k * (depth - first), (depth, native, k, points)
            with pytest.raises(ValidationError) as info:
                compressor.schedule(grid[0] * grid[1], first)
            assert info.value.field == "prune_layer"

    def test_deterministic(self) -> None:
        for grid, k in self.cases():
            inputs, where = self.make_layer_inputs(grid)
            assert torch.equal(self._in_llm(k).choose(inputs, where), self._in_llm(k).choose(inputs, where))

    def test_batch_consistency(self) -> None:
        for grid, k in self.cases():
            inputs, where = self.make_layer_inputs(grid)
            compressor = self._in_llm(k)
            whole = compressor.choose(inputs, where)
            for i in range(self.batch_size):
                one = compressor.choose(inputs.item(i), where)
                assert torch.equal(one[0], whole[i])

    def test_attention_layouts_agree(self) -> None:
        """Per-head [B, H, Timg], head-mean [B, Timg] and a full row [B, H, T] give the same pick."""
        if not self._uses_attention():
            pytest.skip(f"{self.card.name} reads no attention row")
        grid, k = self.cases()[0]
        hidden, attention, where = self.make_inputs(grid)
        compressor = self._in_llm(k)
        per_head = compressor.select(hidden, attention, where)
        assert torch.equal(per_head, compressor.select(hidden, attention.mean(1), where))
        row = torch.zeros(attention.shape[0], attention.shape[1], hidden.shape[1])
        row[..., where] = attention
        assert torch.equal(per_head, compressor.select(hidden, row, where))
        assert torch.equal(per_head, compressor.choose(LayerInputs(hidden, row), where))

    def test_rejects_more_tokens_than_native(self) -> None:
        grid = self.grids[0]
        inputs, where = self.make_layer_inputs(grid)
        with pytest.raises(InvalidTokenCountError):
            self._in_llm(grid[0] * grid[1] + 1).choose(inputs, where)
        with pytest.raises(InvalidTokenCountError):
            self._in_llm(grid[0] * grid[1] + 1).schedule(grid[0] * grid[1], 32)

    def test_rejects_malformed_inputs(self) -> None:
        grid, k = self.cases()[0]
        inputs, where = self.make_layer_inputs(grid)
        compressor = self._in_llm(k)
        if self._uses_attention():
            assert inputs.attention_to_image is not None
            with pytest.raises(ValidationError):
                compressor.select(inputs.hidden, inputs.attention_to_image[..., :-1], where)
        with pytest.raises(ValidationError):
            compressor.choose(inputs, slice(0, inputs.hidden.shape[1] + 1))
        for name in self.card.requires:
            with pytest.raises(ValidationError) as info:
                compressor.choose(replace(inputs, **{name: None}), where)  # type: ignore[arg-type]
            assert name in str(info.value.field) and name in str(info.value), name
        with pytest.raises(ValidationError) as info:
            compressor.compress(inputs.hidden, CompressionContext(grid))
        assert info.value.field == "kind"


_TINY: dict[tuple[str, int], Any] = {}
#: the tiny models' image: LLaVA 4x4 patches; LLaVA-NeXT and -OneVision 1 base + 2x2 tiles of 4x4 (8 newline rows);
#: Qwen 4x4 merged tokens
_GENERATION_IMAGE = (112, 112)


def _tiny(family: str, layers: int = 3) -> Any:
    if (family, layers) not in _TINY:
        from vlmplanner.families import get_family

        _TINY[family, layers] = get_family(family).build_tiny(seed=0, text_config={"num_hidden_layers": layers})
    return _TINY[family, layers]


def check_generates(card: CompressorCard, family: str, make: Any, *, layers: int = 3,
                    prune_layer: int | None = None) -> None:
    """The body of :meth:`_Base.check_generation` for one family (``make(k, grid, needs)`` builds the
    compressor) on a tiny model whose LLM has ``layers`` layers. For an in-LLM compressor every layer
    from ``prune_layer`` on must see exactly the image tokens its ``schedule`` says, and those
    counts must average exactly k."""
    import numpy as np

    from vlmplanner.families import get_family
    from vlmplanner.pipeline import wrap

    Image = require("PIL.Image", feature="the conformance suite's generation check")

    tiny = _tiny(family, layers)
    vision = tiny.config.vision_config
    adapter = get_family(family)
    follows_image = adapter.token_shares   # native resolution: the merged grid follows the image
    if follows_image:
        spec = adapter.spec_from_config(tiny.config.to_dict(), checkpoint=f"tiny/{family}", source="tiny")
        height, width = adapter.vision_profile(spec, _GENERATION_IMAGE).image   # as the processor resizes it
        factor = vision.patch_size * vision.spatial_merge_size
        grid = (height // factor, width // factor)
    else:
        grid = adapter.crop_grid(adapter.spec_from_config(tiny.config.to_dict(), checkpoint=f"tiny/{family}",
                                                          source="tiny"))
    native = grid[0] * grid[1]
    allowed = card.allowed_tokens(native, grid)
    k = native if card.token_rule == "native" else spread(allowed)[len(spread(allowed)) // 2]
    needs: dict[str, Any] = {}
    if not follows_image:
        needs["grid"] = grid
    if card.kind == "in-llm":
        needs.pop("grid", None)
        needs["prune_layer"] = prune_layer or min(card.prune_layer or 1, tiny.config.text_config.num_hidden_layers - 1)
    if card.training == "trained":
        needs.update(allow_untrained=True, seed=0)
    if card.name == "quecc":
        needs.update(vision_dim=vision.hidden_size, query_dim=tiny.config.text_config.hidden_size)
    compressor = make(k, needs.get("grid"), needs)
    pipeline = wrap(tiny.model, tiny.processor, compressor)
    lengths: list[int] = []

    def record(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        embeds = kwargs.get("inputs_embeds")
        if embeds is not None:
            lengths.append(int(embeds.shape[1]))

    from vlmplanner.compat import vlm_part

    handle = vlm_part(tiny.model, "language_model").register_forward_pre_hook(record, with_kwargs=True)
    try:
        rng = np.random.RandomState(0)
        images = [Image.fromarray(rng.randint(0, 255, (*_GENERATION_IMAGE, 3), dtype=np.uint8)) for _ in range(2)]
        prompts = ["what is in the picture ?", "describe it ."]
        answers = pipeline.generate(images, prompts, max_new_tokens=2, do_sample=False)
        assert isinstance(answers, list) and len(answers) == 2 and all(isinstance(a, str) for a in answers)
        batch = pipeline.encode(images, prompts)
        assert lengths and lengths[0] == batch["input_ids"].shape[1], (family, lengths)
        visual = pipeline.visual_tokens(images, prompts)
        if card.kind == "in-llm" or card.token_rule == "native":
            expected = tiny.family.visual_tokens(
                tiny.family.spec_from_config(tiny.config.to_dict(), checkpoint="tiny/model", source="tiny"),
                _GENERATION_IMAGE)
        elif (layout := adapter.vision_profile(adapter.spec_from_config(
                tiny.config.to_dict(), checkpoint="tiny/model", source="tiny"), _GENERATION_IMAGE)).row_tokens:
            expected = layout.crops * k + layout.row_tokens   # anyres: k per crop, a newline per grid row
        else:
            expected = k
        assert visual == [expected, expected], (card.name, family, visual, expected)
        if card.kind == "in-llm":
            seen = dict(pipeline.seam.llm_tokens_seen())
            first, depth = compressor.prune_layer, tiny.config.text_config.num_hidden_layers
            counts = compressor.layer_tokens(expected, depth)
            assert sorted(seen) == [0, *range(first, depth)], (family, seen)
            for layer in range(first, depth):            # one image per prompt: text + its tokens
                assert seen[layer] == seen[0] - expected + counts[layer], (family, layer, seen, counts)
            assert sum(counts[first:]) == k * (depth - first), (family, counts, k)
    finally:
        handle.remove()
        pipeline.close()
