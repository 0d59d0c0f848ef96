"""an admin UI BAT import's row

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 08:52:26

E-4: a BAT import started in the admin UI is a row (who started it, its file,
the web process running it, its outcome), so its page answers from any web
process or host; a partial unique index keeps one import running on the site.
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders str fields as sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('bat_import',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('runner', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('bat_import', schema=None) as batch_op:
        batch_op.create_index('uq_one_bat_import_running', ['state'], unique=True, sqlite_where=sa.text("state = 'running'"), postgresql_where=sa.text("state = 'running'"))


def downgrade() -> None:
    with op.batch_alter_table('bat_import', schema=None) as batch_op:
        batch_op.drop_index('uq_one_bat_import_running', sqlite_where=sa.text("state = 'running'"), postgresql_where=sa.text("state = 'running'"))

    op.drop_table('bat_import')
