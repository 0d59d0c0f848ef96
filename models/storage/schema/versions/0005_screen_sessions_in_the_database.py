"""screen sessions in the database

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 11:25:25.340833
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders str fields as sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('screen_session',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('device', sqlmodel.sql.sqltypes.AutoString(length=15), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('touched_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('screen_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_screen_session_touched_at'), ['touched_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('screen_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_screen_session_touched_at'))

    op.drop_table('screen_session')
