"""``phone-migration kamailio-config``: the site's kamailio.cfg and IVR dispatcher list.

The values come from the product's own settings (the ``serve --config`` file and
the environment): the callback URL from ``[web]``, the token and the JSON-RPC
address from ``[callcontrol]``, the IVR workers from ``[ivr]``, the route point
from the site settings in the database; options override each. Registered on
the main command by ``phoneservice.cli.commands``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from ivr.kamailio import WorkerHost, write_dispatcher_list
from models.storage.settings import load_settings
from phoneservice.callcontrol.kamailio import KamailioSite, SiteError, render, write
from phoneservice.callcontrol.kamailio import callback_url as product_callback_url
from phoneservice.cli.common import _db, _fail
from phoneservice.config import ConfigError, load_config

DEFAULTS = KamailioSite()


@click.command("kamailio-config")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="The product's TOML settings file (as for serve --config).")
@click.option("--listen", "listen", multiple=True, metavar="ADDR",
              help="An address phones and the PBX reach (repeat for more); default 127.0.0.1.")
@click.option("--sip-port", type=click.IntRange(1, 65535), default=DEFAULTS.sip_port, show_default=True,
              help="SIP over UDP and TCP.")
@click.option("--tls-port", type=click.IntRange(1, 65535), default=DEFAULTS.tls_port, show_default=True)
@click.option("--tls-certificate", type=click.Path(dir_okay=False), help="PEM certificate: also listen on TLS.")
@click.option("--tls-private-key", type=click.Path(dir_okay=False), help="PEM private key for --tls-certificate.")
@click.option("--callback-url", help="The product's /callcontrol URL Kamailio posts to "
                                     "(default: http://<web.host>:<web.port>/callcontrol).")
@click.option("--rpc", "rpc", metavar="ADDR:PORT",
              help="Where Kamailio's JSON-RPC listens (default: from callcontrol.kamailio_rpc_url, else "
                   "127.0.0.1:5081).")
@click.option("--route-point", help="The IVR route point DN (default: the site setting ivr_route_point).")
@click.option("--workers-hosts", metavar="H1,H2", help="Hosts running `serve` with IVR workers (default: ivr.host).")
@click.option("--workers-port", type=click.IntRange(1, 65535), help="Their first worker's port (default: ivr.port).")
@click.option("--workers", type=click.IntRange(1, 256), help="Workers per host (default: ivr.workers).")
@click.option("--min-expires", type=click.IntRange(1), default=DEFAULTS.min_expires, show_default=True)
@click.option("--max-expires", type=click.IntRange(1), default=DEFAULTS.max_expires, show_default=True)
@click.option("--default-expires", type=click.IntRange(1), default=DEFAULTS.default_expires, show_default=True)
@click.option("--expiry-check", type=click.IntRange(1, 3600), default=DEFAULTS.expiry_check, show_default=True,
              help="Seconds between Kamailio's expiry runs.")
@click.option("--dispatcher-list", type=click.Path(dir_okay=False), default=DEFAULTS.ds_list, show_default=True,
              help="The IVR workers' list: named in the configuration, and written with it (-o).")
@click.option("--ctl-socket", default=DEFAULTS.ctl_socket, show_default=True, help="kamcmd's control socket.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write kamailio.cfg here (mode 0640: it holds the token) and the dispatcher list; "
                   "default: print the configuration.")
@click.pass_context
def kamailio_config(ctx, config_file, listen, sip_port, tls_port, tls_certificate, tls_private_key, callback_url,
                    rpc, route_point, workers_hosts, workers_port, workers, min_expires, max_expires,
                    default_expires, expiry_check, dispatcher_list, ctl_socket, output) -> None:
    """Kamailio as the phones' registrar and proxy and the IVR's front door (docs/deploy/README.md)."""
    try:
        config = load_config(config_file)
    except ConfigError as exc:
        _fail(str(exc))
    if route_point is None:
        with _db(ctx).read_session() as session:
            route_point = load_settings(session).ivr_route_point
    rpc_addr, rpc_port = _rpc(rpc, config.callcontrol.kamailio_rpc_url)
    site = KamailioSite(
        listen=tuple(listen) or DEFAULTS.listen, sip_port=sip_port, tls_port=tls_port,
        tls_certificate=tls_certificate, tls_private_key=tls_private_key, rpc_addr=rpc_addr, rpc_port=rpc_port,
        callback_url=callback_url or product_callback_url(config.web.host, config.web.port),
        token=config.callcontrol.token or "", route_point=route_point, min_expires=min_expires,
        max_expires=max_expires, default_expires=default_expires, expiry_check=expiry_check,
        ds_list=str(Path(dispatcher_list).absolute()) if output else dispatcher_list, ctl_socket=ctl_socket)
    try:
        text = render(site)
    except SiteError as exc:
        _fail(str(exc))
    if not site.token:
        click.echo("warning: no callcontrol.token: Kamailio answers every REGISTER with 503 until one is set",
                   err=True)
    if not output:
        sys.stdout.write(text)
        return
    hosts = [h.strip() for h in (workers_hosts or config.ivr.host).split(",") if h.strip()]
    port, count = workers_port or config.ivr.port, workers or max(config.ivr.workers, 1)
    if port + count - 1 > 65535:
        _fail("--workers-port and --workers run past port 65535")
    for host in hosts:
        if host in site.listen and port <= site.sip_port < port + count:
            _fail(f"the IVR workers on {host} (ports {port}..{port + count - 1}) would take Kamailio's SIP port "
                  f"{site.sip_port}: start serve with --ivr-port 5071 and give --workers-port 5071")
    write_dispatcher_list(site.ds_list, [WorkerHost(h, port, count) for h in hosts])
    write(output, text)
    click.echo(f"wrote {output} and {site.ds_list} ({len(hosts) * count} IVR workers)")


def _rpc(option: str | None, url: str | None) -> tuple[str, int]:
    if option:
        host, _, port = option.rpartition(":")
        if not host or not port.isdigit():
            _fail("--rpc: ADDR:PORT")
        return host.strip("[]"), int(port)
    if url:
        parts = urlsplit(url)
        return parts.hostname or DEFAULTS.rpc_addr, parts.port or 80
    return DEFAULTS.rpc_addr, DEFAULTS.rpc_port
