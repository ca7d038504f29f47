"""Fit the scaling laws on the shipped results and write them to catalog/fits.json.

Run it after changing anything in catalog/results/ (tests/test_shipped_fits.py fails until you do):

    python scripts/fit_shipped_laws.py

A fresh catalog is seeded with these fits, so the first recommendation on a new machine fits
nothing. Each entry carries the digest of the points it was fitted on; the planner refits (in
memory) any law whose points no longer match.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fit_all(catalog_dir: Path) -> list[dict[str, object]]:
    """Every law the shipped results support, fitted from scratch (stored fits ignored)."""
    from vlmplanner.planner.laws import LawBook
    from vlmplanner.store import open_catalog

    with tempfile.TemporaryDirectory() as tmp:
        with open_catalog(f"sqlite:///{tmp}/fit.sqlite3", seed=False) as catalog:
            catalog.seed(catalog_dir)
            models = {m.checkpoint: m for m in catalog.models()}
            benchmarks = {b.name: b for b in catalog.benchmarks()}
            book = LawBook.load(catalog, models, benchmarks, catalog.results(), use_stored=False)
    fits = []
    for (family, compressor, benchmark), law in sorted(book.laws.items()):
        fits.append({"family": family, "compressor": compressor, "benchmark": benchmark,
                     "data_digest": book.data[(family, compressor, benchmark)].digest,
                     "fit": law.model_dump(mode="json")})
    return fits


def main() -> None:
    from vlmplanner import __version__

    catalog_dir = ROOT / "catalog"
    fits = fit_all(catalog_dir)
    payload = {
        "about": "Scaling laws fitted by vlmplanner on the published results in catalog/results/ "
                 "(scripts/fit_shipped_laws.py); predictions, not published numbers.",
        "vlmplanner_version": __version__,
        "fits": fits,
    }
    (catalog_dir / "fits.json").write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(fits)} fits to {catalog_dir / 'fits.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
