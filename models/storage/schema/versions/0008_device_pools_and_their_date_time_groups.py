"""device pools and their date/time groups

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 23:25:50.679697

T-7: a device pool's date/time group (time zone, date template, the phones'
NTP servers) as data, so SEP<MAC>.cnf.xml carries the pool's clock instead of
a fixed Greenwich Standard Time with no NTP server. Devices keep naming their
pool by device.device_pool; a pool with no row gets the default group.
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders str fields as sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('device_pool',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('date_time_group', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('time_zone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('olson_time_zone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('date_template', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('ntp_servers', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('device_pool', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_pool_name'), ['name'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('device_pool', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_pool_name'))

    op.drop_table('device_pool')
