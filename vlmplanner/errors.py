"""Every error vlmplanner raises on purpose, so callers can catch one family of exceptions.

The hierarchy::

    VlmPlannerError
    ├── ValidationError            bad input: a field and the value that was wrong
    │   ├── InvalidTokenCountError
    │   ├── ScoreOutOfRangeError
    │   ├── InvalidBudgetError
    │   ├── InvalidHardwareError   a hardware profile the cost model cannot use
    │   ├── CsvFormatError         a malformed row: the file and line are in the message
    │   └── NotRunnableError       instantiate() of a what-if candidate: every reason, and the alternative
    ├── NotFoundError              an unknown name, with "did you mean" suggestions
    │   ├── UnknownModelError
    │   ├── UnknownCompressorError
    │   ├── UnknownBenchmarkError
    │   ├── UnknownHardwareError
    │   └── UnknownTaskError
    ├── CatalogError               the store itself
    │   ├── CatalogConnectionError the database URL cannot be reached (password masked)
    │   ├── CatalogLocationError   the catalog's file or folder is damaged or unusable
    │   ├── CatalogOutOfDateError  the schema needs `vlmplanner catalog upgrade`
    │   ├── CatalogNewerError      the schema was written by a newer vlmplanner
    │   ├── CatalogReadOnlyError   a write to a catalog opened read-only
    │   └── CatalogWriteError      a write was rejected; nothing was written
    ├── FitError                   a scaling law cannot be fitted
    │   └── InsufficientDataError  too few points (or too few distinct sizes / token counts)
    ├── NoCandidateError           no candidate (that vlmplanner can run) has a quality estimate for the task
    ├── NoFeasibleCandidateError   nothing fits the budget; names the cheapest candidate
    ├── ShippedDataError           the data shipped in catalog/ is missing or inconsistent
    ├── MissingExtraError          an optional dependency is not installed; names the pip command
    │   └── IncompatibleVersionError  installed, but a release whose API vlmplanner.compat cannot use
    ├── HubUnreachableError        the Hugging Face Hub (or a mirror) cannot be reached
    ├── DeviceUnavailableError     the device asked for (cuda, cuda:N, mps) is not on this machine
    └── ModelLoadError             a checkpoint's weights or processor failed to load

Warnings: VlmPlannerWarning
    └── ExtrapolationWarning       a prediction outside the fitted range of N or V

Each error carries ``field`` and ``value`` when one input was at fault, so a program can react
to it without parsing the message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "CatalogConnectionError",
    "CatalogError",
    "CatalogLocationError",
    "CatalogNewerError",
    "CatalogOutOfDateError",
    "CatalogReadOnlyError",
    "CatalogWriteError",
    "CsvFormatError",
    "DeviceUnavailableError",
    "EndpointError",
    "ExtrapolationWarning",
    "FitError",
    "HubUnreachableError",
    "IncompatibleVersionError",
    "InsufficientDataError",
    "InvalidBudgetError",
    "InvalidHardwareError",
    "InvalidTokenCountError",
    "MissingExtraError",
    "ModelLoadError",
    "NoCandidateError",
    "NoFeasibleCandidateError",
    "NotRunnableError",
    "NotFoundError",
    "ScoreOutOfRangeError",
    "ReportOutputError",
    "ShippedDataError",
    "UnknownBenchmarkError",
    "UnsupportedFamilyError",
    "UnknownCompressorError",
    "UnknownHardwareError",
    "UnknownImporterError",
    "UnknownModelError",
    "UnknownTaskError",
    "ValidationError",
    "VlmPlannerError",
    "VlmPlannerWarning",
    "suggest",
]


class VlmPlannerError(Exception):
    """Base class of every error vlmplanner raises on purpose."""

    #: Stable, documented identifier of the error kind (see docs/errors.md).
    code: str = "vlmplanner-error"
    #: Process exit status the CLI uses for this kind of error.
    exit_code: int = 1

    def __init__(self, message: str, *, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value


class ValidationError(VlmPlannerError):
    """An input value is malformed or out of range."""

    code = "invalid-input"
    exit_code = 2


class InvalidTokenCountError(ValidationError):
    code = "invalid-token-count"


class ScoreOutOfRangeError(ValidationError):
    code = "score-out-of-range"


class InvalidBudgetError(ValidationError):
    code = "invalid-budget"


class InvalidHardwareError(ValidationError):
    code = "invalid-hardware"


class CsvFormatError(ValidationError):
    """A row of a CSV file could not be read; ``path`` and ``line`` say where."""

    code = "csv-format"

    def __init__(
        self, message: str, *, path: str, line: int, field: str | None = None, value: Any = None
    ) -> None:
        super().__init__(f"{path}, line {line}: {message}", field=field, value=value)
        self.path = path
        self.line = line


class ReportOutputError(ValidationError):
    """A report cannot be written where asked: an unknown format (field ``format``) or an output
    path that does not exist or is not writable (field ``output``); nothing is left half-written."""

    code = "report-output"


class UnsupportedFamilyError(ValidationError):
    """A ``model_type`` no family adapter handles (field ``model_type``); the message lists the
    supported ones, the closest, and the entry-point group that plugs others in."""

    code = "unsupported-family"


def suggest(name: str, known: Iterable[str], *, n: int = 3) -> list[str]:
    """The known names closest to ``name``, for "did you mean" messages."""
    known = list(known)
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.5)
    contained = [k for k in known if name and name.lower() in k.lower() and k.lower() not in close]
    return [by_lower[c] for c in close] + contained[: max(0, n - len(close))]


class NotRunnableError(ValidationError):
    """instantiate() of a candidate vlmplanner cannot run (a what-if from ``include="all"``):
    ``reasons`` lists every one, ``alternative`` is the best runnable candidate within the same
    budget when the planner found one."""

    code = "not-runnable"

    def __init__(self, key: str, reasons: Iterable[str], *, alternative: str | None = None) -> None:
        self.reasons = tuple(reasons)
        self.alternative = alternative
        message = f"vlmplanner cannot run {key}: " + "; ".join(self.reasons)
        message += (f". The best runnable configuration within the same budget is {alternative}" if alternative
                    else ". No runnable configuration fitted the same budget")
        super().__init__(message, field="candidate", value=key)


class NotFoundError(VlmPlannerError):
    """An unknown name; the message lists the closest known names."""

    code = "not-found"
    exit_code = 3
    kind = "name"

    def __init__(self, name: str, known: Iterable[str] = (), *, hint: str = "") -> None:
        known = sorted(set(known))
        self.suggestions = suggest(name, known)
        message = f"unknown {self.kind} {name!r}"
        if self.suggestions:
            message += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        elif known:
            shown = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
            message += f"; known: {shown}"
        if hint:
            message += f" ({hint})"
        super().__init__(message, field=self.kind, value=name)


class UnknownModelError(NotFoundError):
    code = "unknown-model"
    kind = "model"


class UnknownCompressorError(NotFoundError):
    code = "unknown-compressor"
    kind = "compressor"


class UnknownBenchmarkError(NotFoundError):
    code = "unknown-benchmark"
    kind = "benchmark"


class UnknownHardwareError(NotFoundError):
    code = "unknown-hardware"
    kind = "hardware"


class UnknownImporterError(NotFoundError):
    """A result-file format no importer reads (``vlmplanner import results --format``)."""

    code = "unknown-importer"
    kind = "importer"


class UnknownTaskError(NotFoundError):
    code = "unknown-task"
    kind = "task"


class CatalogError(VlmPlannerError):
    """The catalog store failed or refused an operation."""

    code = "catalog-error"
    exit_code = 4


class CatalogConnectionError(CatalogError):
    code = "catalog-unreachable"


class CatalogLocationError(CatalogError):
    """The catalog's file or folder cannot be used: a damaged SQLite file, a folder that cannot be
    created, a data directory that is a file. The message names the path and what to do."""

    code = "catalog-location"


class CatalogReadOnlyError(CatalogError):
    """A write was asked of a catalog that can only be read (a read-only URL, file or role)."""

    code = "catalog-read-only"


class CatalogOutOfDateError(CatalogError):
    code = "catalog-out-of-date"


class CatalogNewerError(CatalogError):
    code = "catalog-newer"


class CatalogWriteError(CatalogError):
    code = "catalog-write-rejected"


class FitError(VlmPlannerError):
    """A scaling law could not be fitted to the points given."""

    code = "fit-error"
    exit_code = 6


class InsufficientDataError(FitError):
    code = "insufficient-data"


class NoFeasibleCandidateError(VlmPlannerError):
    """No candidate fits the budget; ``cheapest`` is the candidate closest to fitting, and its cost."""

    code = "no-feasible-candidate"
    exit_code = 7

    def __init__(self, message: str, *, cheapest: Any = None, field: str | None = None, value: Any = None) -> None:
        super().__init__(message, field=field, value=value)
        self.cheapest = cheapest


class NoCandidateError(VlmPlannerError):
    """No candidate has a measured, published or predicted quality for the task with the filters
    given; ``unrunnable`` counts those that do but that vlmplanner cannot run (``include="all"``)."""

    code = "no-candidate"
    exit_code = 7

    def __init__(self, message: str, *, task: str, unrunnable: int = 0) -> None:
        super().__init__(message, field="task", value=task)
        self.unrunnable = unrunnable


class VlmPlannerWarning(UserWarning):
    """Base class of vlmplanner's warnings."""


