"""Visual-token compressors: the interface, the registry and the built-in methods.

Importing this package, looking up cards (``compressor_card``), listing (``list_compressors``) and
checking token counts or families import no torch. ``get_compressor`` imports the implementation.

Built-ins (catalog slugs): ``none``, ``pool``, ``cls-topk`` (FasterVLM), ``visionzip``,
``prumerge+``, ``divprune``, ``fastv`` (in-LLM) and ``quecc`` (trained); the baselines ``random``,
``spatial-sampling`` and ``sequential-sampling``, and the merging ``prumerge`` and ``tome``
(ToMe); the text-conditioned ``cdpruner`` (CDPruner), ``mmtok`` (MMTok) and ``trim``
(TRIM); the in-LLM ``pdrop`` (PyramidDrop, in stages) and ``dart`` (DART, attention-free);
the in-LLM ``sparsevlm`` (SparseVLM: text raters, three stages, recycling).
Third parties add theirs
with :func:`register_compressor` or the entry-point group ``vlmplanner.compressors``. See
docs/compressors.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._cards import BUILTIN_CARDS
from .base import (
    CONTEXT_INPUTS,
    CompressionContext,
    CompressionOutput,
    Compressor,
    CompressorCard,
    InLLMCompressor,
)
from .registry import (
    BUILTIN_COMPRESSORS,
    ENTRY_POINT_GROUP,
    compressor_card,
    get_compressor,
    list_compressors,
    register_compressor,
    reset_registry,
    resolve_name,
    unregister_compressor,
)

if TYPE_CHECKING:
    from .attention import ClsTopK, PruMergePlus, VisionZip
    from .dart import DART
    from .diversity import DivPrune
    from .fastv import FastV
    from .merging import PruMerge, ToMe
    from .pdrop import PyramidDrop
    from .quecc import QueCC, QueCCData, TrainingResult, train_quecc
    from .sampling import RandomPruning, SequentialSampling, SpatialSampling
    from .simple import NoCompression, PoolCompressor
    from .sparsevlm import SparseVLM
    from .textcond import TRIM, CDPruner, MMTok

__all__ = [
    "BUILTIN_CARDS",
    "BUILTIN_COMPRESSORS",
    "CDPruner",
    "CONTEXT_INPUTS",
    "DART",
    "ENTRY_POINT_GROUP",
    "ClsTopK",
    "CompressionContext",
    "CompressionOutput",
    "Compressor",
    "CompressorCard",
    "DivPrune",
    "FastV",
    "InLLMCompressor",
    "MMTok",
    "NoCompression",
    "PoolCompressor",
    "PruMerge",
    "PruMergePlus",
    "PyramidDrop",
    "QueCC",
    "QueCCData",
    "RandomPruning",
    "SequentialSampling",
    "SparseVLM",
    "SpatialSampling",
    "TRIM",
    "ToMe",
    "TrainingResult",
    "VisionZip",
    "compressor_card",
    "get_compressor",
    "list_compressors",
    "register_compressor",
    "reset_registry",
    "resolve_name",
    "train_quecc",
    "unregister_compressor",
]

# Implementations (they import torch), resolved on first attribute access.
_LAZY: dict[str, str] = {
    "ClsTopK": "vlmplanner.compressors.attention",
    "VisionZip": "vlmplanner.compressors.attention",
    "PruMergePlus": "vlmplanner.compressors.attention",
    "DivPrune": "vlmplanner.compressors.diversity",
    "FastV": "vlmplanner.compressors.fastv",
    "NoCompression": "vlmplanner.compressors.simple",
    "PoolCompressor": "vlmplanner.compressors.simple",
    "QueCC": "vlmplanner.compressors.quecc",
    "QueCCData": "vlmplanner.compressors.quecc",
    "TrainingResult": "vlmplanner.compressors.quecc",
    "train_quecc": "vlmplanner.compressors.quecc",
    "PruMerge": "vlmplanner.compressors.merging",
    "ToMe": "vlmplanner.compressors.merging",
    "RandomPruning": "vlmplanner.compressors.sampling",
    "SpatialSampling": "vlmplanner.compressors.sampling",
    "SequentialSampling": "vlmplanner.compressors.sampling",
    "CDPruner": "vlmplanner.compressors.textcond",
    "MMTok": "vlmplanner.compressors.textcond",
    "TRIM": "vlmplanner.compressors.textcond",
    "PyramidDrop": "vlmplanner.compressors.pdrop",  # group "inllm"
    "DART": "vlmplanner.compressors.dart",
    "SparseVLM": "vlmplanner.compressors.sparsevlm",  # group "sparsevlm"
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vlmplanner.compressors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
