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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmplanner._plugins import entry_points_in, forget_entry_points, import_object
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

_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.+\-]*$")


@dataclass
class _Entry:
    target: type[Compressor] | str
    card: CompressorCard | None
    origin: str


_registry: dict[str, _Entry] = {
    name: _Entry(path, BUILTIN_CARDS[name], "built-in") for name, path in BUILTIN_COMPRESSORS.items()
}
_entry_points_read = False


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    for ep in entry_points_in(ENTRY_POINT_GROUP):
        name = ep.name
        if name in _registry:
            warnings.warn(
                f"entry point {ep.value!r} ({ENTRY_POINT_GROUP}) names compressor {name!r}, which is "
                f"already registered ({_registry[name].origin}); it is ignored",
                VlmPlannerWarning, stacklevel=3,
            )
            continue
        if not _SLUG.match(name) or not _PATH.match(ep.value):
            warnings.warn(
                f"entry point {name} = {ep.value!r} ({ENTRY_POINT_GROUP}) is not 'slug = module:Class';"
                " it is ignored", VlmPlannerWarning, stacklevel=3,
            )
            continue
        _registry[name] = _Entry(ep.value, None, f"entry point {ep.value}")


def _alias_table(*, load_all: bool = False) -> dict[str, str]:
    table: dict[str, str] = {}
    for name, entry in _registry.items():
        card = entry.card
        if card is None and load_all:
            try:
                card = _card_of(name)
            except (ValidationError, MissingExtraError) as exc:  # a broken plug-in must not hide the others
                warnings.warn(f"compressor {name!r} could not be loaded: {exc}", VlmPlannerWarning,
                              stacklevel=3)
                continue
        table[name.lower()] = name
        if card is not None:
            for alias in card.aliases:
                table.setdefault(alias.lower(), name)
    return table


def resolve_name(name: str) -> str:
    """The registered slug for a name or alias (case-insensitive); UnknownCompressorError with
    suggestions otherwise."""
    if not isinstance(name, str) or not name:
        raise UnknownCompressorError(str(name), list(_registry))
    if name in _registry:  # a registered slug: an entry point never replaces it, so no need to read them
        return name
    _read_entry_points()
    if name in _registry:
        return name
    table = _alias_table()
    found = table.get(name.lower())
    if found is None and any(e.card is None for e in _registry.values()):
        table = _alias_table(load_all=True)
        found = table.get(name.lower())
    if found is None:
        known = set(_registry) | {a for e in _registry.values() if e.card for a in e.card.aliases}
        raise UnknownCompressorError(name, known)
    return found


def _load_class(name: str) -> type[Compressor]:
    entry = _registry[name]
    if isinstance(entry.target, str):
        if entry.origin == "built-in":
            require("torch", feature=f"compressor {name!r}")
        try:
            value: Any = import_object(entry.target)
        except MissingExtraError:  # a built-in's torch (or a plug-in's own require()) is not installed
            raise
        except Exception as exc:
            raise ValidationError(
                f"compressor {name!r} ({entry.origin}) could not be imported from {entry.target!r}: "
                f"{type(exc).__name__}: {exc}", field="compressor", value=name,
            ) from exc
        _check_class(name, value, entry.origin)
        cls: type[Compressor] = value
        entry.target = cls
        if entry.card is None:
            entry.card = cls.card
        return cls
    return entry.target


def _check_class(name: str, cls: Any, origin: str) -> None:
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


def _card_of(name: str) -> CompressorCard:
    entry = _registry[name]
    if entry.card is None:
        _load_class(name)
    assert entry.card is not None
    return entry.card


def compressor_card(name: str) -> CompressorCard:
    """The card of a compressor by name or alias (no torch import for built-ins)."""
    return _card_of(resolve_name(name))


def list_compressors(*, family: str | None = None, kind: str | None = None) -> list[str]:
    """Registered compressor names, sorted; optionally only those serving HF ``model_type``
    ``family`` and/or of ``kind`` ("pre-llm" / "in-llm")."""
    _read_entry_points()
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
    names = []
    for name in sorted(_registry):
        if family is None and kind is None:
            names.append(name)
            continue
        try:
            card = _card_of(name)
        except (ValidationError, MissingExtraError) as exc:
            warnings.warn(f"compressor {name!r} skipped: {exc}", VlmPlannerWarning, stacklevel=2)
            continue
        if family is not None and not card.supports(family):
            continue
        if kind is not None and card.kind != kind:
            continue
        names.append(name)
    return names


def register_compressor(name: str, cls_or_path: type[Compressor] | str, *, exist_ok: bool = False) -> None:
    """Add a compressor under slug ``name``: a Compressor subclass (its ``card.name`` must be
    ``name``), or ``"module:Class"`` imported on first use. A taken name or alias is an error unless
    ``exist_ok`` (then the new one replaces it)."""
    _read_entry_points()
    if not isinstance(name, str) or not _SLUG.match(name):
        raise ValidationError(f"a compressor name is a lower-case slug without spaces or '@', got {name!r}",
                              field="name", value=name)
    if isinstance(cls_or_path, str):
        if not _PATH.match(cls_or_path):
            raise ValidationError(f"expected 'module:Class', got {cls_or_path!r}", field="cls_or_path",
                                  value=cls_or_path)
        entry = _Entry(cls_or_path, None, f"registered path {cls_or_path}")
    else:
        _check_class(name, cls_or_path, "registered class")
        entry = _Entry(cls_or_path, cls_or_path.card, f"registered class {cls_or_path.__qualname__}")
    if not exist_ok:
        if name in _registry:
            raise ValidationError(
                f"compressor {name!r} is already registered ({_registry[name].origin}); pass exist_ok=True "
                "to replace it", field="name", value=name,
            )
        taken = _alias_table()
        clashes = [a for a in ((name,) + (entry.card.aliases if entry.card else ())) if a.lower() in taken]
        if clashes:
            raise ValidationError(
                f"compressor {name!r}: name or alias {clashes[0]!r} already means "
                f"{taken[clashes[0].lower()]!r}; pass exist_ok=True to replace it", field="name", value=name,
            )
    _registry[name] = entry


def unregister_compressor(name: str) -> None:
    """Remove a registered compressor (built-ins come back with :func:`reset_registry`)."""
    _read_entry_points()
    if name not in _registry:
        raise UnknownCompressorError(name, list(_registry))
    del _registry[name]


def reset_registry() -> None:
    """Back to the built-ins; entry points are read again on the next lookup (for tests)."""
    global _entry_points_read
    _registry.clear()
    _registry.update({n: _Entry(p, BUILTIN_CARDS[n], "built-in") for n, p in BUILTIN_COMPRESSORS.items()})
    _entry_points_read = False
    forget_entry_points()


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
    cls = _load_class(slug)
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
