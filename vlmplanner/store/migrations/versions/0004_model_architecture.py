"""model architecture: the numbers only some families have

Revision ID: 0004_model_architecture
Revises: 0003_row_origin
Create Date: 2026-12-03

Nullable columns for an explicit attention head width (Qwen3, Gemma 3), a mixture-of-experts MLP
(Qwen3-VL-MoE) and the vision extras of Qwen3-VL (DeepStack mergers, a learned position table).
Existing rows keep NULL: the families they belong to have none of these.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_model_architecture'
down_revision = '0003_row_origin'
branch_labels = None
depends_on = None

COLUMNS = ("llm_head_dim", "llm_moe_num_experts", "llm_moe_experts_per_token", "llm_moe_expert_intermediate_size",
           "llm_moe_layers", "llm_moe_shared_expert_intermediate_size", "vision_deepstack_layers",
           "vision_position_embeddings")


def upgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
