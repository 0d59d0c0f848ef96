"""bulk migration tasks and reported loads

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 06:29:14.689553
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders str fields as sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('migration_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('direction', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('include_unknown', sa.Boolean(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('tftp_server', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('batches_done', sa.Integer(), nullable=False),
    sa.Column('upload_errors', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('migration_task', schema=None) as batch_op:
        batch_op.create_index('uq_one_task_in_progress', ['status'], unique=True, sqlite_where=sa.text("status = 'In progress'"), postgresql_where=sa.text("status = 'In progress'"))

    op.create_table('task_device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('account_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('phone_number', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('extension', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('device_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('pid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('mac', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('location', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('calling_plan', sa.Boolean(), nullable=False),
    sa.Column('eligibility', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('target_load', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('batch', sa.Integer(), nullable=True),
    sa.Column('processed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('license_rule', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('phone_load', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['migration_task.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('task_id', 'mac', name='uq_task_device_mac')
    )
    with op.batch_alter_table('task_device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_device_mac'), ['mac'], unique=False)
        batch_op.create_index('ix_task_device_task_state', ['task_id', 'state'], unique=False)

    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reported_load', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_column('reported_load')

    with op.batch_alter_table('task_device', schema=None) as batch_op:
        batch_op.drop_index('ix_task_device_task_state')
        batch_op.drop_index(batch_op.f('ix_task_device_mac'))

    op.drop_table('task_device')
    with op.batch_alter_table('migration_task', schema=None) as batch_op:
        batch_op.drop_index('uq_one_task_in_progress', sqlite_where=sa.text("status = 'In progress'"), postgresql_where=sa.text("status = 'In progress'"))

    op.drop_table('migration_task')
