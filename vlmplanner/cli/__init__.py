"""The ``vlmplanner`` command line: a thin typer layer over the Python API.

Heavy modules (the store, SQLAlchemy, torch) are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

from .app import app, main

__all__ = ["app", "main"]
