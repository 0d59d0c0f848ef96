"""The site stamp's fast read (``models.storage.stamp.site_version``), the key of the
config-file cache: a cached file never outlives a commit, from this process or another (H-1, T-1)."""

from __future__ import annotations

from sqlmodel import select

from models.rules.catalog import default_catalog
from models.storage.database import Database
from models.storage.stamp import current_version, site_version
from models.tables.devices import Device
from phoneservice.configfiles.cnf import ServerInfo
from phoneservice.configfiles.files import ConfigFiles


def test_h1_site_version_is_the_stamp_current_version_reads(demo_db):
    """H-1: the fast read and the ORM read give the same stamp, before and after a commit."""
    with demo_db.read_session() as session:
        before = current_version(session)
    assert site_version(demo_db) == before
    with demo_db.session() as session:
        session.exec(select(Device).where(Device.name == "SEP001122330002")).one().load_override = "sip88xx.x"
    with demo_db.read_session() as session:
        after = current_version(session)
    assert after == before + 1
    assert site_version(demo_db) == after


def test_h1_warm_file_changes_with_another_process_s_commit(demo_db, tmp_path):
    """H-1/T-1: a file served warm (only the stamp read) is re-rendered after a commit made
    through another Database on the same site, as another process or host would make it."""
    files = ConfigFiles(demo_db, default_catalog(), ServerInfo(), tmp_path, tmp_path)
    warm = files.resolve("SEP001122330002.cnf.xml")
    assert files.resolve("SEP001122330002.cnf.xml") is warm  # the cache answered
    other = Database(demo_db.url)
    try:
        with other.session() as session:
            session.exec(select(Device).where(Device.name == "SEP001122330002")).one().load_override = "sip88xx.h1"
    finally:
        other.dispose()
    assert b"sip88xx.h1" in files.resolve("SEP001122330002.cnf.xml")


def test_h1_a_change_elsewhere_re_reads_but_keeps_an_unchanged_file(demo_db, tmp_path):
    """H-1/T-1: after any commit the file is checked against the database again, and a
    phone whose config did not change keeps the very bytes it had (not rendered anew)."""
    files = ConfigFiles(demo_db, default_catalog(), ServerInfo(), tmp_path, tmp_path)
    before = files.resolve("SEP001122330002.cnf.xml")
    with demo_db.session() as session:
        session.exec(select(Device).where(Device.name != "SEP001122330002")).first().load_override = "sip88xx.other"
    stamp = site_version(demo_db)
    assert files.resolve("SEP001122330002.cnf.xml") is before
    assert files._fresh("SEP001122330002", stamp) is before  # cached again under the new stamp
