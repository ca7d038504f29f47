"""The compressor registry: built-ins by name from a string table, third parties by entry point.

Looking up a card never imports torch (built-in cards are plain data); only ``get_compressor``
imports the implementation. Entry points (group ``vlmplanner.compressors``; name = the slug, value
= ``"package.module:CompressorClass"``) are read on the first lookup, never at import, and a
third-party class is imported only when its card or an instance is asked for.
"""

from __future__ import annotations

import inspect
import re
import warnings
from pathlib import Path
from typing import Any

from vlmplanner._registry import Entry, Registry
from vlmplanner.errors import (
    InvalidTokenCountError,
    MissingExtraError,
    UnknownCompressorError,
    ValidationError,
    VlmPlannerWarning,
)
from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS
from .base import Compressor, CompressorCard

__all__ = [
    "BUILTIN_COMPRESSORS",
    "ENTRY_POINT_GROUP",
    "REGISTRY",
    "compressor_card",
    "get_compressor",
    "list_compressors",
    "register_compressor",
    "resolve_name",
    "unregister_compressor",
]

#: The entry-point group third-party packages declare their compressors in.
ENTRY_POINT_GROUP = "vlmplanner.compressors"

#: The built-in implementations, imported on first use.
BUILTIN_COMPRESSORS: dict[str, str] = {
    "none": "vlmplanner.compressors.simple:NoCompression",
    "pool": "vlmplanner.compressors.simple:PoolCompressor",
    "cls-topk": "vlmplanner.compressors.attention:ClsTopK",
    "visionzip": "vlmplanner.compressors.attention:VisionZip",
    "prumerge+": "vlmplanner.compressors.attention:PruMergePlus",
    "divprune": "vlmplanner.compressors.diversity:DivPrune",
    "fastv": "vlmplanner.compressors.fastv:FastV",
    "quecc": "vlmplanner.compressors.quecc:QueCC",
    # group "simple": content-blind sampling and merging
    "random": "vlmplanner.compressors.sampling:RandomPruning",
    "spatial-sampling": "vlmplanner.compressors.sampling:SpatialSampling",
    "sequential-sampling": "vlmplanner.compressors.sampling:SequentialSampling",
    "prumerge": "vlmplanner.compressors.merging:PruMerge",
    "tome": "vlmplanner.compressors.merging:ToMe",
    # group "textcond": text-conditioned selection on the projected tokens
    "cdpruner": "vlmplanner.compressors.textcond:CDPruner",
    "mmtok": "vlmplanner.compressors.textcond:MMTok",
    "trim": "vlmplanner.compressors.textcond:TRIM",
    # group "inllm": in-LLM pruning (multi-stage and attention-free)
    "pdrop": "vlmplanner.compressors.pdrop:PyramidDrop",
    "dart": "vlmplanner.compressors.dart:DART",
    # group "sparsevlm": text raters in the LLM, three stages, recycling
    "sparsevlm": "vlmplanner.compressors.sparsevlm:SparseVLM",
    # group "resize": the input image itself
    "downsample": "vlmplanner.compressors.resize:Downsample",
}

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.+\-]*$")


def _check_class(name: str, cls: Any, origin: str) -> type[Compressor]:
    if not (isinstance(cls, type) and issubclass(cls, Compressor)):
        raise ValidationError(
            f"compressor {name!r} ({origin}) is not a vlmplanner.compressors.Compressor subclass: {cls!r}",
            field="compressor", value=name,
        )
    card = getattr(cls, "card", None)
    if not isinstance(card, CompressorCard):
        raise ValidationError(f"compressor class {cls.__name__} ({origin}) has no CompressorCard "
                              "`card` attribute", field="card", value=name)
    if card.name != name:
        raise ValidationError(
            f"compressor class {cls.__name__} ({origin}) has card.name {card.name!r} but is registered "
            f"as {name!r}", field="name", value=name,
        )
    return cls


def _aliases(entry: Entry[type[Compressor]]) -> tuple[str, ...]:
    card = entry.meta if entry.meta is not None else (entry.target.card if entry.loaded else None)  # type: ignore[union-attr]
    return card.aliases if card is not None else ()


def _needs_torch(name: str, entry: Entry[type[Compressor]]) -> None:
    if entry.origin == "built-in":
        require("torch", feature=f"compressor {name!r}")


#: slug -> implementation: the built-ins (their cards known without importing them), entry points of
#: ``ENTRY_POINT_GROUP``, registered ones.
REGISTRY: Registry[type[Compressor]] = Registry(
    kind="compressor", group=ENTRY_POINT_GROUP, builtins=BUILTIN_COMPRESSORS, field="compressor",
    check=_check_class, unknown=lambda name, known: UnknownCompressorError(name, known), name_pattern=_SLUG,
    name_rule="a lower-case slug without spaces or '@'", aliases=_aliases, meta=BUILTIN_CARDS.get,
    before_import=_needs_torch,
)


