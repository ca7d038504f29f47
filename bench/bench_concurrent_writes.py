"""8 processes x 250 results, one transaction per result, into SQLite and (if reachable) PostgreSQL.

Usage: python bench/bench_concurrent_writes.py [--postgres URL] [--processes 8] [--per-process 250]
Prints a table; record it in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from pathlib import Path

from vlmplanner.testing.concurrent_writes import run_concurrent_writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default=os.environ.get("VLMPLANNER_TEST_POSTGRES_URL"))
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--per-process", type=int, default=250)
    parser.add_argument("--batch", type=int, default=1, help="results per transaction")
    args = parser.parse_args()

    targets: list[tuple[str, str]] = []
    scratch = Path(tempfile.mkdtemp(prefix="vlmp-bench-"))
    targets.append(("sqlite (WAL file)", f"sqlite:///{scratch / 'catalog.sqlite3'}"))
    schema = None
    if args.postgres:
        from sqlalchemy import create_engine

        schema = f"vlmp_bench_{uuid.uuid4().hex[:8]}"
        base = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1)
        with create_engine(base).begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        targets.append(("postgresql", f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"))

    print(f"{'backend':<20} {'procs':>5} {'each':>5} {'batch':>5} {'expected':>8} {'stored':>7} {'dupes':>5}"
          f" {'errors':>6} {'seconds':>8} {'writes/s':>8}")
    try:
        for name, url in targets:
            r = run_concurrent_writes(url, processes=args.processes, per_process=args.per_process, batch=args.batch)
            transactions = r.processes * (r.per_process // args.batch + r.per_process // args.batch + 1)
            print(f"{name:<20} {r.processes:>5} {r.per_process:>5} {args.batch:>5} {r.expected_rows:>8}"
                  f" {r.stored_rows:>7} {r.duplicate_keys:>5} {len(r.errors):>6} {r.seconds:>8.1f}"
                  f" {transactions / r.seconds:>8.0f}")
            for error in r.errors[:3]:
                print("   ", error)
    finally:
        if schema:
            with create_engine(base).begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
