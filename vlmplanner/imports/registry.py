"""Which reader imports which harness's result files: lmms-eval and VLMEvalKit built in, others by
entry point (group ``vlmplanner.importers``; name = the format, value = ``"module:function"``, a
function of the paths that returns an :class:`~vlmplanner.imports.records.ImportReport`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from vlmplanner._registry import Registry
from vlmplanner.errors import UnknownImporterError, ValidationError

from .records import ImportReport

__all__ = ["BUILTIN_IMPORTERS", "ENTRY_POINT_GROUP", "REGISTRY", "Reader", "list_importers", "reader"]

ENTRY_POINT_GROUP = "vlmplanner.importers"
BUILTIN_IMPORTERS = {
    "lmms-eval": "vlmplanner.imports.lmms_eval:read_lmms_eval",
    "vlmevalkit": "vlmplanner.imports.vlmevalkit:read_vlmevalkit",
}
#: reads result files or folders into scores, and what it skipped and why
Reader = Callable[[Sequence["str | os.PathLike[str]"]], ImportReport]


def _check(name: str, value: Any, origin: str) -> Reader:
    if not callable(value):
        raise ValidationError(f"importer {name!r} ({origin}) is not a function of the paths: {value!r:.80}",
                              field="format", value=name)
    return value  # type: ignore[no-any-return]


_ALIASES = {"lmms-eval": ("lmms_eval",), "vlmevalkit": ("vlmeval",)}
REGISTRY: Registry[Reader] = Registry(
    kind="importer", group=ENTRY_POINT_GROUP, builtins=BUILTIN_IMPORTERS, field="format", check=_check,
    unknown=lambda name, known: UnknownImporterError(name, known), meta=_ALIASES.get,
    aliases=lambda entry: entry.meta or (),
)


def list_importers() -> list[str]:
    return REGISTRY.names()


def reader(name: str) -> Reader:
    """The reader for result format ``name`` (``lmms-eval``, ``vlmevalkit`` or a plug-in's)."""
    return REGISTRY.load(name)
