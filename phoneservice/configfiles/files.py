"""Which bytes a file name asks for: the resolver behind TFTP and HTTP (T-1..T-5).

Kept apart from the transports: ``tftp.py`` and the config-port HTTP route
only call ``ConfigFiles.resolve``. Config files are rendered per request from
the database and cached under the site version stamp (``models.storage.stamp``), so a
cached file is never stale. Files on disk (loads, licenses) are served only
from inside their folders: ``..``, absolute paths, NUL, backslashes and
symlinks that lead out are refused. A device file this cluster has no device
for first applies a staged wave row for that MAC (W-2, ``models.services.waves``),
then auto-registers (T-4), then goes to ``peers`` (T-6, ``peers.PeerFiles``) unless a peer forwarded
the request itself.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from models.rules.catalog import Catalog
from models.rules.refusals import Refused
from models.services.provisioning import (
    DeviceConfig,
    auto_register,
    default_loads,
    device_config,
    device_configs,
    device_names,
)
from models.services.waves import Waves
from models.storage.database import Database
from models.storage.settings import load_settings
from models.storage.stamp import current_version, site_version
from models.tables.devices import Device
from phoneservice.configfiles.cnf import ServerInfo, render_default, render_device
from phoneservice.configfiles.peers import PeerFiles
from phoneservice.observe import Metrics, log_event

SEP_CNF = re.compile(r"^SEP([0-9A-F]{12})\.cnf\.xml$", re.IGNORECASE)
SECURITY_FILE = re.compile(r"^(CTLSEP[0-9A-F]{12}\.tlv|ITLSEP[0-9A-F]{12}\.tlv|ITLFile\.tlv|CTLFile\.tlv)$", re.IGNORECASE)
LICENSE = re.compile(r"^([0-9A-F]{12})(_M2E)?\.lic$", re.IGNORECASE)
DEFAULT = {"xmldefault.cnf.xml"}
MAX_NAME = 255
READ_AHEAD = 200  # a miss renders this many stale or unrendered files in one batch


class ConfigFiles:
    def __init__(self, db: Database, catalog: Catalog, server: ServerInfo, loads_dir: Path, licenses_dir: Path,
                 metrics: Metrics | None = None, peers: PeerFiles | None = None) -> None:
        self.db = db
        self.catalog = catalog
        self.server = server
        self.loads_dir = Path(loads_dir)
        self.licenses_dir = Path(licenses_dir)
        self.metrics = metrics or Metrics()
        self.peers = peers
        self.waves = Waves(db, catalog)  # W-2: a staged new MAC's first fetch applies its wave row
        self._cache: dict[str, tuple[int, bytes]] = {}
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()  # one batch at a time; the others then find their file
        self._rendered_from: dict[str, tuple[DeviceConfig, bytes]] = {}  # under _render_lock

    @staticmethod
    def check_name(name: str) -> str:
        """Refuse names that could leave a folder, before anything is looked up."""
        if not name or len(name) > MAX_NAME or "\x00" in name or "\\" in name:
            raise PermissionError(f"bad file name {name!r}")
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            raise PermissionError(f"absolute path {name!r}")
        if any(part in ("..", ".") for part in name.split("/")):
            raise PermissionError(f"path traversal in {name!r}")
        return name

    def is_missing_fast(self, name: str) -> bool:
        """CTL/ITL files: answered "not found" at once, without a thread or the database (T-1)."""
        return bool(SECURITY_FILE.match(name))

    def resolve(self, name: str, model_hint: str | None = None, transport: str = "tftp",
                forwarded: bool = False) -> bytes | None:
        """The file's bytes, None when there is no such file; PermissionError for a bad name.
        ``forwarded``: asked by a peer proxying (T-6), answered from this cluster's devices only."""
        name = self.check_name(name)
        kind, data = self._resolve(name, model_hint, forwarded)
        self.metrics.config_requests.labels(transport, kind, "found" if data is not None else "missing").inc()
        return data

    def _resolve(self, name: str, model_hint: str | None, forwarded: bool = False) -> tuple[str, bytes | None]:
        if self.is_missing_fast(name):
            return "security", None
        match = SEP_CNF.match(name)
        if match:
            device = "SEP" + match.group(1).upper()
            data = self.device_file(device, model_hint, register=not forwarded)
            if data is None and self.peers is not None and not forwarded:  # T-6: only this canonical name
                return "proxied", self.peers.fetch(device + ".cnf.xml")
            return "device", data
        if name.lower() in DEFAULT:
            return "default", self.default_file()
        lic = LICENSE.match(name)
        if lic:  # F-5: a license only ever for its own MAC, upper case on disk
            return "license", self._from_folder(self.licenses_dir, lic.group(1).upper() + (lic.group(2) or "").upper() + ".lic")
        return "load", self._from_folder(self.loads_dir, name)

    def _cached(self, key: str, version: int, render) -> bytes | None:
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        data = render()
        if data is not None:
            with self._lock:
                self._cache[key] = (version, data)
        return data

    def device_file(self, name: str, model_hint: str | None = None, register: bool = True) -> bytes | None:
        for _ in range(3):  # a phone registered by a concurrent request is read on the next turn
            data = self._fresh(name, site_version(self.db))  # warm: the stamp is the only read
            if data is None:
                with self.db.read_session() as session:
                    version = current_version(session)
                    data = self._fresh(name, version)
                    if data is None and not self._never_a_device(session, name):
                        data = self._render_batch(session, name, version)
            if data is not None or not register:
                return data
            if self.waves.apply_on_contact(name):  # W-2, before T-4's auto-registration and T-6's peers
                log_event("wave_row_applied", device=name)
                with self.db.read_session() as session:  # this file alone: every other cached file is stale now
                    config = device_config(session, name, self.catalog)
                if config is not None:
                    return render_device(config, self.server)
                continue
            try:
                with self.db.session() as session:
                    device = self._auto_register(session, name, model_hint)
                    if device is None:
                        return None
                    session.flush()
                    return render_device(device_config(session, name, self.catalog), self.server)
            except IntegrityError:
                continue
        return None

    def stamp(self) -> int:
        """The site stamp now, the cache's key (``models.storage.stamp.site_version``)."""
        return site_version(self.db)

    def cached_device_file(self, name: str, version: int, transport: str = "tftp") -> bytes | None:
        """``SEP<MAC>.cnf.xml``'s bytes when the cache holds them fresh under ``version``,
        counted as served; None otherwise, counting nothing (``resolve`` then answers)."""
        match = SEP_CNF.match(name)
        data = self._fresh("SEP" + match.group(1).upper(), version) if match else None
        if data is not None:
            self.metrics.config_requests.labels(transport, "device", "found").inc()
        return data

    def _fresh(self, key: str, version: int) -> bytes | None:
        with self._lock:
            hit = self._cache.get(key)
        return hit[1] if hit is not None and hit[0] == version else None

    def _never_a_device(self, session, name: str) -> bool:
        """A name the cache never held and no device has: an unknown phone (a wave's new phone, T-4's)
        needs no batch; a batch would re-read up to READ_AHEAD stale files for each one (W-2's storm:
        every applied row moves the site stamp)."""
        with self._lock:
            if name in self._cache:
                return False
        return session.exec(select(Device.id).where(Device.name == name)).first() is None

    def _render_batch(self, session, name: str, version: int) -> bytes | None:
        """Render ``name`` and, in the same few queries, up to READ_AHEAD others not
        fresh under ``version``: a boot storm after a change (or a start) costs a
        handful of batches, not one round of queries per phone."""
        with self._render_lock:
            data = self._fresh(name, version)
            if data is not None:
                return data
            with self._lock:
                stale = [k for k, (v, _) in self._cache.items() if v != version and k.startswith("SEP")]
            batch = [name] + [k for k in stale if k != name][: READ_AHEAD - 1]
            if len(batch) < READ_AHEAD:
                with self._lock:
                    fresh = {k for k, (v, _) in self._cache.items() if v == version}
                batch += [n for n in device_names(session) if n not in fresh and n not in batch][: READ_AHEAD - len(batch)]
            rendered = {n: self._render(n, c) for n, c in device_configs(session, batch, self.catalog).items()}
            with self._lock:
                for key in batch:
                    self._cache.pop(key, None)
                self._cache.update({n: (version, data) for n, data in rendered.items()})
            return rendered.get(name)

    def _render(self, name: str, config: DeviceConfig) -> bytes:
        """``render_device``, unless the device's config is the one its last file was
        rendered from: the site stamp moves for any change, and most files then stay
        the same (a stale boot storm, docs/benchmarks.md: render was 0.4-0.6 ms of a
        phone's 0.6-1.4 ms, comparing its config 5 µs)."""
        last = self._rendered_from.get(name)
        if last is not None and last[0] == config:
            return last[1]
        data = render_device(config, self.server)
        self._rendered_from[name] = (config, data)
        return data

    def warm(self) -> int:
        """Render every device ahead of the first request (at start); returns how many."""
        with self.db.read_session() as session:
            version = current_version(session)
            names = device_names(session)
        for name in names:  # each batch renders READ_AHEAD of them; fresh ones are skipped
            if self._fresh(name, version) is not None:
                continue
            with self.db.read_session() as session:
                if current_version(session) != version:
                    break  # something changed meanwhile: requests render it
                self._render_batch(session, name, version)
        return len(names)

    def _auto_register(self, session, name: str, model_hint: str | None):
        """T-4: an unknown phone asking for its file while auto-registration is on."""
        try:
            device = auto_register(session, name[3:], self.catalog, model_hint)
        except Refused as refusal:
            self.metrics.autoreg.labels("exhausted" if refusal.code == "autoreg_exhausted" else "refused").inc()
            log_event("auto_registration_refused", device=name, reason=refusal.message)
            return None
        if device is None:
            self.metrics.autoreg.labels("disabled").inc()
            return None
        self.metrics.autoreg.labels("registered").inc()
        log_event("auto_registered", device=name, model=device.model)
        return device

    def default_file(self) -> bytes:
        with self.db.read_session() as session:
            version = current_version(session)
            return self._cached("XMLDefault.cnf.xml", version, lambda: render_default(
                default_loads(session, self.catalog), self.server, load_settings(session).autoreg_enabled))

    @staticmethod
    def _from_folder(root: Path, name: str) -> bytes | None:
        base = os.path.realpath(root)
        path = os.path.realpath(os.path.join(base, name))
        if os.path.commonpath([base, path]) != base:
            raise PermissionError(f"{name!r} leads outside {root}")
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as handle:
            return handle.read()
