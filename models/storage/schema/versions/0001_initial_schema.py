"""initial schema

Every table of models.tables. Generated with autogenerate against an empty SQLite
file, then reviewed: the partial unique index (C-12) carries both dialects' WHERE,
and the site version stamp (models.storage.stamp) starts with its one row.

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 05:36:13.392567
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders str fields as sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('auth_code_throttle',
    sa.Column('device_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('blocked_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('device_name')
    )
    op.create_table('device_defaults',
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('load', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('onboarding_method', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('model')
    )
    op.create_table('directory_number',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pattern', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('partition', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('alerting_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('is_intercom', sa.Boolean(), nullable=False),
    sa.Column('auto_registered', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pattern', 'partition', name='uq_dn_pattern_partition')
    )
    with op.batch_alter_table('directory_number', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directory_number_pattern'), ['pattern'], unique=False)

    op.create_table('migration_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('door', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('old_device', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('old_device_uid', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('old_model', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('new_device', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('new_model', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('migration_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_migration_record_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_migration_record_old_device'), ['old_device'], unique=False)
        batch_op.create_index('uq_one_successful_migration', ['old_device_uid'], unique=True, sqlite_where=sa.text("outcome = 'migrated'"), postgresql_where=sa.text("outcome = 'migrated'"))

    op.create_table('phone_button_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('protocol', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('phone_button_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phone_button_template_name'), ['name'], unique=True)

    op.create_table('security_profile',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tftp_encrypted', sa.Boolean(), nullable=False),
    sa.Column('transport', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('key_order', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('universal', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('security_profile', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_profile_name'), ['name'], unique=True)

    op.create_table('site_setting',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('site_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(sa.table('site_version', sa.column('id', sa.Integer), sa.column('version', sa.Integer)), [{'id': 1, 'version': 1}])
    op.create_table('user_profile',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('allow_self_provisioning', sa.Boolean(), nullable=False),
    sa.Column('phone_limit', sa.Integer(), nullable=False),
    sa.Column('allow_reassign_from_other_user', sa.Boolean(), nullable=False),
    sa.Column('universal_device_template', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('universal_line_template', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('user_profile', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_profile_name'), ['name'], unique=True)

    op.create_table('end_user',
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('self_service_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('first_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('last_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('primary_extension_id', sa.Integer(), nullable=True),
    sa.Column('profile_id', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pin_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['primary_extension_id'], ['directory_number.id'], ),
    sa.ForeignKeyConstraint(['profile_id'], ['user_profile.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('end_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_end_user_self_service_id'), ['self_service_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_end_user_user_id'), ['user_id'], unique=True)

    op.create_table('credential_state',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_failure_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('locked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['end_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('device',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('protocol', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('device_pool', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('calling_search_space', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('location', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('common_profile', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sip_profile', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('device_template', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('user_locale', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('network_locale', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('em_enabled', sa.Boolean(), nullable=False),
    sa.Column('em_logged_in_user', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('cti_controlled', sa.Boolean(), nullable=False),
    sa.Column('locked', sa.Boolean(), nullable=False),
    sa.Column('registration', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('load_override', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('button_template_id', sa.Integer(), nullable=True),
    sa.Column('security_profile_id', sa.Integer(), nullable=True),
    sa.Column('product_params', sa.JSON(), nullable=False),
    sa.Column('migrated', sa.Boolean(), nullable=False),
    sa.Column('successor', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('auto_registered', sa.Boolean(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['button_template_id'], ['phone_button_template.id'], ),
    sa.ForeignKeyConstraint(['owner_id'], ['end_user.id'], ),
    sa.ForeignKeyConstraint(['security_profile_id'], ['security_profile.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uid')
    )
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_migrated'), ['migrated'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_name'), ['name'], unique=True)
        batch_op.create_index(batch_op.f('ix_device_owner_id'), ['owner_id'], unique=False)

    op.create_table('feature_button',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('feature', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_id', 'position', name='uq_feature_position')
    )
    with op.batch_alter_table('feature_button', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feature_button_device_id'), ['device_id'], unique=False)

    op.create_table('kem_module',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_id', 'slot', name='uq_kem_slot')
    )
    with op.batch_alter_table('kem_module', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kem_module_device_id'), ['device_id'], unique=False)

    op.create_table('line_appearance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('dn_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('ascii_display_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('line_template', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dn_id'], ['directory_number.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_id', 'position', name='uq_line_position')
    )
    with op.batch_alter_table('line_appearance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_line_appearance_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_line_appearance_dn_id'), ['dn_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('line_appearance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_line_appearance_dn_id'))
        batch_op.drop_index(batch_op.f('ix_line_appearance_device_id'))

    op.drop_table('line_appearance')
    with op.batch_alter_table('kem_module', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kem_module_device_id'))

    op.drop_table('kem_module')
    with op.batch_alter_table('feature_button', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feature_button_device_id'))

    op.drop_table('feature_button')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_owner_id'))
        batch_op.drop_index(batch_op.f('ix_device_name'))
        batch_op.drop_index(batch_op.f('ix_device_migrated'))

    op.drop_table('device')
    op.drop_table('credential_state')
    with op.batch_alter_table('end_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_end_user_user_id'))
        batch_op.drop_index(batch_op.f('ix_end_user_self_service_id'))

    op.drop_table('end_user')
    with op.batch_alter_table('user_profile', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_profile_name'))

    op.drop_table('user_profile')
    op.drop_table('site_version')
    op.drop_table('site_setting')
    with op.batch_alter_table('security_profile', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_profile_name'))

    op.drop_table('security_profile')
    with op.batch_alter_table('phone_button_template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phone_button_template_name'))

    op.drop_table('phone_button_template')
    with op.batch_alter_table('migration_record', schema=None) as batch_op:
        batch_op.drop_index('uq_one_successful_migration', sqlite_where=sa.text("outcome = 'migrated'"), postgresql_where=sa.text("outcome = 'migrated'"))
        batch_op.drop_index(batch_op.f('ix_migration_record_old_device'))
        batch_op.drop_index(batch_op.f('ix_migration_record_at'))

    op.drop_table('migration_record')
    with op.batch_alter_table('directory_number', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directory_number_pattern'))

    op.drop_table('directory_number')
    op.drop_table('device_defaults')
    op.drop_table('auth_code_throttle')
