"""sliding-window attention: the window and how many decoder layers use it

Revision ID: 0005_sliding_window
Revises: 0004_model_architecture
Create Date: 2026-12-04

Nullable columns for an LLM whose layers mix sliding-window and full attention (Gemma 3): the
window in positions and the number of windowed layers. Existing rows keep NULL: their LLMs attend
to every position in every layer.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_sliding_window'
down_revision = '0004_model_architecture'
branch_labels = None
depends_on = None

COLUMNS = ("llm_sliding_window", "llm_sliding_layers")


def upgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