class ExtrapolationWarning(VlmPlannerWarning):
    """A scaling-law prediction outside the range of LLM sizes or token counts it was fitted on."""


class ShippedDataError(VlmPlannerError):
    code = "shipped-data"
    exit_code = 5


class MissingExtraError(VlmPlannerError):
    """A feature needs an optional dependency that is not installed; ``extra`` is the pip extra
    that brings it (``pip install 'vlmplanner[torch]'``) and ``module`` the import that failed."""

    code = "missing-extra"
    exit_code = 8

    def __init__(self, message: str, *, extra: str, module: str) -> None:
        super().__init__(message, field="extra", value=extra)
        self.extra = extra
        self.module = module


class IncompatibleVersionError(MissingExtraError):
    """An installed torch / transformers / huggingface_hub lacks (or changed) an API a shim in
    :mod:`vlmplanner.compat` relies on: ``shim`` names the function, ``package`` and ``installed``
    the release. The remedy is a supported release, so it is a MissingExtraError of that extra."""

    code = "incompatible-version"

    def __init__(self, message: str, *, shim: str, package: str, installed: str) -> None:
        from vlmplanner.extras import EXTRA_OF

        super().__init__(message, extra=EXTRA_OF.get(package, "torch"), module=package)
        self.shim = shim
        self.package = package
        self.installed = installed


class HubUnreachableError(VlmPlannerError):
    """The Hugging Face Hub (or the mirror given) did not answer: offline, DNS, TLS or a timeout."""

    code = "hub-unreachable"
    exit_code = 9


class DeviceUnavailableError(VlmPlannerError):
    """The device asked for is not on this machine (no CUDA, too few GPUs, no MPS)."""

    code = "device-unavailable"
    exit_code = 10


class EndpointError(VlmPlannerError):
    """A served model's endpoint could not be reached, kept failing after its retries, refused a
    request, or answered with something that is not a chat completion."""

    code = "endpoint"
    exit_code = 12


class ModelLoadError(VlmPlannerError):
    """A checkpoint's weights, config or processor could not be loaded (missing files, a format
    transformers does not read, remote code that was not allowed)."""

    code = "model-load-failed"
    exit_code = 11
