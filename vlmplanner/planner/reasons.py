"""The plain-language reason for a recommendation, built only from numbers the planner computed."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from vlmplanner.schemas import Workload

from .limits import Limit, exceeded, within
from .recommendation import QualityEstimate

if TYPE_CHECKING:
    from vlmplanner.pipeline.runnable import Runnability

if TYPE_CHECKING:
    from vlmplanner.cost import CostArrays

    from .table import CandidateTable

__all__ = ["explain"]


def _gflops(value: float) -> str:
    return f"{value / 1e9:,.4g} GFLOPs"


def _over(limits: list[Limit], i: int) -> str:
    """What candidate ``i`` needs of each limit it breaks: the limit that binds, with its number."""
    return " and ".join(limit.describe(i) for limit in exceeded(limits, i))


def explain(*, table: CandidateTable, chosen: int, limits: list[Limit], axis_values: np.ndarray, costs: CostArrays,
            quality: QualityEstimate, workload: Workload, law: dict[str, Any] | None,
            accounting: str, runnable: Runnability, alternative: str | None) -> str:
    fits = within(limits, len(table))
    model = table.models[table.model_index[chosen]]
    tokens = int(table.visual_tokens[chosen])
    where = {"published": "published", "measured": "measured", "imported": "imported",
             "predicted": "predicted by the fitted law", "mixed": "combined"}[quality.provenance]
    interval = ""
    if quality.low is not None and quality.high is not None:
        interval = f", interval {quality.low:.4g}–{quality.high:.4g}"
    if quality.extrapolated:
        interval += ", extrapolated beyond the LLM sizes or token counts the law was fitted on"
    sentences = [
        f"Best {table.task.name} quality within the budget: {table.key(chosen)} scores {quality.score:.4g}"
        f" ({where}{interval}) at {_gflops(costs.flops[chosen])} per request ({accounting} accounting,"
        f" Q={workload.text_tokens}, {workload.output_tokens} output tokens)."
    ]
    # Is a larger LLM affordable at all? Say which limit the cheapest larger configuration breaks.
    sizes = np.array([m.llm.params_b for m in table.models])[table.model_index]
    larger = np.flatnonzero(sizes > model.llm.params_b)
    if larger.size:
        if not fits[larger].any():
            cheapest_larger = int(larger[np.argmin(np.where(np.isnan(axis_values[larger]), np.inf,
                                                            axis_values[larger]))])
            sentences.append(
                f"No larger LLM fits: the cheapest, {table.key(cheapest_larger)}, needs"
                f" {_over(limits, cheapest_larger)}."
            )
        else:
            best_larger = larger[fits[larger]]
            top = best_larger[np.argmax(table.score[best_larger])]
            sentences.append(
                f"Larger LLMs fit but score lower here: the best, {table.key(int(top))}, scores"
                f" {table.score[top]:.4g}."
            )
    same_model = np.flatnonzero((table.model_index == table.model_index[chosen])
                                & (table.compressor_index == table.compressor_index[chosen])
                                & (table.visual_tokens > tokens))
    if same_model.size:
        more = int(same_model[np.argmin(table.visual_tokens[same_model])])
        if not fits[more]:
            sentences.append(f"More visual tokens ({int(table.visual_tokens[more])}) would need"
                             f" {_over(limits, more)}.")
    mean_rows = table.family_mean
    if mean_rows.any() and not mean_rows.all():
        sentences.append(
            f"Scores of the paper's grid ({table.task.benchmarks[0]}, its own benchmark mix) and of other models (the"
            f" mean of {', '.join(table.task.parts)}) are averages over different benchmarks: compare across the two"
            " with care."
        )
    if not runnable.runnable:
        sentences.append(
            f"What-if only: vlmplanner cannot run this configuration ({'; '.join(runnable.reasons)})."
            + (f" The best configuration it can run within the budget is {alternative}." if alternative else
               " No configuration it can run fits the budget.")
        )
    if "tokens-upper-bound" in quality.flags:
        sentences.append(f"The source states {tokens} visual tokens as an upper bound; the actual count varies"
                         " with the image.")
    if law is not None and law.get("alpha") is not None:
        alpha, beta = law["alpha"], law["beta"]
        v_star = law.get("optimal_visual_tokens")
        if beta > 0 and alpha > beta:
            sentences.append(
                f"The fitted law (alpha={alpha:.3f}, beta={beta:.3f}) says error falls {alpha / beta:.1f}x faster"
                f" with LLM size than with visual tokens; its continuous optimum at Q={workload.text_tokens} is"
                f" V*≈{v_star:.3g} tokens." if v_star is not None and math.isfinite(v_star) else
                f"The fitted law (alpha={alpha:.3f}, beta={beta:.3f}) favours LLM size over visual tokens."
            )
        elif beta >= alpha:
            sentences.append(
                f"The fitted law (alpha={alpha:.3f}, beta={beta:.3f}) says visual tokens matter more than LLM size"
                " for this task: keep the tokens, shrink the model."
            )
    return " ".join(sentences)
