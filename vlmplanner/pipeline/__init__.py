"""Run a configuration: load a model and a compressor and generate text (docs/pipeline.md).

- ``load(candidate_key, *, device, dtype, checkpoint, compressor_weights, trust_remote_code, ...)``
  -> :class:`VLMPipeline` (``generate(images, prompts, **generation_kwargs) -> list[str]``).
- ``instantiate(recommendation, ...)``: the same for a planner Recommendation.
- ``wrap(model, processor, compressor, visual_tokens)``: a pipeline around a model in memory.
- ``resolve(...)``: every check load() makes before loading, as a :class:`RunPlan` (no torch).

Importing this package imports neither torch nor transformers; ``load`` and the seams do.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .resolve import RunPlan, resolve, seam_families

if TYPE_CHECKING:
    from .api import build_compressor, instantiate, load, wrap
    from .runner import VLMPipeline
    from .seams import LlavaNextSeam, LlavaSeam, QwenSeam, Seam

__all__ = [
    "LlavaNextSeam",
    "LlavaSeam",
    "QwenSeam",
    "RunPlan",
    "Seam",
    "VLMPipeline",
    "build_compressor",
    "instantiate",
    "load",
    "seam_families",
    "resolve",
    "wrap",
]

_LAZY = {
    "build_compressor": "api", "instantiate": "api", "load": "api", "wrap": "api",
    "VLMPipeline": "runner",
    "LlavaNextSeam": "seams", "LlavaSeam": "seams", "QwenSeam": "seams", "Seam": "seams",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vlmplanner.pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
