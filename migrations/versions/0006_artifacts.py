"""Artifacts: content-addressed blobs and the versions of named files attached to instances

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 01:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'artifact_blobs',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sha256'),
    )
    op.create_table(
        'artifacts',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('media_type', sa.String(length=255), nullable=False),
        sa.Column('element_id', sa.String(length=255), nullable=True),
        sa.Column('element_name', sa.String(length=500), nullable=True),
        sa.Column('job_id', sa.String(length=36), nullable=True),
        sa.Column('attempt', sa.Integer(), nullable=True),
        sa.Column('user_name', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['instances.id']),
        sa.ForeignKeyConstraint(['sha256'], ['artifact_blobs.sha256']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('instance_id', 'name', 'version', name='uq_artifacts_instance_name_version'),
    )
    op.create_index(op.f('ix_artifacts_instance_id'), 'artifacts', ['instance_id'], unique=False)
    op.create_index('ix_artifacts_sha256', 'artifacts', ['sha256'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_artifacts_sha256', table_name='artifacts')
    op.drop_index(op.f('ix_artifacts_instance_id'), table_name='artifacts')
    op.drop_table('artifacts')
    op.drop_table('artifact_blobs')
