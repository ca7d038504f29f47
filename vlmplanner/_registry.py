"""One registry mechanism for every kind of plug-in: model families, compressors, benchmarks, importers.

A :class:`Registry` maps names to plug-ins of one kind. Built-ins are ``"module:attr"`` paths,
imported on first use (or, for plain data such as a benchmark definition, the object itself); third-party plug-ins come from one entry-point group (name = the plug-in's
name, value = ``"module:attr"``), read on the first lookup of a name that is not built in, never at
import; ``register()`` adds one at run time. Names may have aliases (matched case-insensitively), an
unknown name is the kind's own error with the closest known names, and a plug-in that fails to
import or is not of the kind's type is a :class:`~vlmplanner.errors.ValidationError` naming it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from vlmplanner._plugins import entry_points_in, forget_entry_points, import_object
from vlmplanner.errors import MissingExtraError, ValidationError, VlmPlannerError, VlmPlannerWarning

__all__ = ["Entry", "Registry"]

T = TypeVar("T")
_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass
class Entry(Generic[T]):
    """One registered plug-in: its target (loaded, or a path not imported yet), where it came from,
    and what the kind knows of it before importing (a compressor's card), if anything."""

    target: T | str
    origin: str
    meta: Any = None

    @property
    def loaded(self) -> bool:
        return not isinstance(self.target, str)


class Registry(Generic[T]):
    """Names to plug-ins of one kind.

    ``check(name, value, origin)`` turns an imported object into the kind's plug-in (or raises a
    ValidationError); ``unknown(name, known)`` builds the kind's error for a name nobody registered;
    ``aliases(entry)`` lists an entry's other names (from its ``meta``, or from the loaded plug-in);
    ``before_import(name, entry)`` runs before a target is imported (a built-in's extra).
    """

    def __init__(self, *, kind: str, group: str, builtins: Mapping[str, str | T], field: str,
                 check: Callable[[str, Any, str], T], unknown: Callable[[str, Iterable[str]], VlmPlannerError],
                 name_pattern: re.Pattern[str] | None = None, name_rule: str = "a name",
                 aliases: Callable[[Entry[T]], Iterable[str]] = lambda entry: (),
                 meta: Callable[[str], Any] = lambda name: None,
                 before_import: Callable[[str, Entry[T]], None] = lambda name, entry: None) -> None:
        self.kind = kind
        self.group = group
        self.field = field  # the input field an error about a plug-in of this kind names
        self._builtins = dict(builtins)
        self._check = check
        self._unknown = unknown
        self._pattern = name_pattern
        self._name_rule = name_rule
        self._aliases = aliases
        self._meta = meta
        self._before_import = before_import
        self._entries: dict[str, Entry[T]] = {}
        self._entry_points_read = False
        self.reset(forget=False)

    # -- reading ------------------------------------------------------------------------------
    def _read_entry_points(self) -> None:
        """Add what installed packages declare in the group (once). A name already taken wins."""
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for point in entry_points_in(self.group):
            if point.name in self._entries:
                warnings.warn(f"entry point {point.name} = {point.value!r} ({self.group}) is ignored: {self.kind}"
                              f" {point.name!r} is already registered ({self._entries[point.name].origin})",
                              VlmPlannerWarning, stacklevel=4)
                continue
            if (self._pattern is not None and not self._pattern.match(point.name)) or not _PATH.match(point.value):
                warnings.warn(f"entry point {point.name} = {point.value!r} ({self.group}) is not"
                              f" '{self._name_rule} = module:attr'; it is ignored", VlmPlannerWarning, stacklevel=4)
                continue
            dist = point.dist.name if point.dist else "an installed package"
            self._entries[point.name] = Entry(point.value, f"entry point of {dist} ({point.value})")

    def names(self) -> list[str]:
        """Every registered name, sorted: built-ins, registered ones and installed plug-ins."""
        self._read_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` is registered (not its aliases). A built-in or registered name is known
        without reading the installed packages (an entry point never replaces it)."""
        if not isinstance(name, str):
            return False
        if name not in self._entries:
            self._read_entry_points()
        return name in self._entries

    def entry(self, name: str) -> Entry[T]:
        return self._entries[self.resolve(name)]

    def origin(self, name: str) -> str:
        return self.entry(name).origin

    def alias_table(self, *, load_all: bool = False) -> dict[str, str]:
        """Lower-cased names and aliases -> registered names. ``load_all`` imports the plug-ins
        whose aliases are known only once loaded (a broken one is skipped with a warning)."""
        table: dict[str, str] = {}
        for name, entry in list(self._entries.items()):
            if load_all and entry.meta is None and not entry.loaded:
                try:
                    self.load(name)
                except (ValidationError, MissingExtraError) as exc:
                    warnings.warn(f"{self.kind} {name!r} could not be loaded: {exc}", VlmPlannerWarning, stacklevel=3)
                    continue
            table.setdefault(name.lower(), name)
        for name, entry in self._entries.items():
            for alias in self._aliases(entry):
                table.setdefault(alias.lower(), name)
        return table

    def known(self) -> list[str]:
        """Every name and alias, for "did you mean"."""
        names = set(self._entries)
        for entry in self._entries.values():
            names.update(self._aliases(entry))
        return sorted(names)

    def resolve(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases (any case); the kind's error with
        the closest names otherwise."""
        if not isinstance(name, str) or not name:
            raise self._unknown(str(name), self.known())
        if name in self._entries:
            return name
        self._read_entry_points()
        if name in self._entries:
            return name
        found = self.alias_table().get(name.lower())
        if found is None and any(e.meta is None and not e.loaded for e in self._entries.values()):
            found = self.alias_table(load_all=True).get(name.lower())
        if found is None:
            raise self._unknown(name, self.known())
        return found

    def load(self, name: str) -> T:
        """The plug-in ``name`` names, imported (once) and checked."""
        name = self.resolve(name)
        entry = self._entries[name]
        if entry.loaded:
            return entry.target  # type: ignore[return-value]
        path = entry.target
        assert isinstance(path, str)
        self._before_import(name, entry)
        try:
            value = import_object(path)
        except MissingExtraError:
            raise
        except Exception as exc:
            raise ValidationError(f"{self.kind} {name!r} ({entry.origin}) cannot be loaded: it could not be imported"
                                  f" from {path!r}: {type(exc).__name__}: {exc}", field=self.field,
                                  value=name) from exc
        entry.target = self._check(name, value, entry.origin)
        return entry.target

    # -- writing ------------------------------------------------------------------------------
    def register(self, name: str, target: T | str, *, exist_ok: bool = False, meta: Any = None,
                 aliases: Iterable[str] = ()) -> None:
        """Add ``target`` (the plug-in, or ``"module:attr"`` imported on first use) under ``name``.
        A taken name or alias is an error unless ``exist_ok`` (then the new one replaces it)."""
        self._read_entry_points()
        field = self.field
        if not isinstance(name, str) or not name or (self._pattern is not None and not self._pattern.match(name)):
            raise ValidationError(f"a {self.kind} name is {self._name_rule}, got {name!r}", field="name", value=name)
        if isinstance(target, str):
            if not _PATH.match(target):
                raise ValidationError(f"expected 'module:attr', got {target!r}", field=field, value=target)
            entry: Entry[T] = Entry(target, f"registered path {target}", meta)
        else:
            checked = self._check(name, target, "registered")
            entry = Entry(checked, f"registered {getattr(target, '__qualname__', type(target).__name__)}", meta)
        if not exist_ok:
            if name in self._entries:
                raise ValidationError(f"{self.kind} {name!r} is already registered ({self._entries[name].origin});"
                                      " pass exist_ok=True to replace it", field="name", value=name)
            taken = self.alias_table()
            clashes = [a for a in (name, *aliases, *self._aliases(entry)) if a.lower() in taken]
            if clashes:
                raise ValidationError(f"{self.kind} {name!r}: name or alias {clashes[0]!r} already means"
                                      f" {taken[clashes[0].lower()]!r}; pass exist_ok=True to replace it",
                                      field="name", value=name)
        self._entries[name] = entry

    def unregister(self, name: str) -> None:
        """Remove a registered plug-in (built-ins come back with :meth:`reset`)."""
        self._read_entry_points()
        if name not in self._entries:
            raise self._unknown(name, self.known())
        del self._entries[name]

    def reread(self) -> None:
        """Drop what entry points added and read them again on the next lookup (after installing a
        package, and in tests)."""
        for name in [n for n, e in self._entries.items() if e.origin.startswith("entry point")]:
            del self._entries[name]
        self._entry_points_read = False
        forget_entry_points()

    def save(self) -> tuple[dict[str, Entry[T]], bool]:
        """The registry's state, for :meth:`restore` (tests that register plug-ins)."""
        return {n: Entry(e.target, e.origin, e.meta) for n, e in self._entries.items()}, self._entry_points_read

    def restore(self, state: tuple[dict[str, Entry[T]], bool]) -> None:
        self._entries.clear()
        self._entries.update(state[0])
        self._entry_points_read = state[1]
        forget_entry_points()

    def reset(self, *, forget: bool = True) -> None:
        """Back to the built-ins; entry points are read again on the next lookup (for tests)."""
        self._entries.clear()
        self._entries.update({name: Entry(path, "built-in", self._meta(name)) for name, path in self._builtins.items()})
        self._entry_points_read = False
        if forget:
            forget_entry_points()
