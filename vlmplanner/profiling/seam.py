"""The compressor seam, and the module every counter and timer runs a request through.

A compressor is any callable ``compressor(features, tokens) -> features`` with a ``name`` (the
catalog slug used in candidate keys): ``features`` are one image's projected visual features,
shape ``(n, d)``, and the result has shape ``(tokens, d)``. It runs between the projector and the
LLM (a pre-LLM compressor). An ``nn.Module`` compressor is a submodule of the runner, so the FLOP
counters attribute its work to the ``compressor`` component; a plain function is wrapped so it is too.

``none`` at the native token count is not called at all (the model runs its own forward pass);
asked for fewer tokens it keeps k evenly spaced tokens, an index selection with no arithmetic, so
the LLM sees k tokens and the vision tower and projector still run on the full image, which is what
the analytic model charges ``none@k``.

A built-in compressor by name (``pool``, ``divprune``, or a third party's registered one) runs here
when it works on the projected features alone: its card requires no context from the model and its
stage allows the LLM input. The others (the [CLS]-attention methods, FastV inside the LLM, QueCC
with its query pass) need hooks into the model that only ``vlmplanner.pipeline`` installs; time
them through a pipeline (``bench/bench_compression.py`` does).

This module needs torch: imported without it, it raises MissingExtraError naming the extra.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from vlmplanner import compat
from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from .requests import Request

if TYPE_CHECKING:
    import torch
    from torch import nn
else:  # a missing torch is one MissingExtraError naming the extra
    torch = require("torch", feature="profiling a model")
    nn = torch.nn

__all__ = ["Compressor", "KeepEvenlySpaced", "RegisteredCompressor", "Runner", "VlmPlannerRunner", "check_profilable",
           "resolve_compressor"]


@runtime_checkable
class Compressor(Protocol):
    """A pre-LLM visual-token compressor: one image's projected features (n, d) -> (tokens, d)."""

    name: str

    def __call__(self, features: torch.Tensor, tokens: int) -> torch.Tensor: ...


class KeepEvenlySpaced(nn.Module):
    """``none`` below the native count: keep ``tokens`` evenly spaced tokens (no FLOPs)."""

    name = "none"

    def forward(self, features: torch.Tensor, tokens: int) -> torch.Tensor:
        n = features.shape[-2]
        index = torch.div(torch.arange(tokens, device=features.device) * n, tokens, rounding_mode="floor")
        return features.index_select(-2, index)


class _CallableCompressor(nn.Module):
    """Wraps a plain function so the module tracker sees a ``compressor`` module around it."""

    def __init__(self, function: Callable[[torch.Tensor, int], torch.Tensor], name: str) -> None:
        super().__init__()
        self.function = function
        self.name = name

    def forward(self, features: torch.Tensor, tokens: int) -> torch.Tensor:
        return self.function(features, tokens)


