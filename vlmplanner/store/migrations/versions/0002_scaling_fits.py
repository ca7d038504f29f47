"""scaling fits

Revision ID: 0002_scaling_fits
Revises: 0001_initial
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002_scaling_fits'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scaling_fits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('family', sa.String(length=200), nullable=False),
    sa.Column('compressor_id', sa.Integer(), nullable=False),
    sa.Column('benchmark_id', sa.Integer(), nullable=False),
    sa.Column('data_digest', sa.String(length=64), nullable=False),
    sa.Column('alpha', sa.Float(), nullable=False),
    sa.Column('beta', sa.Float(), nullable=False),
    sa.Column('loo_mae_points', sa.Float(), nullable=True),
    sa.Column('n_points', sa.Integer(), nullable=False),
    sa.Column('fit', sa.JSON(), nullable=False),
    sa.Column('vlmplanner_version', sa.String(length=32), nullable=False),
    sa.Column('fitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['benchmark_id'], ['benchmarks.id'], name=op.f('fk_scaling_fits_benchmark_id_benchmarks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['compressor_id'], ['compressors.id'], name=op.f('fk_scaling_fits_compressor_id_compressors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scaling_fits')),
    sa.UniqueConstraint('family', 'compressor_id', 'benchmark_id', name='uq_scaling_fits_natural_key')
    )
    with op.batch_alter_table('scaling_fits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scaling_fits_benchmark_id'), ['benchmark_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scaling_fits_compressor_id'), ['compressor_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('scaling_fits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scaling_fits_compressor_id'))
        batch_op.drop_index(batch_op.f('ix_scaling_fits_benchmark_id'))

    op.drop_table('scaling_fits')
