"""Which scaling laws exist, and keeping them fitted to the results they rest on.

A law is fitted per (law family, compressor, benchmark). The law family is the HF model_type plus
the LLM series (``llava_next:Qwen1.5``), so a law fitted on the paper's Qwen1.5 grid never predicts
a Vicuna model. A stored fit carries a digest of its points; when results change, the digest no
longer matches and the law is refitted, in memory: reading never writes to the catalog. Fits made
in a process are kept for the rest of it; ``LawBook.save`` (``vlmplanner fit --save``) stores them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vlmplanner.errors import FitError
from vlmplanner.schemas import Benchmark, ModelSpec, QualityResult, StoredFit

if TYPE_CHECKING:
    from vlmplanner.scaling import ScalingFit
    from vlmplanner.store import Catalog

__all__ = ["LawBook", "LawData", "law_family", "usable", "usable_share"]

log = logging.getLogger(__name__)

#: Flags that keep a published result out of fits and quality estimates (see catalog/README.md).
EXCLUDED_FLAGS = frozenset({"doubtful", "low-confidence", "tokens-not-a-count"})
MIN_SIZES = 3
MIN_TOKEN_COUNTS = 2
MIN_POINTS = 5


def law_family(model: ModelSpec) -> str:
    """``<model_type>:<LLM series>``: the LLM's name without organisation, size and suffixes."""
    name = model.llm.name.split("/")[-1].split(" ")[0]
    series = re.sub(r"[-_]\d+(\.\d+)?[bBmM]\b.*$", "", name)
    return f"{model.model_type}:{series}"


def usable(result: QualityResult) -> bool:
    """A result the planner may use: a catalog model, an exact token count, no disqualifying flag."""
    return result.model is not None and result.visual_tokens is not None and not (EXCLUDED_FLAGS & set(result.flags))


def usable_share(result: QualityResult, model: ModelSpec) -> bool:
    """A result given as a share of the native tokens (``ratio=0.25``) on a family whose token count
    follows the image: it is a candidate as that share (``@25%``), costed at the workload's image.
    Its ``tokens-not-a-count`` flag is what a share is; other disqualifying flags still count."""
    from vlmplanner.families import get_family, has_family

    return (result.visual_tokens is None and result.share is not None and has_family(model.model_type)
            and get_family(model.model_type).token_shares
            and not ((EXCLUDED_FLAGS - {"tokens-not-a-count"}) & set(result.flags)))


@dataclass
class LawData:
    """The points behind one law, one (N, V) point each (several results at a point: their median)."""

    family: str
    compressor: str
    benchmark: str
    n: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)

    @property
    def digest(self) -> str:
        payload = json.dumps([self.family, self.compressor, self.benchmark,
                              sorted(zip(self.n, self.v, self.score))]).encode()
        return hashlib.sha256(payload).hexdigest()

    @property
    def fittable(self) -> bool:
        return len(set(self.n)) >= MIN_SIZES and len(set(self.v)) >= MIN_TOKEN_COUNTS and len(self.n) >= MIN_POINTS


def collect_law_data(models: dict[str, ModelSpec], results: list[QualityResult]) -> dict[tuple[str, str, str], LawData]:
    grouped: dict[tuple[str, str, str], dict[tuple[float, float], list[float]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        if not usable(result) or result.model not in models:
            continue
        model = models[result.model]
        key = (law_family(model), result.compressor, result.benchmark)
        grouped[key][(model.llm.params_b, float(result.visual_tokens or 0))].append(result.score)
    data: dict[tuple[str, str, str], LawData] = {}
    for key, points in grouped.items():
        law = LawData(*key)
        for (n, v), scores in sorted(points.items()):
            law.n.append(n)
            law.v.append(v)
            law.score.append(statistics.median(scores))
        data[key] = law
    return data


LawKey = tuple[str, str, str]
#: Fits made in this process, by (law, digest of its points): a second Planner refits nothing.
_FITTED: dict[tuple[LawKey, str], ScalingFit] = {}
#: ... and the points that could not be fitted, so they are not tried again.
_UNFITTABLE: set[tuple[LawKey, str]] = set()


@dataclass
class LawBook:
    """The fitted laws for a catalog, refreshed (in memory) when their results changed."""

    laws: dict[LawKey, ScalingFit]
    data: dict[LawKey, LawData]
    #: laws fitted in this call (not read from the catalog or this process's earlier fits)
    refitted: list[LawKey]
    #: laws whose fit the catalog does not hold for these points: fitted now or earlier in the process
    unsaved: list[LawKey] = field(default_factory=list)

    def save(self, catalog: Catalog) -> list[LawKey]:
        """Store every fit the catalog lacks for its current points; returns the laws stored."""
        for key in self.unsaved:
            family, compressor, benchmark = key
            catalog.save_scaling_fit(family=family, compressor=compressor, benchmark=benchmark,
                                     data_digest=self.data[key].digest, fit=self.laws[key].model_dump(mode="json"))
        stored, self.unsaved = list(self.unsaved), []
        return stored

    @classmethod
    def load(cls, catalog: Catalog, models: dict[str, ModelSpec], benchmarks: dict[str, Benchmark],
             results: list[QualityResult], *, refit: bool = True, use_stored: bool = True) -> LawBook:
        """Every law the results support: stored fits whose points still match, else fitted in memory.

        ``use_stored=False`` ignores stored fits (to fit everything afresh); ``refit=False`` leaves
        out laws that would need fitting.
        """
        return cls.build(catalog.scaling_fits() if use_stored else [], models, benchmarks, results, refit=refit)

    @classmethod
    def build(cls, stored_fits: list[StoredFit], models: dict[str, ModelSpec], benchmarks: dict[str, Benchmark],
              results: list[QualityResult], *, refit: bool = True) -> LawBook:
        """:meth:`load`, from fits already read."""
        from vlmplanner.scaling import ScalingFit, fit_scaling_law

        data = collect_law_data(models, results)
        stored = {(f.family, f.compressor, f.benchmark): f for f in stored_fits}
        laws: dict[LawKey, ScalingFit] = {}
        refitted: list[LawKey] = []
        unsaved: list[LawKey] = []
        for key, points in data.items():
            benchmark = benchmarks[key[2]]
            if not points.fittable or benchmark.max_score is None:
                continue
            saved = stored.get(key)
            if saved is not None and saved.data_digest == points.digest:
                laws[key] = ScalingFit.model_validate(saved.fit)
                continue
            fit = _FITTED.get((key, points.digest))
            if fit is None:
                if not refit or (key, points.digest) in _UNFITTABLE:
                    continue
                try:
                    fit = fit_scaling_law(points.n, points.v, points.score, scale=benchmark.max_score,
                                          label=f"{key[0]} + {key[1]} on {key[2]}")
                except FitError as exc:
                    log.info("no law for %s: %s", key, exc)
                    _UNFITTABLE.add((key, points.digest))
                    continue
                _FITTED[(key, points.digest)] = fit
                refitted.append(key)
            laws[key] = fit
            unsaved.append(key)
        return cls(laws=laws, data=data, refitted=refitted, unsaved=unsaved)
