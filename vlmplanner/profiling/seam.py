"""The compressor seam, and the module every counter and timer runs a request through.

A compressor is any callable ``compressor(features, tokens) -> features`` with a ``name`` (the
catalog slug used in candidate keys): ``features`` are one image's projected visual features,
shape ``(n, d)``, and the result has shape ``(tokens, d)``. It runs between the projector and the
LLM (a pre-LLM compressor). An ``nn.Module`` compressor is a submodule of the runner, so the FLOP
counters attribute its work to the ``compressor`` component; a plain function is wrapped so it is too.

Until compressors land, the only one is ``none``: at the native token count it is not called at
all (the model runs its own forward pass); asked for fewer tokens it keeps k evenly spaced tokens,
an index selection with no arithmetic, so the LLM sees k tokens and the vision tower and projector
still run on the full image, which is what the analytic model charges ``none@k``.

This module imports torch; import it only where torch is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from vlmplanner.errors import ValidationError

from .requests import Request

__all__ = ["Compressor", "KeepEvenlySpaced", "Runner", "VlmPlannerRunner", "resolve_compressor"]


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


def resolve_compressor(compressor: str | Any) -> tuple[str, nn.Module]:
    """(catalog name, module) for a compressor name or object."""
    if isinstance(compressor, str):
        if compressor == "none":
            return "none", KeepEvenlySpaced()
        raise ValidationError(
            f"compressor {compressor!r} has no runnable implementation yet (compressors arrive in a later"
            " release; only 'none' runs now); pass a compressor object to the Python API to profile your own",
            field="compressor", value=compressor,
        )
    name = getattr(compressor, "name", None)
    if not isinstance(name, str) or not name or "@" in name or " " in name or name != name.lower():
        raise ValidationError("a compressor object needs a `name`: its lower-case catalog slug (no spaces or '@')",
                              field="compressor", value=repr(compressor))
    if not callable(compressor):
        raise ValidationError(f"compressor {name!r} is not callable", field="compressor", value=name)
    module = compressor if isinstance(compressor, nn.Module) else _CallableCompressor(compressor, name)
    return name, module


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
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        model: Any = self.model
        features = model.get_image_features(**request.vision)
        pooled = features.pooler_output if hasattr(features, "pooler_output") else features
        kept = [self.compressor(f, request.visual_tokens) for f in pooled]
        for tensor in kept:
            if tensor.shape[-2] != request.visual_tokens:
                raise ValidationError(
                    f"compressor {getattr(self.compressor, 'name', '?')!r} returned {tensor.shape[-2]} tokens,"
                    f" {request.visual_tokens} were asked for", field="compressor", value=tuple(tensor.shape),
                )
        output = BaseModelOutputWithPooling(pooler_output=kept)  # type: ignore[arg-type]  # a list per image
        return {**request.kwargs, "mm_encoder_outputs": {"image": output}}


Runner = VlmPlannerRunner
