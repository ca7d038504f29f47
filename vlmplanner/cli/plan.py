"""``vlmplanner recommend``, ``fit`` and ``frontier``: the planner from the command line."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._render import print_fields, print_json, print_table
from .catalog import CatalogUrl, Json

if TYPE_CHECKING:
    from vlmplanner.planner import Planner

Task = Annotated[str, typer.Option(help="A benchmark (GQA), a task family (visual-reasoning, ocr-text) or a mix"
                                   " ('GQA:1,TextVQA:1').")]
TextTokens = Annotated[int, typer.Option(help="Q: text tokens per request.")]
OutputTokens = Annotated[int, typer.Option(help="Tokens generated per request.")]
Hardware = Annotated[str, typer.Option(help="Hardware profile (h100-sxm, h200, a100-80gb, l40s, l4, cpu-generic;"
                                       " a unique prefix such as h100 works).")]
Accounting = Annotated[str, typer.Option(help="full (vision, prefill, decode, KV cache) or paper (2·N·(Q+V)).")]
Family = Annotated[str | None, typer.Option(help="Only models of this HF model_type (or law family).")]
Model = Annotated[str | None, typer.Option(help="Only this checkpoint.")]
Compressor = Annotated[str | None, typer.Option(help="Only this compressor.")]
BudgetGflops = Annotated[float | None, typer.Option(help="Budget: GFLOPs per request.")]
BudgetLatencyMs = Annotated[float | None, typer.Option(help="Budget: latency in ms.")]
BudgetMemoryGb = Annotated[float | None, typer.Option(help="Budget: memory in GB.")]
BudgetUsd = Annotated[float | None, typer.Option(help="Budget: USD per 1,000 requests.")]
BudgetLimits = Annotated[list[str] | None, typer.Option(
    "--budget", help="A limit with its unit: '1000 GFLOPs', '250 ms', '24 GB', '0.5 usd/1k' (repeatable).")]
LatencyKind = Annotated[str, typer.Option(help="What a latency budget limits: end-to-end or prefill.")]
Batch = Annotated[int, typer.Option(help="Requests per batch.")]
Images = Annotated[int, typer.Option(help="Images per request.")]
Dtype = Annotated[str, typer.Option(help="bf16, fp16 or fp32.")]
TrainingFree = Annotated[bool, typer.Option("--training-free", help="Only compressors that need no trained weights.")]
IncludeUnrunnable = Annotated[bool, typer.Option(
    "--include-unrunnable", help="Also weigh candidates vlmplanner cannot run (unimplemented compressors,"
    " unreleased checkpoints) as what-ifs, marked as such: reproducing the paper.")]


def _planner(catalog: str | None, hardware: str, dtype: str, accounting: str) -> Planner:
    from vlmplanner.planner import Planner

    return Planner(catalog, hardware=None if hardware.lower() == "none" else hardware, dtype=dtype,
                   accounting=accounting)  # type: ignore[arg-type]


def _workload(text_tokens: int, output_tokens: int, batch: int, images: int) -> Any:
    from vlmplanner.schemas import Workload, build

    return build(Workload, text_tokens=text_tokens, output_tokens=output_tokens, batch_size=batch,
                 images_per_request=images)


def _budget(gflops: float | None, latency_ms: float | None, memory_gb: float | None,
            usd: float | None, latency_kind: str, texts: list[str]) -> Any:
    from vlmplanner.schemas import Budget, build

    fields: dict[str, Any] = {"gflops": gflops, "latency_ms": latency_ms, "memory_gb": memory_gb,
                              "usd_per_1k_requests": usd}
    for text in texts:
        parsed = Budget.parse(text)
        fields.update({k: v for k, v in parsed.model_dump().items() if v is not None and k != "latency_kind"})
    return build(Budget, {k: v for k, v in fields.items() if v is not None} | {"latency_kind": latency_kind})


def _fmt(value: float | None, scale: float = 1.0, unit: str = "", digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * scale:,.{digits}g}{unit}"


def recommend(
    task: Task,
    budget_gflops: BudgetGflops = None,
    budget_latency_ms: BudgetLatencyMs = None,
    budget_memory_gb: BudgetMemoryGb = None,
    budget_usd_per_1k: BudgetUsd = None,
    budget: BudgetLimits = None,
    latency_kind: LatencyKind = "end-to-end",
    text_tokens: TextTokens = 50,
    output_tokens: OutputTokens = 0,
    batch: Batch = 1,
    images: Images = 1,
    hardware: Hardware = "h100-sxm",
    dtype: Dtype = "bf16",
    accounting: Accounting = "full",
    family: Family = None,
    model: Model = None,
    compressor: Compressor = None,
    training_free: TrainingFree = False,
    include_unrunnable: IncludeUnrunnable = False,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """Recommend the best model, compressor and visual-token count for a task under a budget."""
    budget_value = _budget(budget_gflops, budget_latency_ms, budget_memory_gb, budget_usd_per_1k, latency_kind,
                           budget or [])
    workload = _workload(text_tokens, output_tokens, batch, images)
    with _planner(catalog, hardware, dtype, accounting) as planner:
        rec = planner.recommend(task=task, budget=budget_value, workload=workload, family=family, model=model,
                                compressor=compressor, training="training-free" if training_free else None,
                                include="all" if include_unrunnable else "runnable")
    if json:
        return print_json(rec)
    q = rec.quality
    interval = f" [{q.low:.4g}, {q.high:.4g}]" if q.low is not None and q.high is not None else ""
    c = rec.cost
    print_fields(f"Recommendation for {rec.task}", [
        ("choice", rec.candidate.key),
        ("runnable", "yes" if rec.runnable.runnable else
         f"no: a what-if (why not: see 'why'); the best runnable choice within the budget:"
         f" {rec.runnable_alternative or 'none'}"),
        ("quality", f"{q.score:.4g}{interval} {q.metric} ({q.provenance}{', extrapolated' if q.extrapolated else ''})"),
        ("source", "; ".join(q.sources) or "–"),
        ("cost", f"{_fmt(c.flops, 1e-9, ' GFLOPs')} ({c.accounting}); memory {_fmt(c.memory_bytes, 1e-9, ' GB', 3)};"
                 f" latency {_fmt(c.latency_s, 1e3, ' ms')} on {c.hardware or '–'};"
                 f" {_fmt(c.usd_per_1k_requests, 1, ' USD/1k', 3)} (predicted by the cost model"
                 f"{'; measured: ' + _measured(c.measured) if c.measured else ''})"),
        ("why", rec.reason),
        ("frontier", ", ".join(rec.frontier[:8]) + (" …" if len(rec.frontier) > 8 else "")),
        ("considered", f"{rec.considered} candidates, {rec.feasible} within budget"),
    ])


def _measured(measured: dict[str, Any]) -> str:
    parts = [f"{measured.get('device', '?')}"]
    if measured.get("prefill_ms") is not None:
        parts.append(f"prefill {measured['prefill_ms']:.4g} ms")
    if measured.get("decode_ms_per_token") is not None:
        parts.append(f"decode {measured['decode_ms_per_token']:.4g} ms/token")
    return ", ".join(parts)


def frontier(
    task: Task,
    cost: Annotated[str, typer.Option(help="The cost axis: flops, latency_s, usd or memory.")] = "flops",
    text_tokens: TextTokens = 50,
    output_tokens: OutputTokens = 0,
    hardware: Hardware = "h100-sxm",
    dtype: Dtype = "bf16",
    accounting: Accounting = "full",
    family: Family = None,
    model: Model = None,
    compressor: Compressor = None,
    include_unrunnable: IncludeUnrunnable = False,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """The Pareto frontier of quality against cost for a task."""
    workload = _workload(text_tokens, output_tokens, 1, 1)
    with _planner(catalog, hardware, dtype, accounting) as planner:
        points = planner.frontier(task=task, workload=workload, cost_axis=cost, family=family, model=model,
                                  compressor=compressor, include="all" if include_unrunnable else "runnable")
    if json:
        return print_json(points)
    scale, unit = {"flops": (1e-9, "GFLOPs"), "latency_s": (1e3, "ms"), "usd": (1.0, "USD/1k"),
                   "memory": (1e-9, "GB")}[cost]
    print_table(f"Frontier: {task}", [
        ("candidate", lambda p: p.key), ("score", lambda p: f"{p.score:.4g}"), ("provenance", lambda p: p.provenance),
        (unit, lambda p: _fmt(p.cost, scale)),
    ] + ([("runnable", lambda p: "yes" if p.runnable else "no (what-if)")] if include_unrunnable else []), points)


def fit(
    family: Family = None,
    compressor: Compressor = None,
    benchmark: Annotated[str | None, typer.Option(help="Only this benchmark.")] = None,
    text_tokens: Annotated[int, typer.Option(help="Q for the optimal visual-token count V*.")] = 50,
    save: Annotated[bool, typer.Option(
        "--save", help="Store the laws fitted now in the catalog, so later runs need not fit them.")] = False,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """Fit the scaling laws (in memory; --save stores them) and report them, with leave-one-LLM-size-out error."""
    from vlmplanner.planner import Planner

    with Planner(catalog, hardware=None) as planner:
        laws = planner.snapshot.laws
        unsaved = set(laws.unsaved)
        saved_now = set(laws.save(planner.catalog)) if save else set()
        rows = []
        for (fam, comp, bench), law in sorted(laws.laws.items()):
            if family is not None and family not in (fam, fam.split(":")[0]):
                continue
            if compressor is not None and comp != planner.catalog.compressor(compressor).name:
                continue
            if benchmark is not None and bench != planner.catalog.benchmark(benchmark).name:
                continue
            v_star = law.optimal_visual_tokens(text_tokens)
            rows.append({
                "family": fam, "compressor": comp, "benchmark": bench, "alpha": law.alpha, "beta": law.beta,
                "A": law.A, "D": law.D, "rmse": law.rmse, "r2": law.r2, "loo_mae_points": law.loo_mae_points,
                "n_points": law.n_points, "n_range": list(law.n_range), "v_range": list(law.v_range),
                "optimal_visual_tokens": v_star if math.isfinite(v_star) else None, "text_tokens": text_tokens,
                "refitted_now": (fam, comp, bench) in laws.refitted,
                "stored": (fam, comp, bench) not in unsaved or (fam, comp, bench) in saved_now,
            })
    if json:
        return print_json(rows)
    print_table("Scaling laws  Y = A·N^-α·V^-β + D  (error = 1 − score/max)", [
        ("family", lambda r: r["family"]), ("compressor", lambda r: r["compressor"]),
        ("benchmark", lambda r: r["benchmark"]), ("α", lambda r: f"{r['alpha']:.4f}"),
        ("β", lambda r: f"{r['beta']:.4f}"), ("R²", lambda r: f"{r['r2']:.3f}"),
        ("LOO MAE (points)", lambda r: "–" if r["loo_mae_points"] is None else f"{r['loo_mae_points']:.3f}"),
        (f"V* (Q={text_tokens})", lambda r: "∞ (all tokens)" if r["optimal_visual_tokens"] is None
         else f"{r['optimal_visual_tokens']:.3g}"),
        ("points", lambda r: r["n_points"]),
        ("stored", lambda r: "yes" if r["stored"] else "no (--save)"),
    ], rows)
