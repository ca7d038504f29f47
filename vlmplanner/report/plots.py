"""The report's plots, drawn with matplotlib and inlined as SVG (no network needed to view them).

Plots label candidates by rank (``#1`` is the choice), never by user-supplied names, and draw a
thinned sample of a large catalog: every frontier point up to :data:`MAX_FRONTIER`, and one
candidate per occupied cell of a grid over the plot for the rest. The numbers in JSON/CSV are
never thinned.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from vlmplanner.extras import require

from .content import AXES, Candidates, HardwareSection, LawCurve
from .phases import flops_by_phase, memory_by_part

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["breakdown_svg", "frontier_svg", "law_svg", "thin_background", "thin_frontier"]

MAX_FRONTIER = 400
GRID = (60, 30)
_PROVENANCE_COLOURS = {"observed": "#1f77b4", "predicted": "#ff7f0e"}
_PHASE_COLOURS = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd"]
_MARKERS = {"measured": "o", "imported": "^", "published": "s"}


@contextmanager
def _figure(width: float, height: float, salt: str) -> Iterator[Figure]:
    """A figure outside pyplot (no global state, no GUI backend); text stays text in the SVG and
    element ids are salted per plot, so several plots share one page without clashing."""
    require("matplotlib", feature="an HTML report")
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9,
                                "axes.spines.top": False, "axes.spines.right": False}):
        yield Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (the XML prolog, doctype, RDF metadata and comments
    dropped: a page holds many of them, and none needs the others' namespaces)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    start = text.index("<svg")
    text = re.sub(r"<metadata>.*?</metadata>|<!--.*?-->", "", text[start:], flags=re.S)
    return re.sub(r'\s+xmlns:(?:dc|cc|rdf)="[^"]*"', "", text).strip()


def thin_frontier(points: list[int], limit: int = MAX_FRONTIER) -> list[int]:
    """At most ``limit`` frontier points, evenly spread, both ends kept."""
    if len(points) <= limit:
        return points
    keep = np.unique(np.linspace(0, len(points) - 1, limit).round().astype(int))
    return [points[i] for i in keep]


def thin_background(x: np.ndarray, y: np.ndarray, grid: tuple[int, int] = GRID) -> np.ndarray:
    """Indices of one candidate per occupied cell of a grid (log x) over the finite points."""
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y) & (x > 0))
    if finite.size <= grid[0] * grid[1] // 4:
        return finite
    lx, yy = np.log10(x[finite]), y[finite]
    cx = np.minimum(((lx - lx.min()) / max(np.ptp(lx), 1e-12) * grid[0]).astype(int), grid[0] - 1)
    cy = np.minimum(((yy - yy.min()) / max(np.ptp(yy), 1e-12) * grid[1]).astype(int), grid[1] - 1)
    _, first = np.unique(cx * grid[1] + cy, return_index=True)
    return finite[np.sort(first)]


def frontier_svg(candidates: Candidates, section: HardwareSection, axis: str, values: np.ndarray,
                 budget_limit: float | None, chosen: int | None, salt: str) -> str:
    """Quality against one cost: candidates (thinned), the Pareto frontier coloured by where its
    quality comes from, the budget line and the chosen point."""
    _, unit, scale = AXES[axis]
    x = values * scale
    y = candidates.score
    with _figure(7.2, 3.6, salt) as fig:
        ax = fig.add_subplot()
        background = thin_background(x, y)
        runnable = candidates.runnable[background]
        ax.scatter(x[background][runnable], y[background][runnable], s=9, color="#b8b8b8", label="candidate",
                   zorder=1)
        if (~runnable).any():
            ax.scatter(x[background][~runnable], y[background][~runnable], s=9, facecolors="none",
                       edgecolors="#b8b8b8", label="what-if (not runnable)", zorder=1)
        front = thin_frontier(section.frontier[axis])
        if front:
            ax.plot(x[front], y[front], color="#444444", linewidth=1, drawstyle="steps-post", zorder=2)
            kinds = np.array(["predicted" if p == "predicted" else "observed" for p in
                              (candidates.provenance[i] for i in front)])
            for kind, colour in _PROVENANCE_COLOURS.items():
                pick = [f for f, k in zip(front, kinds) if k == kind]
                if pick:
                    ax.scatter(x[pick], y[pick], s=22, color=colour, zorder=3,
                               label=f"frontier ({kind} quality)")
        if budget_limit is not None:
            ax.axvline(budget_limit, color="#d62728", linestyle="--", linewidth=1, label="budget", zorder=2)
        if chosen is not None and np.isfinite(x[chosen]):
            ax.scatter([x[chosen]], [y[chosen]], marker="*", s=160, color="#d62728", edgecolors="black",
                       linewidths=0.6, zorder=4, label="#1 (chosen)")
        ax.set_xscale("log")
        ax.set_xlabel(unit)
        ax.set_ylabel("quality (task score)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="lower right", fontsize=7, frameon=False)
        return _svg(fig)


def law_svg(curve: LawCurve, salt: str) -> str:
    """A scaling law's predicted score against visual tokens, one line and interval band per LLM
    size, the points it was fitted on marked by provenance, and the chosen configuration."""
    with _figure(7.2, 3.6, salt) as fig:
        ax = fig.add_subplot()
        colours = _colours(len(curve.curves))
        for (size, (v, score, low, high)), colour in zip(sorted(curve.curves.items()), colours):
            ax.fill_between(v, low, high, color=colour, alpha=0.15, linewidth=0)
            ax.plot(v, score, color=colour, linewidth=1.4, label=f"{size:g}B LLM (law)")
            points = [p for p in curve.points if p.params_b == size]
            for provenance, marker in _MARKERS.items():
                pick = [p for p in points if provenance in p.provenance.split("/")]
                if pick:
                    ax.scatter([p.visual_tokens for p in pick], [p.score for p in pick], marker=marker, s=20,
                               color=colour, edgecolors="black", linewidths=0.4, zorder=3)
        for provenance, marker in _MARKERS.items():
            if any(provenance in p.provenance.split("/") for p in curve.points):
                ax.scatter([], [], marker=marker, color="white", edgecolors="black", label=f"{provenance} result")
        if curve.chosen is not None:
            ax.scatter([curve.chosen[1]], [_at(curve, *curve.chosen)], marker="*", s=160, color="#d62728",
                       edgecolors="black", linewidths=0.6, zorder=4, label="#1 (chosen)")
        ax.set_xscale("log")
        ax.set_xlabel("visual tokens per image (V)")
        ax.set_ylabel("score")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
        return _svg(fig)


def _at(curve: LawCurve, size: float, tokens: float) -> float:
    v, score, _, _ = curve.curves[size]
    return float(np.interp(np.log(tokens), np.log(v), score))


def breakdown_svg(section: HardwareSection, salt: str) -> str:
    """FLOPs per request by phase and memory by part, one bar per shown candidate (#1 first)."""
    labels = [f"#{i + 1}" for i in range(len(section.breakdowns))]
    with _figure(7.2, 1.5 + 0.32 * len(labels), salt) as fig:
        flops_ax, memory_ax = fig.subplots(1, 2)
        _stacked(flops_ax, labels, [flops_by_phase(b.flops) for b in section.breakdowns], 1e-9, "GFLOPs per request")
        _stacked(memory_ax, labels, [memory_by_part(b.memory_bytes) for b in section.breakdowns], 1e-9, "GB")
        return _svg(fig)


def _stacked(ax: Any, labels: list[str], parts: list[dict[str, float]], scale: float, unit: str) -> None:
    names = list(dict.fromkeys(name for p in parts for name in p))
    left = np.zeros(len(labels))
    rows = np.arange(len(labels))
    for name, colour in zip(names, _PHASE_COLOURS * 2):
        widths = np.array([p.get(name, 0.0) * scale for p in parts])
        if widths.any():
            ax.barh(rows, widths, left=left, color=colour, label=name, height=0.6)
            left += widths
    ax.set_yticks(rows, labels)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3 - 1.2 / (len(labels) + 2)),
              ncols=3)


def _colours(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.05, 0.85, max(n, 1))]