class RegisteredCompressor(nn.Module):
    """A registered compressor on one image's projected features ``(n, d)``: built for each k it is
    asked for (``get_compressor``), on the square token grid (``grids`` overrides it per call)."""

    def __init__(self, name: str, model_type: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.model_type = model_type
        self._built: dict[tuple[int, tuple[int, int]], Any] = {}
        self.grid: tuple[int, int] | None = None  # set by the runner when the family knows it

    def forward(self, features: torch.Tensor, tokens: int) -> torch.Tensor:
        from vlmplanner.compressors import CompressionContext, get_compressor

        n = int(features.shape[-2])
        grid = self.grid if self.grid is not None and self.grid[0] * self.grid[1] == n else _square(n, self.name)
        key = (tokens, grid)
        if key not in self._built:
            self._built[key] = get_compressor(self.name, tokens, grid=grid, model_type=self.model_type)
        out = self._built[key].compress(features.unsqueeze(0), CompressionContext(grid))
        return out.features[0]  # type: ignore[no-any-return]


def _square(n: int, name: str) -> tuple[int, int]:
    from vlmplanner.compressors.base import square_grid

    try:
        return square_grid(n)
    except ValidationError:
        raise ValidationError(f"compressor {name!r} needs the token grid, and {n} features per image are not a"
                              " square grid; profile this model with compressor 'none' or time it through"
                              " vlmplanner.pipeline", field="compressor", value=name) from None


def check_profilable(name: str) -> str:
    """The canonical name of a registered compressor the profiler can run, else a ValidationError."""
    from vlmplanner.compressors import compressor_card

    card = compressor_card(name)
    if card.requires or card.stage not in ("post-projector", "either"):
        needs = (f"needs {', '.join(card.requires)} from the model" if card.requires
                 else f"runs at stage {card.stage}")
        raise ValidationError(
            f"compressor {card.name!r} {needs}, which only vlmplanner.pipeline's hooks supply; the profiler runs"
            " compressors on the projected features alone (none, pool, divprune, ...). Time it through"
            " vlmplanner.pipeline (bench/bench_compression.py shows how)", field="compressor", value=name,
        )
    return card.name


def resolve_compressor(compressor: str | Any, model_type: str | None = None) -> tuple[str, nn.Module]:
    """(catalog name, module) for a compressor name or object."""
    if isinstance(compressor, str):
        if compressor == "none":
            return "none", KeepEvenlySpaced()
        name = check_profilable(compressor)
        if model_type is not None:
            from vlmplanner.compressors import compressor_card

            compressor_card(name).check_family(model_type)
        return name, RegisteredCompressor(name, model_type)
    given = getattr(compressor, "name", None)
    if not isinstance(given, str) or not given or "@" in given or " " in given or given != given.lower():
        raise ValidationError("a compressor object needs a `name`: its lower-case catalog slug (no spaces or '@')",
                              field="compressor", value=repr(compressor))
    if not callable(compressor):
        raise ValidationError(f"compressor {given!r} is not callable", field="compressor", value=given)
    module = compressor if isinstance(compressor, nn.Module) else _CallableCompressor(compressor, given)
    return given, module


class VlmPlannerRunner(nn.Module):
    """Runs prefill and decode steps of ``model`` for a Request, with the compressor in between.

    Both go through this module's ``forward`` so FlopCounterMode's module tracker always enters
    the root first and names every submodule by its path (``VlmPlannerRunner.model.lm_head``).
    """

    def __init__(self, model: nn.Module, compressor: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.compressor = compressor

    def prefill(self, request: Request, *, use_cache: bool = True) -> Any:
        return self("prefill", request, use_cache)

    def decode(self, request: Request, past_key_values: Any) -> Any:
        return self("decode", request, past_key_values)

    def forward(self, mode: str, request: Request, extra: Any) -> Any:
        if mode == "decode":
            ids = torch.full((request.batch_size, 1), request.token_id, dtype=torch.long,
                             device=request.kwargs["input_ids"].device)
            return self.model(input_ids=ids, past_key_values=extra, use_cache=True, logits_to_keep=1)
        return self.model(**self.llm_inputs(request), use_cache=bool(extra), logits_to_keep=1)

    def llm_inputs(self, request: Request) -> dict[str, Any]:
        """The LLM call's inputs: the request's, plus the compressed features on the features path."""
        if request.vision is None:
            return request.kwargs
        model: Any = self.model
        pooled = compat.image_features(model, **request.vision)
        grids = _grids(request, model)
        kept = []
        for index, f in enumerate(pooled):
            if isinstance(self.compressor, RegisteredCompressor):
                self.compressor.grid = grids[index] if grids else None
            kept.append(self.compressor(f, request.visual_tokens))
        for tensor in kept:
            if tensor.shape[-2] != request.visual_tokens:
                raise ValidationError(
                    f"compressor {getattr(self.compressor, 'name', '?')!r} returned {tensor.shape[-2]} tokens,"
                    f" {request.visual_tokens} were asked for", field="compressor", value=tuple(tensor.shape),
                )
        return {**request.kwargs, **compat.encoder_outputs(model, kept)}


def _grids(request: Request, model: Any) -> list[tuple[int, int]] | None:
    """Each image's token grid after the merge, when the request says (Qwen's image_grid_thw)."""
    thw = (request.vision or {}).get("image_grid_thw")
    if thw is None:
        return None
    merge = int(getattr(model.config.vision_config, "spatial_merge_size", 1))
    return [(int(t) * int(h) // merge, int(w) // merge) for t, h, w in thw.tolist()]


Runner = VlmPlannerRunner
