"""the old phone's state kept for undo

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 00:10:00

U-1: a migration applied under retain keeps, beside its record, the old
phone's rows before it and both phones' rows right after it, as JSON with a
format number (models.rules.undo), so an administrator can undo it and a later
schema can still read what was kept. Migrations applied before this revision
have no snapshot and cannot be undone.
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('migration_snapshot',
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('format', sa.Integer(), nullable=False),
    sa.Column('new_device_uid', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('old_after', sa.JSON(), nullable=False),
    sa.Column('new_after', sa.JSON(), nullable=False),
    sa.Column('undone_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('undo_record_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['record_id'], ['migration_record.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('record_id')
    )


def downgrade() -> None:
    op.drop_table('migration_snapshot')
