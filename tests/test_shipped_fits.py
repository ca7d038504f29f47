"""catalog/fits.json holds the laws the shipped results give, fitted by the current code.

If this fails after you changed catalog/results/ or the fitting code, run
``python scripts/fit_shipped_laws.py`` and commit catalog/fits.json.
"""

from __future__ import annotations

import pytest

from vlmplanner.planner.laws import LawBook, collect_law_data
from vlmplanner.store import open_catalog
from vlmplanner.store.shipped import load_shipped


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with open_catalog(f"sqlite:///{tmp_path_factory.mktemp('fits') / 'c.sqlite3'}") as catalog:
        yield catalog


def test_every_shipped_fit_rests_on_the_shipped_points(fresh) -> None:  # type: ignore[no-untyped-def]
    shipped = load_shipped()
    models = {m.checkpoint: m for m in fresh.models()}
    benchmarks = {b.name: b for b in fresh.benchmarks()}
    data = collect_law_data(models, fresh.results())
    fittable = {key for key, points in data.items() if points.fittable and benchmarks[key[2]].max_score is not None}
    by_key = {(f.family, f.compressor, f.benchmark): f for f in shipped.fits}
    assert set(by_key) == fittable, "catalog/fits.json is stale: run python scripts/fit_shipped_laws.py"
    for key, fit in by_key.items():
        assert fit.data_digest == data[key].digest, f"{key}: stale fit; run python scripts/fit_shipped_laws.py"


def test_a_fresh_catalog_recommends_without_fitting(fresh, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import vlmplanner.scaling

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a shipped law was fitted again")

    monkeypatch.setattr(vlmplanner.scaling, "fit_scaling_law", refuse)
    models = {m.checkpoint: m for m in fresh.models()}
    benchmarks = {b.name: b for b in fresh.benchmarks()}
    book = LawBook.load(fresh, models, benchmarks, fresh.results())
    assert book.refitted == [] and book.unsaved == [] and len(book.laws) == len(load_shipped().fits)


def test_the_shipped_fit_is_what_the_code_fits_now(fresh) -> None:  # type: ignore[no-untyped-def]
    from vlmplanner.scaling import fit_scaling_law

    shipped = {(f.family, f.compressor, f.benchmark): f for f in load_shipped().fits}
    key = ("llava_next:Qwen1.5", "tokenpacker", "avg_ocr_like")
    models = {m.checkpoint: m for m in fresh.models()}
    points = collect_law_data(models, fresh.results())[key]
    benchmark = fresh.benchmark(key[2])
    assert benchmark.max_score is not None
    fit = fit_scaling_law(points.n, points.v, points.score, scale=benchmark.max_score,
                          label=f"{key[0]} + {key[1]} on {key[2]}")
    stored = shipped[key].fit
    for name in ("alpha", "beta", "A", "D", "rmse", "n_points"):
        assert fit.model_dump(mode="json")[name] == pytest.approx(stored[name], rel=1e-6, abs=1e-12), name
