"""Eight processes writing into one catalog lose nothing, duplicate nothing, and never see a lock error."""

from __future__ import annotations

from vlmplanner.testing.concurrent_writes import run_concurrent_writes


def test_eight_writers_lose_and_duplicate_nothing(catalog_url: str) -> None:
    report = run_concurrent_writes(catalog_url, processes=8, per_process=250, batch=25)
    assert report.errors == ()
    assert report.stored_rows == report.expected_rows == 8 * 250 + 10
    assert report.duplicate_keys == 0
