"""a task's runner lease

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 23:59:00

F-6a: a bulk task In progress names the process running its batches and how
long that claim lasts (renewed at every batch), so when that process dies any
other process, on any host, takes the task over where its last committed batch
left it.
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders str fields as sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('migration_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('runner', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('migration_task', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
        batch_op.drop_column('runner')
