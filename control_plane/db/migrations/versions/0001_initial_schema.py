"""Initial schema: projects, API keys, connectors, tables, graphs, pqueries, jobs and artifacts.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:46:48.998686
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'member')", name=op.f('ck_api_keys_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys'))
    )
    op.create_table('projects',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('name', name=op.f('uq_projects_name'))
    )
    op.create_table('api_key_projects',
    sa.Column('api_key_id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_api_key_projects_api_key_id_api_keys'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_api_key_projects_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('api_key_id', 'project_id', name=op.f('pk_api_key_projects'))
    )
    op.create_index(op.f('ix_api_key_projects_project_id'), 'api_key_projects', ['project_id'], unique=False)
    op.create_table('connectors',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('uri', sa.String(length=2000), nullable=False),
    sa.Column('credentials_ref', sa.String(length=200), nullable=True),
    sa.Column('endpoint_url', sa.String(length=2000), nullable=True),
    sa.Column('region', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('local', 's3')", name=op.f('ck_connectors_kind')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_connectors_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connectors')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_connectors_project_id_name'))
    )
    op.create_index(op.f('ix_connectors_project_id'), 'connectors', ['project_id'], unique=False)
    op.create_table('graphs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_graphs_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_graphs')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_graphs_project_id_name'))
    )
    op.create_index(op.f('ix_graphs_project_id'), 'graphs', ['project_id'], unique=False)
    op.create_table('graph_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('graph_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['graph_id'], ['graphs.id'], name=op.f('fk_graph_versions_graph_id_graphs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_graph_versions')),
    sa.UniqueConstraint('graph_id', 'version', name=op.f('uq_graph_versions_graph_id_version'))
    )
    op.create_index(op.f('ix_graph_versions_graph_id'), 'graph_versions', ['graph_id'], unique=False)
    op.create_table('pqueries',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('graph_id', sa.String(length=32), nullable=False),
    sa.Column('graph_version', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('anchor_step_seconds', sa.Integer(), nullable=True),
    sa.Column('task_type', sa.String(length=40), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('entity', sa.String(length=201), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['graph_id'], ['graphs.id'], name=op.f('fk_pqueries_graph_id_graphs')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_pqueries_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pqueries')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_pqueries_project_id_name'))
    )
    op.create_index(op.f('ix_pqueries_graph_id'), 'pqueries', ['graph_id'], unique=False)
    op.create_index(op.f('ix_pqueries_project_id'), 'pqueries', ['project_id'], unique=False)
    op.create_table('tables',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('connector_id', sa.String(length=32), nullable=False),
    sa.Column('path', sa.String(length=2000), nullable=False),
    sa.Column('source_uri', sa.String(length=2000), nullable=False),
    sa.Column('format_options', sa.JSON(), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('primary_key', sa.String(length=100), nullable=True),
    sa.Column('time_column', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('inferred', sa.JSON(), nullable=True),
    sa.Column('statistics', sa.JSON(), nullable=True),
    sa.Column('ingested_uri', sa.String(length=2000), nullable=True),
    sa.Column('row_count', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('registered', 'ingesting', 'ready', 'failed')", name=op.f('ck_tables_status')),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], name=op.f('fk_tables_connector_id_connectors')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_tables_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tables')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_tables_project_id_name'))
    )
    op.create_index(op.f('ix_tables_connector_id'), 'tables', ['connector_id'], unique=False)
    op.create_index(op.f('ix_tables_project_id'), 'tables', ['project_id'], unique=False)
    op.create_table('graph_links',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('graph_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('source_table_id', sa.String(length=32), nullable=False),
    sa.Column('source_column', sa.String(length=100), nullable=False),
    sa.Column('target_table_id', sa.String(length=32), nullable=False),
    sa.Column('target_column', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['graph_id'], ['graphs.id'], name=op.f('fk_graph_links_graph_id_graphs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_table_id'], ['tables.id'], name=op.f('fk_graph_links_source_table_id_tables')),
    sa.ForeignKeyConstraint(['target_table_id'], ['tables.id'], name=op.f('fk_graph_links_target_table_id_tables')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_graph_links')),
    sa.UniqueConstraint('graph_id', 'source_table_id', 'source_column', name=op.f('uq_graph_links_graph_id_source_table_id_source_column'))
    )
    op.create_index(op.f('ix_graph_links_graph_id'), 'graph_links', ['graph_id'], unique=False)
    op.create_index(op.f('ix_graph_links_source_table_id'), 'graph_links', ['source_table_id'], unique=False)
    op.create_index(op.f('ix_graph_links_target_table_id'), 'graph_links', ['target_table_id'], unique=False)
    op.create_table('graph_tables',
    sa.Column('graph_id', sa.String(length=32), nullable=False),
    sa.Column('table_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['graph_id'], ['graphs.id'], name=op.f('fk_graph_tables_graph_id_graphs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['table_id'], ['tables.id'], name=op.f('fk_graph_tables_table_id_tables')),
    sa.PrimaryKeyConstraint('graph_id', 'table_id', name=op.f('pk_graph_tables'))
    )
    op.create_index(op.f('ix_graph_tables_table_id'), 'graph_tables', ['table_id'], unique=False)
    op.create_table('training_jobs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('pquery_id', sa.String(length=32), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('run_mode', sa.String(length=32), nullable=False),
    sa.Column('split', sa.JSON(), nullable=True),
    sa.Column('progress', sa.JSON(), nullable=False),
    sa.Column('workflow_id', sa.String(length=200), nullable=True),
    sa.Column('chosen_trial_number', sa.Integer(), nullable=True),
    sa.Column('model_uri', sa.String(length=2000), nullable=True),
    sa.Column('metrics', sa.JSON(), nullable=True),
    sa.Column('baseline', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name=op.f('ck_training_jobs_status')),
    sa.ForeignKeyConstraint(['pquery_id'], ['pqueries.id'], name=op.f('fk_training_jobs_pquery_id_pqueries')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_training_jobs_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_jobs'))
    )
    op.create_index(op.f('ix_training_jobs_pquery_id'), 'training_jobs', ['pquery_id'], unique=False)
    op.create_index(op.f('ix_training_jobs_project_id'), 'training_jobs', ['project_id'], unique=False)
    op.create_table('prediction_jobs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('training_job_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('anchor_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('progress', sa.JSON(), nullable=False),
    sa.Column('workflow_id', sa.String(length=200), nullable=True),
    sa.Column('outputs', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name=op.f('ck_prediction_jobs_status')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_prediction_jobs_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['training_job_id'], ['training_jobs.id'], name=op.f('fk_prediction_jobs_training_job_id_training_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_jobs'))
    )
    op.create_index(op.f('ix_prediction_jobs_project_id'), 'prediction_jobs', ['project_id'], unique=False)
    op.create_index(op.f('ix_prediction_jobs_training_job_id'), 'prediction_jobs', ['training_job_id'], unique=False)
    op.create_table('training_trials',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('training_job_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=True),
    sa.Column('curves', sa.JSON(), nullable=True),
    sa.Column('model_uri', sa.String(length=2000), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name=op.f('ck_training_trials_status')),
    sa.ForeignKeyConstraint(['training_job_id'], ['training_jobs.id'], name=op.f('fk_training_trials_training_job_id_training_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_trials')),
    sa.UniqueConstraint('training_job_id', 'number', name=op.f('uq_training_trials_training_job_id_number'))
    )
    op.create_index(op.f('ix_training_trials_training_job_id'), 'training_trials', ['training_job_id'], unique=False)
    op.create_table('artifacts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('uri', sa.String(length=2000), nullable=False),
    sa.Column('producer', sa.String(length=200), nullable=False),
    sa.Column('content_hash', sa.String(length=128), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('manifest', sa.JSON(), nullable=True),
    sa.Column('training_job_id', sa.String(length=32), nullable=True),
    sa.Column('prediction_job_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['prediction_job_id'], ['prediction_jobs.id'], name=op.f('fk_artifacts_prediction_job_id_prediction_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_artifacts_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['training_job_id'], ['training_jobs.id'], name=op.f('fk_artifacts_training_job_id_training_jobs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_artifacts')),
    sa.UniqueConstraint('project_id', 'uri', name=op.f('uq_artifacts_project_id_uri'))
    )
    op.create_index(op.f('ix_artifacts_prediction_job_id'), 'artifacts', ['prediction_job_id'], unique=False)
    op.create_index(op.f('ix_artifacts_project_id'), 'artifacts', ['project_id'], unique=False)
    op.create_index(op.f('ix_artifacts_training_job_id'), 'artifacts', ['training_job_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_artifacts_training_job_id'), table_name='artifacts')
    op.drop_index(op.f('ix_artifacts_project_id'), table_name='artifacts')
    op.drop_index(op.f('ix_artifacts_prediction_job_id'), table_name='artifacts')
    op.drop_table('artifacts')
    op.drop_index(op.f('ix_training_trials_training_job_id'), table_name='training_trials')
    op.drop_table('training_trials')
    op.drop_index(op.f('ix_prediction_jobs_training_job_id'), table_name='prediction_jobs')
    op.drop_index(op.f('ix_prediction_jobs_project_id'), table_name='prediction_jobs')
    op.drop_table('prediction_jobs')
    op.drop_index(op.f('ix_training_jobs_project_id'), table_name='training_jobs')
    op.drop_index(op.f('ix_training_jobs_pquery_id'), table_name='training_jobs')
    op.drop_table('training_jobs')
    op.drop_index(op.f('ix_graph_tables_table_id'), table_name='graph_tables')
    op.drop_table('graph_tables')
    op.drop_index(op.f('ix_graph_links_target_table_id'), table_name='graph_links')
    op.drop_index(op.f('ix_graph_links_source_table_id'), table_name='graph_links')
    op.drop_index(op.f('ix_graph_links_graph_id'), table_name='graph_links')
    op.drop_table('graph_links')
    op.drop_index(op.f('ix_tables_project_id'), table_name='tables')
    op.drop_index(op.f('ix_tables_connector_id'), table_name='tables')
    op.drop_table('tables')
    op.drop_index(op.f('ix_pqueries_project_id'), table_name='pqueries')
    op.drop_index(op.f('ix_pqueries_graph_id'), table_name='pqueries')
    op.drop_table('pqueries')
    op.drop_index(op.f('ix_graph_versions_graph_id'), table_name='graph_versions')
    op.drop_table('graph_versions')
    op.drop_index(op.f('ix_graphs_project_id'), table_name='graphs')
    op.drop_table('graphs')
    op.drop_index(op.f('ix_connectors_project_id'), table_name='connectors')
    op.drop_table('connectors')
    op.drop_index(op.f('ix_api_key_projects_project_id'), table_name='api_key_projects')
    op.drop_table('api_key_projects')
    op.drop_table('projects')
    op.drop_table('api_keys')
