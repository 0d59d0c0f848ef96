"""The server process's own settings, one typed section each (STYLE: typed config).

Read from a TOML file (``serve --config FILE``) and from environment variables
``PHONE_MIGRATION_<SECTION>__<KEY>`` (e.g. ``PHONE_MIGRATION_TFTP__PORT=69``),
the environment winning. A bad value stops the start with the key's name.
The site's own rules (S-1..S-7) live in the database: ``models.storage.settings``.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.rules.datafiles import deep_merge


class ConfigError(ValueError):
    """A setting that can't be used; the message names the key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSection(Section):
    url: str | None = None  # None: PHONE_MIGRATION_DATABASE_URL, else sqlite:///phone-migration.db


class WebSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None  # how phones reach the screens; default http://host:port
    threads: int = Field(default=16, ge=1, le=256)  # admin UI, API, health, metrics
    # The phones' screens get their own pool: a storm of new phones can't starve
    # the admin UI, nor an import the phones; and few threads on one GIL finish
    # more short requests than many (docs/benchmarks.md).
    screen_threads: int = Field(default=2, ge=1, le=256)
    # Processes accepting on the web port (phoneservice.processes.webprocs): Flask runs on one
    # GIL per process, so one per core is what a phone storm needs.
    processes: int = Field(default=1, ge=1, le=64)
    secret_key: str | None = None  # signs admin sessions; None: one generated and kept in the database


