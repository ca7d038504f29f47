"""The profiler runs a model the way ``load()`` does: through the pipeline's seam (imports torch).

A profiled configuration is a :class:`~vlmplanner.pipeline.resolve.RunPlan` (the same checks
``load()`` makes) and the family's :class:`~vlmplanner.pipeline.seams.Seam` around the model, so
every implemented compressor -- pre-LLM ones before or after the projector, FastV inside the LLM,
QueCC with its query pass -- runs, is counted and is timed on the path ``instantiate()`` returns.

Two things only the profiler adds:

* ``none`` below the native count keeps k evenly spaced projected tokens (:class:`EvenlySpaced`),
  an index selection with no arithmetic: the cost the analytic model charges ``none@k`` (full vision
  side, k tokens into the LLM), used to vary a real model's visual-token count;
* a plain callable ``compressor(features (n, d), tokens) -> (tokens, d)`` with a ``name`` is
  wrapped as a post-projector compressor (:class:`CallableCompressor`).

The runner is one ``nn.Module`` holding the model and the compressor (wrapped in
:class:`TrackedCompressor`), so FlopCounterMode's module tracker names each component by its path
(``ProfileRunner.model.lm_head``, ``ProfileRunner.compressor``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner.compressors import (
    CompressionContext,
    CompressionOutput,
    Compressor,
    CompressorCard,
    compressor_card,
)
from vlmplanner.compressors.resize import input_size, resizes_input
from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

if TYPE_CHECKING:
    import torch
    from torch import nn

    from vlmplanner.pipeline.resolve import RunPlan
    from vlmplanner.pipeline.seams import Seam

    from .requests import Request
    from .target import ProfileTarget
else:  # a missing torch is one MissingExtraError naming the extra
    torch = require("torch", feature="profiling a model")
    nn = torch.nn

__all__ = ["CallableCompressor", "EvenlySpaced", "ProfileRunner", "TrackedCompressor", "compressor_name",
           "profile_plan", "runner_for"]


def _evenly_spaced(features: torch.Tensor, k: int, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The flat indices of k evenly spaced tokens of ``features [B, N, D]`` (``floor(i·N/k)``) and
    their (row, col) positions in ``grid``, ``[B, k, 2]`` float32."""
    index = torch.div(torch.arange(k, device=features.device) * features.shape[-2], k, rounding_mode="floor")
    cols = grid[1]
    positions = torch.stack([torch.div(index, cols, rounding_mode="floor"), index % cols], dim=-1).to(torch.float32)
    return index, positions.expand(features.shape[0], -1, -1).clone()


class EvenlySpaced(Compressor):
    """``none`` below the native count: keep k evenly spaced tokens (no FLOPs), profiling only."""

    card: ClassVar[CompressorCard] = compressor_card("none").with_(
        token_rule="any", stage="post-projector",
        description="Profiling stand-in for none@k: keeps k evenly spaced tokens, an index selection.")

    def reduce(self, features: torch.Tensor, context: CompressionContext) -> CompressionOutput:
        index, positions = _evenly_spaced(features, self.visual_tokens, context.grid)
        return CompressionOutput(features.index_select(-2, index), positions)


def _callable_card(name: str) -> CompressorCard:
    return compressor_card("none").with_(
        name=name, display_name=name, aliases=(), token_rule="any", stage="post-projector",
        description="a plain callable compressor(features, tokens) given to the profiler")


class CallableCompressor(Compressor):
    """A plain callable ``fn(features (n, d), tokens) -> (tokens, d)`` with a ``name``, on each image's
    projected features. It returns no positions, so its tokens are placed at evenly spaced grid
    positions (what Qwen's M-RoPE needs)."""

    card: ClassVar[CompressorCard] = _callable_card("callable")

    def __init__(self, function: Callable[[torch.Tensor, int], torch.Tensor], name: str, visual_tokens: int) -> None:
        super().__init__(visual_tokens)
        self.function = function
        self.card = _callable_card(name)  # type: ignore[misc]  # one card per callable's name

    def reduce(self, features: torch.Tensor, context: CompressionContext) -> CompressionOutput:
        k = self.visual_tokens
        kept = [self.function(image, k) for image in features]
        for tensor in kept:
            if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != (k, features.shape[-1]):
                raise ValidationError(
                    f"compressor {self.name!r} returned {getattr(tensor, 'shape', type(tensor).__name__)};"
                    f" ({k}, {features.shape[-1]}) was asked for", field="compressor",
                    value=tuple(getattr(tensor, "shape", ())),
                )
        _, positions = _evenly_spaced(features, k, context.grid)
        return CompressionOutput(torch.stack(kept), positions)


def _real_like(value: Any) -> Any:
    """A real random tensor shaped like a FakeTensor (anything else as it is)."""
    from vlmplanner import compat

    if not compat.is_fake_tensor(value):
        return value
    if value.is_floating_point():
        return torch.rand(value.shape, dtype=value.dtype)
    return torch.zeros(value.shape, dtype=value.dtype)


