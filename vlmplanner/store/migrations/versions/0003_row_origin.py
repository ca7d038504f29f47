"""row origin: which rows the shipped data owns and which a user wrote

Revision ID: 0003_row_origin
Revises: 0002_scaling_fits
Create Date: 2026-12-02

Existing rows are sorted out once, here: a row whose natural key the shipped data of this release
holds is "shipped", unless it carries a user's mark (a model from ``vlmplanner register``, a
measured or imported result); everything else is "user". Seeding never overwrites a user's row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_row_origin'
down_revision = '0002_scaling_fits'
branch_labels = None
depends_on = None

TABLES = ("models", "compressors", "hardware", "benchmarks", "results")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('origin', sa.String(length=8), server_default='user', nullable=False))
    _mark_shipped_rows()


def _mark_shipped_rows() -> None:
    from vlmplanner.store.shipped import load_shipped

    shipped = load_shipped()
    bind = op.get_bind()
    names = {
        "models": ("checkpoint", [m.checkpoint for m in shipped.models]),
        "compressors": ("name", [c.name for c in shipped.compressors]),
        "hardware": ("name", [h.name for h in shipped.hardware]),
        "benchmarks": ("name", [b.name for b in shipped.benchmarks]),
    }
    for table, (column, keys) in names.items():
        if not keys:
            continue
        t = sa.table(table, sa.column(column), sa.column("origin"), sa.column("source"))
        statement = sa.update(t).where(t.c[column].in_(keys)).values(origin="shipped")
        if table == "models":
            statement = statement.where(sa.not_(t.c.source.like("%(vlmplanner register)%")))
        bind.execute(statement)
    benchmark_ids = {name: id_ for id_, name in bind.execute(sa.text("SELECT id, name FROM benchmarks"))}
    wanted = {(r.model_label, r.compressor_label, r.visual_tokens_label, benchmark_ids.get(r.benchmark), r.source)
              for r in shipped.results}
    results = sa.table("results", sa.column("id"), sa.column("model_label"), sa.column("compressor_label"),
                       sa.column("visual_tokens_label"), sa.column("benchmark_id"), sa.column("source"),
                       sa.column("provenance"), sa.column("origin"))
    rows = bind.execute(sa.select(results.c.id, results.c.model_label, results.c.compressor_label,
                                  results.c.visual_tokens_label, results.c.benchmark_id, results.c.source)
                        .where(results.c.provenance == "published"))
    ids = [row[0] for row in rows if tuple(row[1:]) in wanted]
    for start in range(0, len(ids), 500):
        bind.execute(sa.update(results).where(results.c.id.in_(ids[start:start + 500])).values(origin="shipped"))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('origin')
