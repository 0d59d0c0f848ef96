"""registrations from the registrar and confirmed migrations

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 21:25:43.565843

R-3: each device's current registration as the registrar (Kamailio) reports
it; R-6: a migration is confirmed when the new phone registers with its new
line 1, and an old phone that registers again afterwards is flagged.
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders str fields as sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('registration',
    sa.Column('device_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('aor', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('contact', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('received', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('transport', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('call_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('user_agent', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('registered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('device_name')
    )
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('migration_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('old_returned_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('migration_record', schema=None) as batch_op:
        batch_op.drop_column('old_returned_at')
        batch_op.drop_column('confirmed_at')

    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_expires_at'))

    op.drop_table('registration')
