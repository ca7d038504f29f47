"""The planner's snapshot cache: a warm recommend opens no database, and any write makes it miss."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmplanner.planner import Planner, cache
from vlmplanner.schemas import Budget
from vlmplanner.store import open_catalog
from vlmplanner.store.stamp import data_version

#: the paper's grid: what-ifs (its checkpoints are unreleased, tokenpacker is not implemented)
TASK = {"task": "visual-reasoning", "budget": Budget(gflops=1000), "include": "all"}


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    open_catalog(url).close()
    return url


def test_a_second_planner_reads_the_cache_not_the_catalog(url: str) -> None:
    with Planner(url) as first:
        chosen = first.recommend(**TASK).candidate
    assert cache.cache_path(url) is not None and cache.cache_path(url).is_file()  # type: ignore[union-attr]
    with Planner(url) as second:
        assert second.recommend(**TASK).candidate == chosen
        assert second._catalog is None  # never opened


def test_every_write_makes_the_cache_miss(url: str) -> None:
    with Planner(url) as first:
        first.recommend(**TASK)
    before = data_version(url)
    with open_catalog(url) as catalog:
        catalog.add_result(model="paper-2411.03312/llava-next-qwen1.5-4b", compressor="tokenpacker",
                           visual_tokens=36, benchmark="avg_visual_reasoning", score=0.99, source="test: a run")
    assert data_version(url) != before
    with Planner(url) as second:
        rec = second.recommend(task="visual-reasoning", budget=Budget(gflops=1000),
                               model="paper-2411.03312/llava-next-qwen1.5-4b", compressor="tokenpacker", include="all")
        assert rec.quality.score == 0.99 and rec.quality.provenance == "measured"


def test_a_no_op_seed_keeps_the_cache(url: str) -> None:
    before = data_version(url)
    with open_catalog(url) as catalog:
        assert not catalog.seed().changed
    assert data_version(url) == before


def test_a_damaged_cache_file_is_rebuilt(url: str) -> None:
    with Planner(url) as first:
        chosen = first.recommend(**TASK).candidate
    path = cache.cache_path(url)
    assert path is not None
    path.write_bytes(b"not a pickle")
    with Planner(url) as second:
        assert second.recommend(**TASK).candidate == chosen
    assert cache.load_cached(url)[0] is not None  # written again


def test_an_unwritable_cache_folder_is_skipped(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("VLMPLANNER_DATA_DIR", str(blocker))
    with Planner(url) as planner:
        assert planner.recommend(**TASK).candidate
    assert not (blocker / "cache").exists()


def test_a_catalog_without_a_stamp_is_never_cached(url: str) -> None:
    import sqlite3

    from vlmplanner.store.stamp import sqlite_path

    path = sqlite_path(url)
    assert path is not None
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM catalog_meta WHERE key = 'data_version'")
    assert data_version(url) is None
    with Planner(url) as planner:
        planner.recommend(**TASK)
    assert cache.load_cached(url) == (None, None)


def test_a_warm_recommend_imports_no_database_engine(url: str, tmp_path: Path) -> None:
    with Planner(url) as planner:
        planner.recommend(**TASK)
    code = ("import sys\nfrom vlmplanner.cli.app import main\n"
            f"assert main(['recommend', '--task', 'visual-reasoning', '--budget-gflops', '1000', '--include-unrunnable',"
            f" '--catalog', {url!r}])"
            " == 0\nprint(sorted(m for m in ('sqlalchemy', 'alembic', 'scipy', 'torch') if m in sys.modules))")
    env = {**os.environ, "VLMPLANNER_DATA_DIR": os.environ["VLMPLANNER_DATA_DIR"]}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_first_recommend_from_the_shipped_data_imports_no_database_engine(tmp_path: Path) -> None:
    """The README's main job on an empty data directory reads the shipped CSV files without the ORM."""
    code = ("import sys\nfrom vlmplanner.cli.app import main\n"
            "assert main(['recommend', '--task', 'visual-reasoning', '--budget-gflops', '3000']) == 0\n"
            "print(sorted(m for m in ('sqlalchemy', 'alembic', 'scipy', 'torch') if m in sys.modules))")
    env = {**os.environ, "VLMPLANNER_DATA_DIR": str(tmp_path / "fresh")}
    env.pop("VLMPLANNER_CATALOG_URL", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_planner_sees_writes_made_after_its_snapshot(url: str) -> None:
    query = {"task": "visual-reasoning", "budget": Budget(gflops=1000), "model": "paper-2411.03312/llava-next-qwen1.5-4b",
             "compressor": "tokenpacker", "include": "all"}
    with Planner(url) as planner:
        before = planner.recommend(**query)
        with open_catalog(url) as catalog:  # another writer: a process, a colleague
            catalog.add_result(model="paper-2411.03312/llava-next-qwen1.5-4b", compressor="tokenpacker",
                               visual_tokens=before.candidate.visual_tokens, benchmark="avg_visual_reasoning",
                               score=0.98, source="test: a later run")
        after = planner.recommend(**query)
    assert after.quality.score == 0.98 and after.quality.provenance == "measured"


def test_the_shipped_view_is_what_a_fresh_catalog_holds(tmp_path: Path) -> None:
    from vlmplanner.planner.snapshot import Snapshot
    from vlmplanner.store.shipped import load_shipped

    with open_catalog(f"sqlite:///{tmp_path / 'fresh.sqlite3'}") as catalog:
        stored = Snapshot.load(catalog)
    shipped = Snapshot.from_shipped(load_shipped())
    assert shipped.models == stored.models and shipped.compressors == stored.compressors
    assert shipped.benchmarks == stored.benchmarks and shipped.hardware == stored.hardware
    assert shipped.observed.keys() == stored.observed.keys()
    for key, slot in stored.observed.items():
        for tokens, results in slot.items():
            mine = shipped.observed[key][tokens]
            assert [r.model_copy(update={"recorded_at": None}) for r in results] == mine
    assert {k: f.model_dump() for k, f in shipped.laws.laws.items()} == {
        k: f.model_dump() for k, f in stored.laws.laws.items()}
    assert shipped.measurements == stored.measurements == {}


def test_recommend_on_a_catalog_not_created_yet_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'later' / 'catalog.sqlite3'}"
    with Planner(url) as planner:
        rec = planner.recommend(**TASK)
        assert planner._catalog is None
    assert not (tmp_path / "later").exists()
    with Planner(url) as planner:  # the cached view
        assert planner.recommend(**TASK).candidate == rec.candidate
    with open_catalog(url) as catalog:  # now it exists, and a result is added
        catalog.add_result(model="paper-2411.03312/llava-next-qwen1.5-4b", compressor="tokenpacker",
                           visual_tokens=rec.candidate.visual_tokens, benchmark="avg_visual_reasoning", score=0.97,
                           source="test: after creation")
    with Planner(url) as planner:
        mine = planner.recommend(task="visual-reasoning", budget=Budget(gflops=1000),
                                 model="paper-2411.03312/llava-next-qwen1.5-4b", compressor="tokenpacker", include="all")
        assert mine.quality.score == 0.97
