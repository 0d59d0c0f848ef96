"""replacement waves

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 00:17:24

W-1..W-3: a replacement wave (its name, when and by whom it was staged, its
refused CSV rows) and its rows: old phone, new MAC, optional model, template
and description, the row's state and reason, the plan's summary and losses kept
from upload, the migration record once applied.
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders str fields as sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('wave',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('wave_row',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wave_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('old_device', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('new_device', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('template', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('losses', sa.JSON(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('changed', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['wave_id'], ['wave.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('wave_id', 'row')
    )
    with op.batch_alter_table('wave_row', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wave_row_new_device'), ['new_device'], unique=False)
        batch_op.create_index(batch_op.f('ix_wave_row_wave_id'), ['wave_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('wave_row', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wave_row_wave_id'))
        batch_op.drop_index(batch_op.f('ix_wave_row_new_device'))

    op.drop_table('wave_row')
    op.drop_table('wave')