def resolve_name(name: str) -> str:
    """The registered slug for a name or alias (case-insensitive); UnknownCompressorError with
    suggestions otherwise."""
    return REGISTRY.resolve(name)


def _card_of(name: str) -> CompressorCard:
    entry = REGISTRY.entry(name)
    if entry.meta is None:
        entry.meta = REGISTRY.load(name).card
    card: CompressorCard = entry.meta
    return card


def compressor_card(name: str) -> CompressorCard:
    """The card of a compressor by name or alias (no torch import for built-ins)."""
    return _card_of(resolve_name(name))


def list_compressors(*, family: str | None = None, kind: str | None = None) -> list[str]:
    """Registered compressor names, sorted; optionally only those serving HF ``model_type``
    ``family`` and/or of ``kind`` ("pre-llm" / "in-llm")."""
    names = REGISTRY.names()
    if kind is not None and kind not in ("pre-llm", "in-llm"):
        raise ValidationError(f"kind must be 'pre-llm' or 'in-llm', got {kind!r}", field="kind",
                              value=kind)
    if family is not None:
        from vlmplanner.families import list_families

        if family not in list_families():
            raise ValidationError(
                f"unknown model_type {family!r}; compressors serve: {', '.join(list_families())}",
                field="family", value=family,
            )
    if family is None and kind is None:
        return names
    kept = []
    for name in names:
        try:
            card = _card_of(name)
        except (ValidationError, MissingExtraError) as exc:
            warnings.warn(f"compressor {name!r} skipped: {exc}", VlmPlannerWarning, stacklevel=2)
            continue
        if family is not None and not card.supports(family):
            continue
        if kind is not None and card.kind != kind:
            continue
        kept.append(name)
    return kept


def register_compressor(name: str, cls_or_path: type[Compressor] | str, *, exist_ok: bool = False) -> None:
    """Add a compressor under slug ``name``: a Compressor subclass (its ``card.name`` must be
    ``name``), or ``"module:Class"`` imported on first use. A taken name or alias is an error unless
    ``exist_ok`` (then the new one replaces it)."""
    card = cls_or_path.card if isinstance(cls_or_path, type) and isinstance(
        getattr(cls_or_path, "card", None), CompressorCard) else None
    REGISTRY.register(name, cls_or_path, exist_ok=exist_ok, meta=card)


def unregister_compressor(name: str) -> None:
    """Remove a registered compressor (built-ins come back with :func:`reset_registry`)."""
    REGISTRY.unregister(name)


def reset_registry() -> None:
    """Back to the built-ins; entry points are read again on the next lookup (for tests)."""
    REGISTRY.reset()


def get_compressor(name: str, visual_tokens: int, **options: Any) -> Compressor:
    """A ready compressor keeping ``visual_tokens`` tokens.

    Every cheap check runs before the implementation (and torch) is imported: the name, k (against
    ``native_tokens`` / ``grid`` when given), ``model_type`` (the family, when given), and for a
    trained compressor that ``weights`` names a file (or ``allow_untrained=True``). The remaining
    options go to the class; an option it does not take is a ValidationError naming it.
    """
    slug = resolve_name(name)
    card = _card_of(slug)
    model_type = options.pop("model_type", None)
    if model_type is not None:
        card.check_family(model_type)
    native = options.get("native_tokens")
    grid = options.get("grid")
    if native is None and grid is not None:
        try:
            native = int(grid[0]) * int(grid[1])
        except (TypeError, ValueError, IndexError):
            raise ValidationError(f"grid must be (rows, cols), got {grid!r}", field="grid", value=grid) from None
    if native is not None:
        card.check_tokens(visual_tokens, native, tuple(grid) if grid is not None else None)
    elif isinstance(visual_tokens, bool) or not isinstance(visual_tokens, int) or visual_tokens < 1:
        raise InvalidTokenCountError(f"visual_tokens must be a positive integer, got {visual_tokens!r}",
                                     field="visual_tokens", value=visual_tokens)
    if card.training == "trained":
        weights = options.get("weights")
        if weights is None and not options.get("allow_untrained", False):
            raise ValidationError(
                f"compressor {slug!r} is trained: pass weights='path/to/{slug}.safetensors' (or "
                "allow_untrained=True for tests and training)", field="weights", value=None,
            )
        if weights is not None and not Path(weights).is_file():
            raise ValidationError(f"compressor {slug!r}: weights file {str(weights)!r} does not exist",
                                  field="weights", value=str(weights))
    cls = REGISTRY.load(slug)
    try:
        inspect.signature(cls).bind(visual_tokens, **options)
    except TypeError as exc:
        unknown = [o for o in options if o not in inspect.signature(cls).parameters]
        raise ValidationError(
            f"compressor {slug!r} does not take option(s) {', '.join(map(repr, unknown)) or ''}: {exc}; "
            f"it takes {', '.join(p for p in inspect.signature(cls).parameters if p != 'visual_tokens')}",
            field=unknown[0] if unknown else "options", value=options,
        ) from None
    return cls(visual_tokens, **options)
