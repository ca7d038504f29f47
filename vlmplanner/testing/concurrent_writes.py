"""Many processes writing results into one catalog at once: nothing lost, nothing duplicated.

Teams can run it against their own PostgreSQL before sharing a catalog; the test suite and
``bench/bench_concurrent_writes.py`` run it against SQLite and PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

__all__ = ["WriteStressReport", "run_concurrent_writes"]

#: A native-resolution model, so thousands of distinct token counts are all real configurations.
MODEL = "Qwen/Qwen2-VL-7B-Instruct"
SHARED_RESULTS = 10  # every process also writes these same results, to race on one natural key


@dataclass(frozen=True)
class WriteStressReport:
    processes: int
    per_process: int
    expected_rows: int
    stored_rows: int
    duplicate_keys: int
    errors: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.errors and self.stored_rows == self.expected_rows and self.duplicate_keys == 0


def _writer(url: str, worker: int, per_process: int, batch: int, source: str) -> str:
    from vlmplanner.schemas import ResultIn
    from vlmplanner.store import open_catalog

    try:
        with open_catalog(url, seed=False) as catalog:
            results = [
                ResultIn(model=MODEL, compressor="divprune", visual_tokens=1 + worker * per_process + i,
                         benchmark="GQA", score=(i % 100) * 0.5, source=source)
                for i in range(per_process)
            ]
            shared = [
                ResultIn(model=MODEL, compressor="none", visual_tokens=64 + i, benchmark="POPE", score=80.0,
                         source=source)
                for i in range(SHARED_RESULTS)
            ]
            for start in range(0, per_process, batch):
                catalog.add_results(results[start : start + batch])
                catalog.add_result(shared[(start // batch) % SHARED_RESULTS])
            catalog.add_results(shared)
        return ""
    except Exception as exc:  # reported, not raised: the parent counts failures
        return f"worker {worker}: {type(exc).__name__}: {exc}"


def run_concurrent_writes(
    url: str, *, processes: int = 8, per_process: int = 250, batch: int = 1, source: str = "concurrency check"
) -> WriteStressReport:
    """Start ``processes`` writers on ``url`` (opened and seeded first) and check what landed."""
    from vlmplanner.store import open_catalog

    open_catalog(url).close()
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with context.Pool(processes) as pool:
        outcomes = pool.starmap(_writer, [(url, w, per_process, batch, source) for w in range(processes)])
    seconds = time.perf_counter() - started
    with open_catalog(url, seed=False) as catalog:
        mine = [r for r in catalog.results(model=MODEL) if r.source == source]
    keys = [(r.compressor, r.visual_tokens, r.benchmark) for r in mine]
    return WriteStressReport(
        processes=processes,
        per_process=per_process,
        expected_rows=processes * per_process + SHARED_RESULTS,
        stored_rows=len(mine),
        duplicate_keys=len(keys) - len(set(keys)),
        errors=tuple(o for o in outcomes if o),
        seconds=seconds,
    )
