"""The paper's shipped scaling grids as (N, V, score) lists, for tests, benchmarks and examples."""

from __future__ import annotations

from typing import Literal

__all__ = ["GRID_BENCHMARKS", "paper_grid"]

GRID_BENCHMARKS = {"reasoning": "avg_visual_reasoning", "ocr": "avg_ocr_like"}


def paper_grid(task: Literal["reasoning", "ocr"]) -> tuple[list[float], list[float], list[float]]:
    """Every shipped point of the paper's grid for ``task``: LLM size (billions), visual tokens, score."""
    from vlmplanner.store.shipped import load_shipped

    shipped = load_shipped()
    sizes = {m.checkpoint: m.llm.params_b for m in shipped.models}
    rows = [r for r in shipped.results if r.benchmark == GRID_BENCHMARKS[task] and r.model and r.visual_tokens]
    return ([sizes[r.model] for r in rows if r.model], [float(r.visual_tokens or 0) for r in rows],
            [r.score for r in rows])