class TrackedCompressor(nn.Module):
    """A compressor as a submodule of the runner, so the FLOP counters name its work ``compressor``.
    An ``nn.Module`` compressor (QueCC, a third party's) is registered under it.

    On FakeTensor features (traced FLOPs of a full-size model without weights) it runs on real
    random tensors of the same shapes: a selection's data-dependent steps (top-k indices, IQR
    outliers, positions) need values, its FLOPs are counted all the same (FlopCounterMode sees
    real tensors too), and its output goes back into the fake model as FakeTensors.
    """

    def __init__(self, compressor: Compressor) -> None:
        super().__init__()
        self.inner = compressor
        function = getattr(compressor, "function", None)
        if isinstance(function, nn.Module):  # a callable module's weights are the runner's parameters
            self.function = function

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def card(self) -> CompressorCard:
        return self.inner.card

    @property
    def visual_tokens(self) -> int:
        return self.inner.visual_tokens

    @property
    def required_inputs(self) -> tuple[str, ...]:
        return self.inner.required_inputs

    def forward(self, features: torch.Tensor, context: CompressionContext) -> CompressionOutput:
        from vlmplanner import compat

        if not compat.is_fake_tensor(features):
            return self.inner.compress(features, context)
        real = CompressionContext(context.grid, **{name: _real_like(getattr(context, name))
                                                   for name in ("cls_attention", "keys", "query",
                                                                "multi_layer_features")})
        if isinstance(self.inner, nn.Module):
            self.inner.to(dtype=features.dtype)
        out = self.inner.compress(_real_like(features), real)
        return CompressionOutput(compat.as_fake_like(features, out.features), out.positions)

    def compress(self, features: torch.Tensor, context: CompressionContext) -> CompressionOutput:
        return self(features, context)  # type: ignore[no-any-return]


def compressor_name(compressor: str | Any) -> str:
    """The catalog slug of a compressor name or callable, or a ValidationError."""
    if isinstance(compressor, str):
        if compressor == "none":
            return "none"
        from vlmplanner.compressors import resolve_name

        return resolve_name(compressor)
    given = getattr(compressor, "name", None)
    if not isinstance(given, str) or not given or "@" in given or " " in given or given != given.lower():
        raise ValidationError("a compressor object needs a `name`: its lower-case catalog slug (no spaces or '@')",
                              field="compressor", value=repr(compressor))
    if isinstance(compressor, Compressor):
        raise ValidationError(f"pass the registered name {given!r}, not a compressor instance: the profiler builds"
                              " it for each token count", field="compressor", value=given)
    if not callable(compressor):
        raise ValidationError(f"compressor {given!r} is not callable", field="compressor", value=given)
    return given


def profile_plan(target: ProfileTarget, compressor: str | Any, visual_tokens: int | None = None, *,
                 image_size: tuple[int, int] | None = None, options: dict[str, Any] | None = None,
                 weights: str | None = None) -> RunPlan:
    """The RunPlan ``load()`` would make for ``target`` with this compressor and k (None: native):
    every check on family, compressor, k and weights, before anything runs. ``none`` below the
    native count plans :class:`EvenlySpaced`; a callable plans :class:`CallableCompressor`."""
    from vlmplanner.pipeline.resolve import resolve
    from vlmplanner.schemas import Candidate

    name = compressor_name(compressor)
    native = target.native_tokens(image_size)
    k = native if visual_tokens is None else visual_tokens
    card = None
    if not isinstance(compressor, str):
        card = _callable_card(name)
    elif name == "none" and k == native:   # the model's own path, whatever this image's count
        k = target.spec.native_visual_tokens
    elif name == "none":
        card = EvenlySpaced.card
    opts = dict(options or {})
    if isinstance(compressor, str) and compressor_card(name).training == "trained" and weights is None:
        opts.setdefault("allow_untrained", True)  # cost does not depend on the weights' values
    return resolve(Candidate(model=target.name, compressor=name, visual_tokens=k), model_spec=target.spec,
                   config=target.config.to_dict(), compressor_options=opts, compressor_weights=weights,
                   card=card, in_memory=True)


def build_plan_compressor(plan: RunPlan, compressor: str | Any) -> Compressor:
    """The compressor instance of a profile plan."""
    if not isinstance(compressor, str):
        return CallableCompressor(compressor, plan.compressor, plan.compressor_tokens)
    if plan.card is EvenlySpaced.card:
        return EvenlySpaced(plan.compressor_tokens)
    from vlmplanner.pipeline.api import build_compressor

    return build_compressor(plan)


