"""initial schema

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('benchmarks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('metric', sa.String(length=200), nullable=False),
    sa.Column('min_score', sa.Float(), nullable=False),
    sa.Column('max_score', sa.Float(), nullable=True),
    sa.Column('higher_is_better', sa.Boolean(), nullable=False),
    sa.Column('task_family', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benchmarks')),
    sa.UniqueConstraint('name', name=op.f('uq_benchmarks_name'))
    )
    with op.batch_alter_table('benchmarks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_benchmarks_task_family'), ['task_family'], unique=False)

    op.create_table('catalog_meta',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_catalog_meta'))
    )
    op.create_table('compressors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('training', sa.String(length=16), nullable=False),
    sa.Column('paper', sa.Text(), nullable=False),
    sa.Column('arxiv', sa.String(length=32), nullable=False),
    sa.Column('prune_layer', sa.Integer(), nullable=True),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compressors')),
    sa.UniqueConstraint('name', name=op.f('uq_compressors_name'))
    )
    op.create_table('cost_measurements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidate_key', sa.String(length=300), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('device', sa.String(length=200), nullable=False),
    sa.Column('dtype', sa.String(length=32), nullable=False),
    sa.Column('batch_size', sa.Integer(), nullable=False),
    sa.Column('text_tokens', sa.Integer(), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('flops', sa.JSON(), nullable=False),
    sa.Column('prefill_ms', sa.Float(), nullable=True),
    sa.Column('prefill_ms_spread', sa.Float(), nullable=True),
    sa.Column('decode_ms_per_token', sa.Float(), nullable=True),
    sa.Column('peak_memory_bytes', sa.BigInteger(), nullable=True),
    sa.Column('versions', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cost_measurements')),
    sa.UniqueConstraint('candidate_key', 'method', 'device', 'dtype', 'batch_size', 'text_tokens', 'output_tokens', name='uq_cost_measurements_natural_key')
    )
    with op.batch_alter_table('cost_measurements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cost_measurements_candidate_key'), ['candidate_key'], unique=False)

    op.create_table('hardware',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('peak_bf16_tflops', sa.Float(), nullable=True),
    sa.Column('peak_fp16_tflops', sa.Float(), nullable=True),
    sa.Column('peak_fp32_tflops', sa.Float(), nullable=True),
    sa.Column('memory_gb', sa.Float(), nullable=True),
    sa.Column('memory_bandwidth_gbs', sa.Float(), nullable=True),
    sa.Column('price_usd_per_hour', sa.Float(), nullable=True),
    sa.Column('spec_source', sa.Text(), nullable=False),
    sa.Column('price_source', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hardware')),
    sa.UniqueConstraint('name', name=op.f('uq_hardware_name'))
    )
    op.create_table('models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('checkpoint', sa.String(length=200), nullable=False),
    sa.Column('model_type', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('llm_name', sa.String(length=200), nullable=False),
    sa.Column('llm_params_b', sa.Float(), nullable=False),
    sa.Column('llm_num_layers', sa.Integer(), nullable=False),
    sa.Column('llm_hidden_size', sa.Integer(), nullable=False),
    sa.Column('llm_num_heads', sa.Integer(), nullable=False),
    sa.Column('llm_num_kv_heads', sa.Integer(), nullable=False),
    sa.Column('llm_intermediate_size', sa.Integer(), nullable=False),
    sa.Column('llm_vocab_size', sa.Integer(), nullable=False),
    sa.Column('llm_tie_word_embeddings', sa.Boolean(), nullable=False),
    sa.Column('vision_name', sa.String(length=200), nullable=False),
    sa.Column('vision_image_size', sa.Integer(), nullable=False),
    sa.Column('vision_patch_size', sa.Integer(), nullable=False),
    sa.Column('vision_num_layers', sa.Integer(), nullable=False),
    sa.Column('vision_hidden_size', sa.Integer(), nullable=False),
    sa.Column('vision_num_heads', sa.Integer(), nullable=False),
    sa.Column('vision_intermediate_size', sa.Integer(), nullable=False),
    sa.Column('vision_spatial_merge_size', sa.Integer(), nullable=False),
    sa.Column('projector', sa.String(length=64), nullable=False),
    sa.Column('native_visual_tokens', sa.Integer(), nullable=False),
    sa.Column('public_checkpoint', sa.Boolean(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_models')),
    sa.UniqueConstraint('checkpoint', name=op.f('uq_models_checkpoint'))
    )
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_models_model_type'), ['model_type'], unique=False)

    op.create_table('results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=True),
    sa.Column('model_label', sa.String(length=200), nullable=False),
    sa.Column('compressor_id', sa.Integer(), nullable=False),
    sa.Column('compressor_label', sa.String(length=200), nullable=False),
    sa.Column('visual_tokens', sa.Integer(), nullable=True),
    sa.Column('visual_tokens_label', sa.String(length=100), nullable=False),
    sa.Column('benchmark_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('provenance', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=500), nullable=False),
    sa.Column('secondary', sa.Boolean(), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('device', sa.String(length=200), nullable=False),
    sa.Column('dtype', sa.String(length=32), nullable=False),
    sa.Column('versions', sa.JSON(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['benchmark_id'], ['benchmarks.id'], name=op.f('fk_results_benchmark_id_benchmarks'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['compressor_id'], ['compressors.id'], name=op.f('fk_results_compressor_id_compressors'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_results_model_id_models'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_results')),
    sa.UniqueConstraint('model_label', 'compressor_label', 'visual_tokens_label', 'benchmark_id', 'source', name='uq_results_natural_key')
    )
    with op.batch_alter_table('results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_results_benchmark_id'), ['benchmark_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_results_compressor_id'), ['compressor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_results_model_id'), ['model_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_results_model_id'))
        batch_op.drop_index(batch_op.f('ix_results_compressor_id'))
        batch_op.drop_index(batch_op.f('ix_results_benchmark_id'))

    op.drop_table('results')
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_models_model_type'))

    op.drop_table('models')
    op.drop_table('hardware')
    with op.batch_alter_table('cost_measurements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cost_measurements_candidate_key'))

    op.drop_table('cost_measurements')
    op.drop_table('compressors')
    op.drop_table('catalog_meta')
    with op.batch_alter_table('benchmarks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_benchmarks_task_family'))

    op.drop_table('benchmarks')
