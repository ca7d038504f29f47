"""Cost reports: one question (task, budget, workload, hardware profiles) answered with the
evidence, as self-contained HTML, Markdown, JSON or CSV; and a summary of what the catalog holds.

``planner.report(...)`` builds a :class:`Report`; ``report.write("report.html")`` writes it.
Importing this package imports nothing heavy: numpy, jinja2 and matplotlib load when a report is
built or drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .build import build_report
    from .catalog_summary import CatalogSummary, summarise_catalog
    from .content import Report

__all__ = ["CatalogSummary", "Report", "build_report", "summarise_catalog"]

_WHERE = {"build_report": "build", "Report": "content", "CatalogSummary": "catalog_summary",
          "summarise_catalog": "catalog_summary"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
