"""S-6: a phone model's default load and onboarding method, through the service, the API and the CLI."""

from __future__ import annotations

from models.rules.catalog import default_catalog
from models.services import site
from models.tables.settings import DeviceDefaults


def test_s6_a_load_with_no_onboarding_method_is_stored_as_none_set(demo_db):
    """S-6, M-1: a load alone is kept and the method stays unset (the column was NOT NULL)."""
    with demo_db.session() as session:
        site.set_device_defaults(session, "8861", load="sip88xx.14-2-1-0001-14", onboarding_method=None,
                                 catalog=default_catalog())
    with demo_db.read_session() as session:
        row = session.get(DeviceDefaults, "8861")
        assert (row.load, row.onboarding_method) == ("sip88xx.14-2-1-0001-14", None)
