"""Due date, follow-up date, priority and properties of human tasks; properties of jobs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 22:30:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('human_tasks') as batch:
        batch.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('follow_up_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('priority', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('properties', JSON, nullable=True))
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('properties', JSON, nullable=True))
    op.create_index(op.f('ix_human_tasks_due_at'), 'human_tasks', ['due_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_human_tasks_due_at'), table_name='human_tasks')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('properties')
    with op.batch_alter_table('human_tasks') as batch:
        batch.drop_column('properties')
        batch.drop_column('priority')
        batch.drop_column('follow_up_at')
        batch.drop_column('due_at')
