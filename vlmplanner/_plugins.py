"""What the plug-in registries (families, compressors) share: importing a ``"module:attr"`` target."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["import_object"]


def import_object(path: str) -> Any:
    """The object ``path`` names: ``"package.module:Attr"`` (dotted attributes allowed).

    A path without ``:`` names the module itself. Import and attribute errors propagate, so each
    registry can word its own message.
    """
    module_name, _, attribute = path.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        value = getattr(value, part)
    return value
