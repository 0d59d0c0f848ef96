"""The migration's reads and writes, as named functions on the transaction's connection.

The old phone's snapshot is read with four prebuilt statements, and the new
phone's rows are written as multi-row Core INSERTs with the columns' own
defaults, all on the driver's cursor (``models.storage.prepared``): a model
object costs more to build than its row to write, and ``Connection.execute``
cost 50-80 us a statement in the flow. docs/benchmarks.md, "Session 5"
(``bench/screens_cost.py``, ``bench/migrate.py``).
"""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from models.rules.plan import DeviceSnapshot, FeatureSnapshot, LineSnapshot
from models.rules.security import ProfileSpec
from models.storage.prepared import Prepared
from models.storage.stamp import bump
from models.tables.devices import Device, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance
from models.tables.records import MigrationRecord
from models.tables.templates import PhoneButtonTemplate, SecurityProfile
from models.tables.users import EndUser

_DEVICE_EXTRAS = Prepared(
    select(EndUser.user_id, PhoneButtonTemplate.name, PhoneButtonTemplate.kind, SecurityProfile.name,
           SecurityProfile.mode, SecurityProfile.tftp_encrypted, SecurityProfile.transport, SecurityProfile.key_order)
    .select_from(Device)
    .outerjoin(EndUser, col(EndUser.id) == col(Device.owner_id))
    .outerjoin(PhoneButtonTemplate, col(PhoneButtonTemplate.id) == col(Device.button_template_id))
    .outerjoin(SecurityProfile, col(SecurityProfile.id) == col(Device.security_profile_id))
    .where(Device.id == bindparam("device"))
)
_LINES = Prepared(
    select(LineAppearance.position, DirectoryNumber.id, DirectoryNumber.pattern, DirectoryNumber.partition,
           LineAppearance.label, LineAppearance.display_name, LineAppearance.ascii_display_name,
           LineAppearance.line_template, LineAppearance.settings, DirectoryNumber.is_intercom)
    .join(DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id))
    .where(LineAppearance.device_id == bindparam("device"))
    .order_by(col(LineAppearance.position))
)
_FEATURES = Prepared(
    select(FeatureButton.position, FeatureButton.feature, FeatureButton.target, FeatureButton.label)
    .where(FeatureButton.device_id == bindparam("device")).order_by(col(FeatureButton.position))
)
_KEMS = Prepared(select(KemModule.model).where(KemModule.device_id == bindparam("device")).order_by(col(KemModule.slot)))
_TEMPLATE_BY_NAME = Prepared(select(PhoneButtonTemplate.id, PhoneButtonTemplate.model, PhoneButtonTemplate.protocol)
                             .where(PhoneButtonTemplate.name == bindparam("name")))
_MARK_MIGRATED = Prepared(update(Device.__table__).where(Device.__table__.c.id == bindparam("device"))
                          .values(migrated=True, successor=bindparam("successor")))
_PROFILE_ID_BY_NAME = Prepared(select(SecurityProfile.id).where(SecurityProfile.name == bindparam("name")))
# The migration's rows: the columns' own defaults fill what the plan leaves out.
# A model object would cost more to build than its row to write.
_INSERT_DEVICE = Prepared.insert(Device.__table__, returning=[Device.__table__.c.id])
_INSERT_RECORD = Prepared.insert(MigrationRecord.__table__, returning=[MigrationRecord.__table__.c.id])
_INSERT_LINE = Prepared.insert(LineAppearance.__table__)
_INSERT_FEATURE = Prepared.insert(FeatureButton.__table__)
_INSERT_KEM = Prepared.insert(KemModule.__table__)


def snapshot(connection: Connection, device) -> DeviceSnapshot:  # device: a Device or its row
    ids = {"device": device.id}
    owner, template, kind, profile, mode, encrypted, transport, key_order = _DEVICE_EXTRAS.run(connection, ids).one()
    lines = tuple(
        LineSnapshot(
            position=position, dn_id=dn_id, pattern=pattern, partition=partition, label=label,
            display_name=display_name, ascii_display_name=ascii_name, line_template=line_template,
            settings=dict(settings or {}), is_intercom=is_intercom,
        )
        for position, dn_id, pattern, partition, label, display_name, ascii_name, line_template, settings, is_intercom
        in _LINES.run(connection, ids)
    )
    features = tuple(FeatureSnapshot(*row) for row in _FEATURES.run(connection, ids))
    kems = tuple(_KEMS.run(connection, ids).scalars())
    return DeviceSnapshot(
        **{k: getattr(device, k) for k in _COPIED_FIELDS},
        product_params=dict(device.product_params or {}),
        owner=owner,
        template_name=template,
        template_kind=kind,
        security=ProfileSpec(profile, mode, encrypted, transport, key_order) if profile else None,
        kems=kems,
        lines=lines,
        features=features,
    )


_COPIED_FIELDS = tuple(
    name for name in DeviceSnapshot.__dataclass_fields__
    if name in Device.model_fields and name not in ("product_params",)
)


def template_row(connection: Connection, name: str):
    """(id, model, protocol) of the phone button template with that name, or None."""
    return _TEMPLATE_BY_NAME.run(connection, {"name": name}).first()


def profile_id(connection: Connection, name: str) -> int | None:
    return _PROFILE_ID_BY_NAME.run(connection, {"name": name}).scalar()


def insert_device(session: Session, values: dict) -> int:
    """The new device's row; moves the site stamp, which Core writes do not move by themselves."""
    bump(session)
    return _INSERT_DEVICE.run(session.connection(), values).one().id


def insert_buttons(connection: Connection, lines: list[dict], features: list[dict], kems: list[dict]) -> None:
    """The new device's line appearances, feature buttons and KEMs: one multi-row INSERT per table."""
    for statement, values in ((_INSERT_LINE, lines), (_INSERT_FEATURE, features), (_INSERT_KEM, kems)):
        if values:
            statement.run_many(connection, values)


def mark_migrated(connection: Connection, device_id: int, successor: str) -> None:
    _MARK_MIGRATED.run(connection, {"device": device_id, "successor": successor})


def insert_record(connection: Connection, values: dict) -> int:
    """C-13: the migration record's row; its id."""
    return _INSERT_RECORD.run(connection, values).one().id
