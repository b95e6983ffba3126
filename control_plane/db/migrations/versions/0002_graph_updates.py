"""Graph updates: IncrementalUpdate runs of a graph, with the training and prediction jobs they start.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 10:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('graph_updates',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('graph_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.JSON(), nullable=False),
    sa.Column('workflow_id', sa.String(length=200), nullable=True),
    sa.Column('changed_tables', sa.JSON(), nullable=True),
    sa.Column('training_job_id', sa.String(length=32), nullable=True),
    sa.Column('prediction_job_id', sa.String(length=32), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name=op.f('ck_graph_updates_status')),
    sa.ForeignKeyConstraint(['graph_id'], ['graphs.id'], name=op.f('fk_graph_updates_graph_id_graphs')),
    sa.ForeignKeyConstraint(['prediction_job_id'], ['prediction_jobs.id'], name=op.f('fk_graph_updates_prediction_job_id_prediction_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_graph_updates_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['training_job_id'], ['training_jobs.id'], name=op.f('fk_graph_updates_training_job_id_training_jobs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_graph_updates'))
    )
    op.create_index(op.f('ix_graph_updates_graph_id'), 'graph_updates', ['graph_id'], unique=False)
    op.create_index(op.f('ix_graph_updates_prediction_job_id'), 'graph_updates', ['prediction_job_id'], unique=False)
    op.create_index(op.f('ix_graph_updates_project_id'), 'graph_updates', ['project_id'], unique=False)
    op.create_index(op.f('ix_graph_updates_training_job_id'), 'graph_updates', ['training_job_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_graph_updates_training_job_id'), table_name='graph_updates')
    op.drop_index(op.f('ix_graph_updates_project_id'), table_name='graph_updates')
    op.drop_index(op.f('ix_graph_updates_prediction_job_id'), table_name='graph_updates')
    op.drop_index(op.f('ix_graph_updates_graph_id'), table_name='graph_updates')
    op.drop_table('graph_updates')
