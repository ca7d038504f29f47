"""Print the share of the catalog's published rows whose compressor vlmplanner can run, before and
after issue 10.

Usage: python scripts/compressor_coverage.py [--json]

Rows are the shipped catalog's published results (``load_shipped().results``), each with the
compressor slug its source used. "Before" is the eight compressors the SDK ran before issue 10
(none, pool, cls-topk, visionzip, prumerge+, divprune, fastv, quecc); "after" is what the registry
holds now (``list_compressors()``, aliases resolved). Two further figures, after only unless said:

- *pair runnable*: the row's (model, compressor) pair passes every runnability check that does not
  depend on the token count (family adapter and seam, compressor implemented and serving the family,
  checkpoint released, trained weights; ``RunnabilityChecker.pair``). Its "before" is the same check
  restricted to the eight compressors (the families they serve are taken as they are now).
- *row runnable*: the row itself, at its published token count, is a candidate ``instantiate()``
  can run (``vlmplanner.pipeline.runnable.runnability``); rows without a model or a token count
  (``tokens-not-a-count``) cannot be.

No torch is needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from vlmplanner.errors import UnknownCompressorError

#: The compressors the SDK ran before issue 10, by catalog slug.
BEFORE_ISSUE_10: tuple[str, ...] = ("none", "pool", "cls-topk", "visionzip", "prumerge+", "divprune", "fastv",
                                    "quecc")
#: The share issue 10 aims for.
TARGET = 0.80


@dataclass(frozen=True)
class CompressorCoverage:
    """One catalog compressor slug: its published rows and whether the SDK runs it."""

    slug: str
    rows: int
    implemented_before: bool
    implemented_after: bool
    registered_as: str | None
    pair_runnable_rows: int
    row_runnable_rows: int


@dataclass(frozen=True)
class Coverage:
    """The per-compressor table and its totals."""

    compressors: tuple[CompressorCoverage, ...]
    total: int
    implemented_before: int
    implemented_after: int
    pair_runnable_before: int
    pair_runnable_after: int
    row_runnable_after: int

    @staticmethod
    def share(part: int, total: int) -> float:
        return part / total if total else 0.0

    @property
    def before_share(self) -> float:
        return self.share(self.implemented_before, self.total)

    @property
    def after_share(self) -> float:
        return self.share(self.implemented_after, self.total)


def _registered(slug: str, names: set[str]) -> str | None:
    """The registered compressor a catalog slug (or alias) names, or None."""
    from vlmplanner.compressors import resolve_name

    try:
        name = resolve_name(slug)
    except UnknownCompressorError:
        return None
    return name if name in names else None


def coverage(results: Iterable[object] | None = None, registered: Iterable[str] | None = None) -> Coverage:
    """Count published rows per compressor slug and how many the SDK runs, before and after.

    ``results``: published rows (default: the shipped catalog's); ``registered``: compressor names
    that run now (default: ``list_compressors()``)."""
    from vlmplanner.compressors import list_compressors
    from vlmplanner.pipeline.runnable import RunnabilityChecker
    from vlmplanner.store.shipped import load_shipped

    shipped = load_shipped()
    rows = list(shipped.results if results is None else results)
    names = set(list_compressors() if registered is None else registered)
    models = {m.checkpoint: m for m in shipped.models}
    check = RunnabilityChecker()
    per_slug = Counter(row.compressor for row in rows)  # type: ignore[attr-defined]
    pair_ok: Counter[str] = Counter()
    row_ok: Counter[str] = Counter()
    for row in rows:
        slug, model, tokens = row.compressor, row.model, row.visual_tokens  # type: ignore[attr-defined]
        spec = models.get(model) if model else None
        if spec is None or _registered(slug, names) is None:
            continue
        if check.pair(spec, slug).runnable:
            pair_ok[slug] += 1
            if tokens is not None and tokens >= 1 and check(spec, slug, tokens).runnable:
                row_ok[slug] += 1
    table = []
    for slug, count in sorted(per_slug.items(), key=lambda item: (-item[1], item[0])):
        name = _registered(slug, names)
        table.append(CompressorCoverage(slug=slug, rows=count, implemented_before=slug in BEFORE_ISSUE_10,
                                        implemented_after=name is not None, registered_as=name,
                                        pair_runnable_rows=pair_ok[slug], row_runnable_rows=row_ok[slug]))
    return Coverage(
        compressors=tuple(table), total=len(rows),
        implemented_before=sum(c.rows for c in table if c.implemented_before),
        implemented_after=sum(c.rows for c in table if c.implemented_after),
        pair_runnable_before=sum(c.pair_runnable_rows for c in table if c.implemented_before),
        pair_runnable_after=sum(c.pair_runnable_rows for c in table),
        row_runnable_after=sum(c.row_runnable_rows for c in table),
    )


def _pct(part: int, total: int) -> str:
    return f"{part}/{total} ({100 * Coverage.share(part, total):.1f}%)"


def format_coverage(found: Coverage) -> str:
    """The table and the totals as text."""
    def mark(flag: bool) -> str:
        return "yes" if flag else "-"

    lines = [f"{'compressor':<24}{'rows':>6}  {'before':>6}  {'after':>6}  {'pair runnable':>13}  "
             f"{'row runnable':>12}"]
    for c in found.compressors:
        lines.append(f"{c.slug:<24}{c.rows:>6}  {mark(c.implemented_before):>6}  {mark(c.implemented_after):>6}  "
                     f"{c.pair_runnable_rows:>13}  {c.row_runnable_rows:>12}")
    total = found.total
    met = "met" if found.after_share >= TARGET else "NOT met"
    lines += [
        "",
        f"published rows: {total}",
        f"compressor implemented, before issue 10 ({', '.join(BEFORE_ISSUE_10)}): "
        f"{_pct(found.implemented_before, total)}",
        f"compressor implemented, now ({sum(c.implemented_after for c in found.compressors)} of the catalog's"
        f" {len(found.compressors)} slugs): {_pct(found.implemented_after, total)}; target"
        f" {TARGET:.0%} {met}",
        f"(model, compressor) pair runnable: before {_pct(found.pair_runnable_before, total)},"
        f" now {_pct(found.pair_runnable_after, total)}",
        f"row runnable at its published token count, now: {_pct(found.row_runnable_after, total)}",
    ]
    missing = [c for c in found.compressors if not c.implemented_after]
    if missing:
        lines.append("not implemented: " + ", ".join(f"{c.slug} ({c.rows})" for c in missing))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Coverage:
    """Print the coverage (``--json``: as JSON) and return it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    found = coverage()
    if args.json:
        data = asdict(found) | {"before_share": found.before_share, "after_share": found.after_share,
                                "before_compressors": list(BEFORE_ISSUE_10)}
        print(json.dumps(data, indent=2))
    else:
        print(format_coverage(found))
    return found


if __name__ == "__main__":
    main(sys.argv[1:])
