"""What the plug-in registries (families, compressors) share: reading the installed packages' entry
points (once per process, for every group) and importing a ``"module:attr"`` target."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["entry_points_in", "forget_entry_points", "import_object"]


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


@cache
def _all_entry_points() -> Any:
    """Every installed package's entry points. Reading them opens each installed distribution's
    metadata (tens of milliseconds with a few hundred packages), so the registries share one read
    instead of one per group."""
    from importlib.metadata import entry_points

    return entry_points()   # EntryPoints; before Python 3.12 SelectableGroups, whose select() is the same


def entry_points_in(group: str) -> tuple[EntryPoint, ...]:
    """The entry points declared in ``group`` by the installed packages."""
    return tuple(_all_entry_points().select(group=group))


def forget_entry_points() -> None:
    """Read the installed packages again on the next lookup (after installing one, and in tests)."""
    _all_entry_points.cache_clear()
