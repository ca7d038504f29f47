"""Finding what a name means: a model, compressor, hardware profile, benchmark or candidate key."""

from __future__ import annotations

from typing import Any

from vlmplanner.errors import NotFoundError
from vlmplanner.schemas import Candidate

from .catalog import Catalog

__all__ = ["describe"]


def describe(catalog: Catalog, key: str) -> dict[str, Any]:
    """Everything the catalog holds about ``key``, as plain data; unknown keys get suggestions."""
    if "+" in key and "@" in key:
        candidate = Candidate.parse(key)
        model = catalog.model(candidate.model)
        compressor = catalog.compressor(candidate.compressor)
        results = list(catalog.results(model=model.checkpoint, compressor=compressor.name,
                                       visual_tokens=candidate.visual_tokens))
        return {
            "kind": "candidate",
            "key": Candidate(model=model.checkpoint, compressor=compressor.name,
                             visual_tokens=candidate.visual_tokens).key,
            "model": model.model_dump(mode="json"),
            "compressor": compressor.model_dump(mode="json"),
            "results": [r.model_dump(mode="json") for r in results],
            "costs": [c.model_dump(mode="json") for c in catalog.cost_measurements(candidate_key=key)],
        }
    lookups = (
        ("model", catalog.model),
        ("compressor", catalog.compressor),
        ("hardware", catalog.hardware),
        ("benchmark", catalog.benchmark),
    )
    for kind, lookup in lookups:
        try:
            found = lookup(key)
        except NotFoundError:
            continue
        data: dict[str, Any] = {"kind": kind, kind: found.model_dump(mode="json")}
        if kind == "model":
            data["result_count"] = len(catalog.results(model=key))
        elif kind == "compressor":
            data["result_count"] = len(catalog.results(compressor=key))
        elif kind == "benchmark":
            data["result_count"] = len(catalog.results(benchmark=key))
        return data
    known = [m.checkpoint for m in catalog.models()] + [c.name for c in catalog.compressors()]
    known += [h.name for h in catalog.hardware_profiles()] + [b.name for b in catalog.benchmarks()]
    raise NotFoundError(key, known, hint="not a model, compressor, hardware or benchmark name")