class ConfigHttpSection(Section):
    """T-3: the config files over HTTP (the phones' port 6970 role)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=6970, ge=0, le=65535)


class TftpSection(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=6969, ge=0, le=65535)
    max_transfers: int = Field(default=1000, ge=1)
    rate_per_source: float = Field(default=50.0, ge=0)  # requests/s per source IP; 0 turns it off
    burst_per_source: int = Field(default=100, ge=1)
    timeout: float = Field(default=1.0, gt=0, le=255)
    retries: int = Field(default=5, ge=0, le=50)
    # T-6 proxy TFTP: the TFTP servers asked, in this order, for a phone this cluster doesn't know
    peers: list[str] = Field(default=[], max_length=16)  # "host:port", "[v6]:port", or "host" for port 69
    peer_timeout: float = Field(default=2.0, gt=0, le=30)  # seconds a peer has for the whole file
    peer_negative_seconds: float = Field(default=60.0, ge=0)  # a name no peer had, a peer that timed out
    # fetches from peers at once, per process; below the reactor's pool (max(10, web.threads)) so
    # phones this cluster knows keep their threads while a peer is slow
    peer_concurrency: int = Field(default=4, ge=1, le=64)

    @field_validator("peers")
    @classmethod
    def _peer_addresses(cls, peers: list[str]) -> list[str]:
        for peer in peers:
            peer_address(peer)
        return peers

    @property
    def peer_addresses(self) -> list[tuple[str, int]]:
        return [peer_address(peer) for peer in self.peers]


def peer_address(text: str) -> tuple[str, int]:
    """T-6: ``host:port``, ``[v6 address]:port`` or ``host`` (port 69) as (host, port)."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        if port and not port.startswith(":"):
            raise ValueError(f"{text!r}: [v6 address]:port")
        port = port[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""  # a host name, or a v6 address without a port
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{text!r}: not an IPv6 address") from None
    if not host or any(c.isspace() or c in "/[]" for c in host):
        raise ValueError(f"{text!r}: host:port")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{text!r}: the port is 1 to 65535")
    return host, int(port) if port else 69


class FilesSection(Section):
    loads_dir: Path = Path("loads")
    licenses_dir: Path = Path("licenses")


class CallManagerSection(Section):
    """What the config files tell phones about the call control."""

    name: str = "phone-migration"
    host: str = "127.0.0.1"
    sip_port: int = Field(default=5060, ge=1, le=65535)
    secured_sip_port: int = Field(default=5061, ge=1, le=65535)
    sccp_port: int = Field(default=2000, ge=1, le=65535)
    group: str = "Default"


class IvrSection(Section):
    """The IVR worker processes (phoneservice.processes.supervisor): worker i listens on ``port + i``."""

    workers: int = Field(default=1, ge=0, le=256)  # 0: no IVR in this process
    host: str = "127.0.0.1"  # SIP: a loopback address only, Kamailio relays to it
    media_host: str | None = None  # RTP, and the address in the SDP, where callers send audio; default: host
    media_public: str | None = None  # the SDP's address instead, when RTP is bound to one callers can't reach
    port: int = Field(default=5060, ge=1, le=65535)  # the first worker's; the others follow
    ready_timeout: float = Field(default=30.0, gt=0)  # no READY by then: killed and restarted
    start_concurrency: int = Field(default=4, ge=1)  # workers starting at once (about 1 s of CPU each)
    backoff_initial: float = Field(default=0.2, gt=0)  # first restart delay, doubled per crash (R-8: back within 2 s)
    backoff_max: float = Field(default=30.0, gt=0)
    healthy_after: float = Field(default=60.0, gt=0)  # up this long: the back-off starts over
    max_restarts: int = Field(default=10, ge=0)  # more crashes within restart_window: logged as a crash loop
    restart_window: float = Field(default=300.0, gt=0)
    drain_timeout: float = Field(default=15.0, gt=0)  # SIGTERM, then SIGKILL after this many seconds
    zygote: bool = True  # I-6: fork the workers from one preloaded process (shared imports); false: exec each
    warm: int | None = Field(default=None, ge=1)  # I-7: workers kept started when quiet (None: all of them)
    spare_calls: int = Field(default=4, ge=1)  # I-7: free call slots kept on started workers
    retire_after: float = Field(default=60.0, gt=0)  # I-7: seconds without a call before a worker is parked

    @field_validator("host", "media_host", "media_public")
    @classmethod
    def _an_ip(cls, host: str | None) -> str | None:
        if host is not None:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(f"{host!r}: an IP address") from None
        return host

    @field_validator("port")
    @classmethod
    def _ports_fit(cls, port: int, info: ValidationInfo) -> int:
        workers = info.data.get("workers", 1)
        if port + max(workers, 1) - 1 > 65535:
            raise ValueError(f"{workers} workers from port {port} run past 65535")
        return port

    @field_validator("backoff_max")
    @classmethod
    def _max_above_initial(cls, value: float, info: ValidationInfo) -> float:
        if value < info.data.get("backoff_initial", 0):
            raise ValueError("below backoff_initial")
        return value


class CallControlSection(Section):
    """The registrar and proxy the phones use (Kamailio, R-1..R-5; docs/deploy/README.md).

    ``token`` is shared with Kamailio both ways: its callbacks to
    ``/callcontrol/...`` and the product's JSON-RPC calls carry it in
    ``X-Phone-Migration-Token``. Without a token the callbacks answer 404; without
    ``kamailio_rpc_url`` there is no registrar: no reconciliation, and restarts
    go by plain UDP to UDP contacts only (R-5)."""

    token: str | None = Field(default=None, min_length=16, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")
    kamailio_rpc_url: str | None = Field(default=None, pattern=r"^https?://[^\s\"]+$")  # http://127.0.0.1:5081/RPC
    rpc_timeout: float = Field(default=5.0, gt=0, le=60)  # seconds per JSON-RPC call (a restart waits for the phone)
    reconcile_seconds: float = Field(default=60.0, ge=0)  # ul.dump + expiry every N seconds; 0: only at start
    grace_seconds: int = Field(default=30, ge=0)  # a registration counts this long past its expiry

    @property
    def registrar(self) -> bool:
        """Kamailio is the registrar: restarts go through it (R-5)."""
        return bool(self.kamailio_rpc_url and self.token)

    @property
    def remote_kamailio(self) -> bool:
        """The configured Kamailio runs on another host (its JSON-RPC address is not loopback)."""
        host = urlsplit(self.kamailio_rpc_url).hostname if self.kamailio_rpc_url else None
        try:
            return host is not None and not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host != "localhost"


class SipFrontSection(Section):
    """Kamailio started and kept running by ``serve`` (``serve --kamailio``; R-7, R-8).

    ``serve`` writes its ``kamailio.cfg`` and the IVR workers' list into ``dir``,
    runs it, restarts it when it dies, and stops it with the server. Kamailio
    listens on ``listen`` (the addresses phones and the PBX reach) at ``port``
    and answers the product's JSON-RPC on 127.0.0.1 at ``rpc_port``; the
    callcontrol token, if none is set, is made once and kept in ``dir``."""

    run: bool = False
    listen: list[str] = ["127.0.0.1"]
    advertise: str | None = None  # the address phones reach, when it is not one of listen's (port mapping)
    port: int = Field(default=5060, ge=1, le=65535)
    rpc_port: int = Field(default=5081, ge=1, le=65535)
    dir: Path = Path("kamailio")
    tls_certificate: str | None = None  # PEM: Kamailio also listens on TLS at port + 1
    tls_private_key: str | None = None
    ready_timeout: float = Field(default=20.0, gt=0)  # its JSON-RPC port not open by then: killed and restarted

    @field_validator("listen", "advertise")
    @classmethod
    def _ips(cls, listen: list[str] | str | None) -> list[str] | str | None:
        if listen is None:
            return None
        if not listen:
            raise ValueError("at least one address")
        for address in [listen] if isinstance(listen, str) else listen:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"{address!r}: an IP address") from None
        return listen


class LogSection(Section):
    level: str = "INFO"
    format: str = Field(default="json", pattern="^(json|text)$")


class TasksSection(Section):
    """F-6a: a bulk task outlives the process running it."""

    lease_seconds: float = Field(default=30.0, gt=0)  # a runner with no batch committed this long is taken for dead
    resume_every: float = Field(default=10.0, gt=0)  # how often this process looks for such a task to take over


class ServerConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHONE_MIGRATION_", env_nested_delimiter="__", extra="forbid")

    database: DatabaseSection = DatabaseSection()
    web: WebSection = WebSection()
    config_http: ConfigHttpSection = ConfigHttpSection()
    tftp: TftpSection = TftpSection()
    files: FilesSection = FilesSection()
    callmanager: CallManagerSection = CallManagerSection()
    ivr: IvrSection = IvrSection()
    callcontrol: CallControlSection = CallControlSection()
    sip_front: SipFrontSection = SipFrontSection()
    log: LogSection = LogSection()
    tasks: TasksSection = TasksSection()
    demo: bool = False

    @model_validator(mode="after")
    def _ivr_behind_kamailio(self) -> ServerConfig:
        """R-7: pjsip aborts on some malformed input, so only Kamailio may reach the IVR workers: they listen
        on loopback, unless the configured Kamailio runs on another host (which must then be the only one
        that reaches their ports)."""
        if not ipaddress.ip_address(self.ivr.host).is_loopback and not self.callcontrol.remote_kamailio:
            raise ValueError(f"ivr.host: {self.ivr.host} is not a loopback address: the IVR workers listen "
                              "on loopback behind Kamailio (R-7); media_host is the address callers send audio to")
        return self

    @model_validator(mode="after")
    def _workers_beside_kamailio(self) -> ServerConfig:
        """``serve --kamailio`` on the IVR's default port: the workers move to the port after Kamailio's
        TLS port (5062 by default), unless ``ivr.port`` was given, which must then not collide."""
        front, ivr = self.sip_front, self.ivr
        if not front.run or not ivr.workers or ivr.host not in front.listen:
            return self
        taken = range(front.port, front.port + 2)  # SIP, then TLS
        if not set(range(ivr.port, ivr.port + ivr.workers)) & set(taken):
            return self
        if "port" in ivr.model_fields_set:
            raise ValueError(f"ivr.port: the IVR workers ({ivr.port}..{ivr.port + ivr.workers - 1}) would take "
                             f"Kamailio's port {front.port} on {ivr.host}: choose another --ivr-port")
        self.ivr = ivr.model_copy(update={"port": front.port + 2})
        return self

    @property
    def services_base(self) -> str:
        return self.web.public_url or f"http://{self.web.host}:{self.web.port}"


def load_config(path: str | Path | None = None, **overrides: Any) -> ServerConfig:
    """File values, then the environment over them, then ``overrides`` (CLI flags)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    try:
        # init kwargs rank above the environment in pydantic-settings; file
        # values must not, so the environment is applied over the file here.
        env = ServerConfig().model_dump(exclude_unset=True)
        merged = deep_merge(deep_merge(data, env), overrides)
        return ServerConfig.model_validate(merged) if merged else ServerConfig()
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if not key:  # a check across sections names its key itself
            raise ConfigError(f"setting {err['msg'].removeprefix('Value error, ')}") from None
        raise ConfigError(f"setting {key}: {err['msg']}") from None
