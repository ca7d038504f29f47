"""hybrid LLMs: linear-attention layers and gated attention output

Revision ID: 0006_linear_attention
Revises: 0005_sliding_window
Create Date: 2026-12-04

Nullable columns for an LLM that mixes linear attention (Qwen3.5's Gated DeltaNet) with softmax
attention: how many layers are linear, their key/value heads and widths and the convolution's
width; and whether the softmax-attention layers gate their output. Existing rows keep NULL: every
layer of their LLMs attends softly, ungated.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_linear_attention'
down_revision = '0005_sliding_window'
branch_labels = None
depends_on = None

COLUMNS = ("llm_linear_layers", "llm_linear_key_heads", "llm_linear_value_heads", "llm_linear_key_head_dim",
           "llm_linear_value_head_dim", "llm_linear_conv_kernel")


def upgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.add_column(sa.Column("llm_attention_gate", sa.Boolean(), nullable=True))
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
        batch_op.drop_column("llm_attention_gate")