class ProfileRunner(nn.Module):
    """Prefill and decode steps of ``model`` for a Request, with the plan's seam in between.

    Both go through this module's ``forward`` so FlopCounterMode's module tracker always enters the
    root first. A prefill opens the seam's session (FastV's hooks, Qwen's compressed positions) and
    keeps it open for the decode steps that follow, as ``generate()`` does; :meth:`end` closes it.
    """

    def __init__(self, model: nn.Module, seam: Seam) -> None:
        super().__init__()
        self.model = model
        self.seam = seam
        self.compressor = TrackedCompressor(seam.compressor)
        if seam.compresses_features:  # the seam calls compress() on it: the counters see a module
            seam.compressor = self.compressor  # type: ignore[assignment]
        self._session = ExitStack()

    @property
    def plan(self) -> RunPlan:
        return self.seam.plan

    def visual_tokens(self, request: Request) -> int:
        """The k of this run: the plan's, or on the native path this image's own count."""
        return request.visual_tokens if self.plan.native else self.plan.visual_tokens

    @property
    def needs_query(self) -> bool:
        return self.seam.compresses_features and "query" in self.seam.compressor.required_inputs

    def request(self, target: ProfileTarget, *, text_tokens: int = 50, batch_size: int = 1,
                image_size: tuple[int, int] | None = None, fake_mode: Any = None) -> Request:
        """The family's dummy inputs with as many image placeholders as this seam gives the LLM."""
        from .requests import build_request

        seam = self.seam
        if resizes_input(self.plan.card):   # downsample: the request is the smaller image it feeds
            image_size = input_size(self.plan.spec, image_size, self.plan.compressor_tokens, self.plan.share)

        def placeholders(batch: dict[str, Any]) -> int | None:
            return seam.placeholders(batch, 0) if seam.compresses_features else None

        return build_request(target.family, target.config, text_tokens=text_tokens, batch_size=batch_size,
                             image_size=image_size, fake_mode=fake_mode, what=f"model {target.name!r}",
                             placeholders=placeholders)

    def query_vectors(self, request: Request) -> torch.Tensor:
        """The text query a query-conditioned compressor gets: the LLM's last hidden state over each
        row's text (image placeholders left out), as the pipeline computes it from the prompt."""
        from vlmplanner import compat

        ids = request.kwargs["input_ids"]
        text = ids[0][ids[0] != self.seam.image_token_id].unsqueeze(0).expand(ids.shape[0], -1)
        hidden: torch.Tensor = compat.vlm_part(self.model, "language_model")(input_ids=text).last_hidden_state
        return hidden[:, -1]

    def prefill(self, request: Request, *, use_cache: bool = True, query: torch.Tensor | None = None) -> Any:
        return self("prefill", request, use_cache, query)

    def decode(self, request: Request, past_key_values: Any) -> Any:
        return self("decode", request, past_key_values, None)

    def end(self) -> None:
        """Close the session the last prefill opened."""
        self._session.close()

    def close(self) -> None:
        """End the session and take the seam's hooks off the model (it is the model's own again)."""
        self.end()
        self.seam.close()

    def __enter__(self) -> ProfileRunner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def forward(self, mode: str, request: Request, extra: Any, query: torch.Tensor | None) -> Any:
        if mode == "decode":
            ids = torch.full((request.batch_size, 1), request.token_id, dtype=torch.long,
                             device=request.kwargs["input_ids"].device)
            return self.model(input_ids=ids, past_key_values=extra, use_cache=True, logits_to_keep=1)
        self.end()
        kwargs = self.llm_inputs(request, query)
        self._session = ExitStack()
        self._session.enter_context(self.seam.session(kwargs))
        return self.model(**kwargs, use_cache=bool(extra), logits_to_keep=1)

    def llm_inputs(self, request: Request, query: torch.Tensor | None = None) -> dict[str, Any]:
        """The model call's inputs: the seam's ``prepare`` of the request's batch (one image a row)."""
        vectors = query

        def query_fn(rows: list[int]) -> torch.Tensor:
            nonlocal vectors
            if vectors is None:
                vectors = self.query_vectors(request)
            return vectors[torch.as_tensor(rows, device=vectors.device)]

        return self.seam.prepare(dict(request.kwargs), [1] * request.batch_size, query_fn)


def runner_for(target: ProfileTarget, model: nn.Module, compressor: str | Any, visual_tokens: int | None = None,
               *, image_size: tuple[int, int] | None = None, options: dict[str, Any] | None = None,
               weights: str | None = None) -> ProfileRunner:
    """The runner of ``model`` (the target's, real or on fake tensors) with the seam ``load()`` builds."""
    from vlmplanner.pipeline.seams import make_seam

    plan = profile_plan(target, compressor, visual_tokens, image_size=image_size, options=options, weights=weights)
    instance = build_plan_compressor(plan, compressor)
    parameter = next(iter(model.parameters()), None)
    for module in (instance, getattr(instance, "function", None)):
        if isinstance(module, nn.Module) and parameter is not None:
            from vlmplanner import compat

            if not compat.is_fake_tensor(parameter):
                module.to(device=parameter.device, dtype=parameter.dtype)
            module.eval()
    return ProfileRunner(model, make_seam(model, instance, plan))
