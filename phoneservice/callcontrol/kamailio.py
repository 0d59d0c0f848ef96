"""A site's kamailio.cfg: Kamailio as the phones' registrar and proxy and the IVR's front door.

``render(KamailioSite(...))`` fills ``kamailio.cfg.j2`` (shipped beside this
module). Every site value becomes a ``#!define`` default, so one file can still
be started with other values (``kamailio -A 'LISTEN=udp:10.0.0.5:5060'``).
``docs/deploy/kamailio.cfg`` is ``render(KamailioSite())``, the defaults; a test
keeps the two equal. ``phone-migration kamailio-config`` (``phoneservice.cli.callcontrol``)
builds the site from the product's own settings and writes the file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined

TEMPLATE = "kamailio.cfg.j2"
TOKEN = re.compile(r"^[A-Za-z0-9._~-]*$")  # goes between double quotes in the file and in an HTTP header
ROUTE_POINT = re.compile(r"^[0-9A-Za-z*#+._-]{1,32}$")
SAFE_TEXT = re.compile(r'^[^"\\\s]+$')  # a URL, a path or a socket inside double quotes


class SiteError(ValueError):
    """A value that cannot go into kamailio.cfg; the message names it."""


@dataclass(frozen=True)
class KamailioSite:
    """What differs between sites. ``listen``: the addresses phones and the PBX reach
    (the first one is the LISTEN/LISTEN_TCP define); TLS listens only when both
    ``tls_certificate`` and ``tls_private_key`` are given. ``advertise``: the address
    phones reach when it is not one Kamailio can bind (a container behind port
    mapping): the first listen's sockets name it in Via and Record-Route."""

    listen: tuple[str, ...] = ("127.0.0.1",)
    sip_port: int = 5060
    tls_port: int = 5061
    tls_certificate: str | None = None
    tls_private_key: str | None = None
    rpc_addr: str = "127.0.0.1"  # Kamailio's JSON-RPC for the product (loopback unless the product is elsewhere)
    rpc_port: int = 5081
    callback_url: str = "http://127.0.0.1:8080/callcontrol"  # the product's events blueprint
    token: str = ""  # empty: every REGISTER is refused with 503 until one is set
    callback_timeout: int = 2  # seconds for the product to answer (http_client, whole seconds)
    route_point: str = "8000"  # the IVR route point DN (site setting ivr_route_point)
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    expiry_check: int = 10  # seconds between usrloc's expiry runs: an expired contact is told within this
    ds_list: str = "/etc/kamailio/ivr-workers.list"
    ctl_socket: str = "unix:/run/kamailio/kamailio_ctl"  # where Debian's kamcmd looks by default
    advertise: str | None = None

    def check(self) -> None:
        if not self.listen:
            raise SiteError("listen: at least one address")
        for address in (*self.listen, self.rpc_addr, *([self.advertise] if self.advertise else [])):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise SiteError(f"listen address {address!r}: an IPv4 or IPv6 address") from None
        for name in ("sip_port", "tls_port", "rpc_port"):
            if not 1 <= getattr(self, name) <= 65535:
                raise SiteError(f"{name}: 1..65535")
        if self.rpc_port == self.sip_port and self.rpc_addr in self.listen:
            raise SiteError("rpc_port: not the SIP port")
        if bool(self.tls_certificate) != bool(self.tls_private_key):
            raise SiteError("TLS needs both a certificate and a private key")
        if not TOKEN.match(self.token):
            raise SiteError("token: letters, digits and . _ ~ - only")
        if not ROUTE_POINT.match(self.route_point):
            raise SiteError(f"route point {self.route_point!r}: a DN")
        url = urlsplit(self.callback_url)
        if url.scheme not in ("http", "https") or not url.netloc or not SAFE_TEXT.match(self.callback_url):
            raise SiteError(f"callback URL {self.callback_url!r}: http(s)://host:port/callcontrol")
        for name in ("tls_certificate", "tls_private_key", "ds_list", "ctl_socket"):
            value = getattr(self, name)
            if value is not None and not SAFE_TEXT.match(value):
                raise SiteError(f"{name} {value!r}: no quotes, backslashes or spaces")
        if not 1 <= self.callback_timeout <= 30:
            raise SiteError("callback timeout: 1..30 seconds")
        if not 0 < self.min_expires <= self.default_expires <= self.max_expires:
            raise SiteError("expiries: 0 < min <= default <= max")
        if not 1 <= self.expiry_check <= 3600:
            raise SiteError("expiry check: 1..3600 seconds")

    @property
    def tls(self) -> bool:
        return bool(self.tls_certificate and self.tls_private_key)


def _socket(proto: str, address: str, port: int, advertise: str | None = None) -> str:
    host = f"[{address}]" if ":" in address else address
    if advertise:
        return f"{proto}:{host}:{port} advertise {_socket('', advertise, port)[1:]}"
    return f"{proto}:{host}:{port}"


def callback_url(web_host: str, web_port: int) -> str:
    """The product's /callcontrol URL for a Kamailio on the same host: loopback when the web listens everywhere."""
    host = "127.0.0.1" if web_host in ("0.0.0.0", "::", "") else web_host
    return f"http://{f'[{host}]' if ':' in host else host}:{web_port}/callcontrol"


def render(site: KamailioSite | None = None) -> str:
    """kamailio.cfg for ``site`` (the defaults: docs/deploy/kamailio.cfg)."""
    site = site or KamailioSite()
    site.check()
    env = Environment(loader=PackageLoader("phoneservice.callcontrol", "."), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    first, *others = site.listen
    extra = [_socket(proto, address, site.sip_port) for address in others for proto in ("udp", "tcp")]
    if site.tls:
        extra += [_socket("tls", address, site.tls_port) for address in others]
    return env.get_template(TEMPLATE).render(
        default=site == KamailioSite(),
        listen_udp=_socket("udp", first, site.sip_port, site.advertise),
        listen_tcp=_socket("tcp", first, site.sip_port, site.advertise),
        listen_tls=_socket("tls", first, site.tls_port, site.advertise), tls=site.tls, tls_certificate=site.tls_certificate,
        tls_private_key=site.tls_private_key, extra_listens=extra,
        rpc_addr=f"[{site.rpc_addr}]" if ":" in site.rpc_addr else site.rpc_addr, rpc_port=site.rpc_port,
        callback_url=site.callback_url.rstrip("/"), token=site.token, callback_timeout=site.callback_timeout,
        route_point=site.route_point, min_expires=site.min_expires, max_expires=site.max_expires,
        default_expires=site.default_expires, expiry_check=site.expiry_check, ds_list=site.ds_list,
        ctl_socket=site.ctl_socket,
    )


def write(path: str | Path, text: str, mode: int = 0o640) -> Path:
    """Write atomically, not world-readable: the file holds the shared token."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".kamailio.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
