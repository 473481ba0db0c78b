"""Agent calls: one row per adapter call (or external worker attempt), for agent performance and timelines

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 01:30:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "agent_calls",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("adapter", sa.String(length=40), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("process_key", sa.String(length=255), nullable=False),
        sa.Column("element_id", sa.String(length=255), nullable=False),
        sa.Column("element_name", sa.String(length=500), nullable=True),
        sa.Column("worker_id", sa.String(length=255), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("retryable", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cost", JSON, nullable=True),
    )
    op.create_index("ix_agent_calls_instance", "agent_calls", ["instance_id", "started_at"], unique=False)
    op.create_index("ix_agent_calls_topic_finished", "agent_calls", ["topic", "finished_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_agent_calls_topic_finished", table_name="agent_calls")
    op.drop_index("ix_agent_calls_instance", table_name="agent_calls")
    op.drop_table("agent_calls")
