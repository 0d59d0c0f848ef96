"""admin roles and an optional onboarding method

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 23:59:00

E-2: an administrator account is ``full`` (every change) or ``read_only``
(looks, changes nothing); existing accounts stay full. S-6: a model's
onboarding method may be unset (None: M-1's "none set") while its load is set;
the column was NOT NULL, so a load with no method could not be saved.
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('admin_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default='full'))
    with op.batch_alter_table('device_defaults', schema=None) as batch_op:
        batch_op.alter_column('onboarding_method', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE device_defaults SET onboarding_method = 'auto_registration' WHERE onboarding_method IS NULL")
    with op.batch_alter_table('device_defaults', schema=None) as batch_op:
        batch_op.alter_column('onboarding_method', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)
    with op.batch_alter_table('admin_account', schema=None) as batch_op:
        batch_op.drop_column('role')
