"""The site's kamailio.cfg (phoneservice.callcontrol.kamailio) and ``phone-migration kamailio-config``.

The shipped docs/deploy/kamailio.cfg is the generator's default output; each
rendered file is also checked by Kamailio itself (``kamailio -c``) where it is
installed. Running it against phones is tests/e2e/test_registrar.py."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from phoneservice.callcontrol.kamailio import KamailioSite, SiteError, render
from phoneservice.cli import main

SHIPPED = Path(__file__).parents[1] / "docs" / "deploy" / "kamailio.cfg"
TOKEN = "site-token-0123456789"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")


def kamailio_check(tmp_path: Path, text: str) -> None:
    """``kamailio -c``: the file parses and every module loads (nothing binds)."""
    if shutil.which("kamailio") is None:
        pytest.skip("kamailio is not installed (Debian: kamailio, kamailio-utils-modules)")
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(text)
    r = subprocess.run(["kamailio", "-c", "-f", str(cfg), "-A", f'CTL_SOCKET="unix:{tmp_path}/ctl"'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "config file ok" in r.stderr + r.stdout, r.stderr[-3000:]


def test_the_shipped_file_is_the_generators_default_output():
    assert SHIPPED.read_text() == render(KamailioSite()), \
        "regenerate: python -c 'from phoneservice.callcontrol.kamailio import render; print(render(), end=\"\")' " \
        "> docs/deploy/kamailio.cfg"


def test_the_default_is_a_registrar_that_refuses_until_a_token_is_set(tmp_path):
    text = render()
    for expected in ('#!define CALLBACK_TOKEN ""', '#!define CALLBACK_URL "http://127.0.0.1:8080/callcontrol"',
                     '#!define ROUTE_POINT "8000"', "#!define LISTEN udp:127.0.0.1:5060",
                     "#!define LISTEN_TCP tcp:127.0.0.1:5060", "#!define RPC_PORT 5081",
                     'loadmodule "http_client.so"', 'save("location")', 'lookup("location")',
                     "event_route[usrloc:contact-expired]", 'sl_send_reply("404", "Not Found")',
                     'sl_send_reply("403", "Forbidden")', "jsonrpc_dispatch()", "fix_nated_register()"):
        assert expected in text, expected
    assert "#!define WITH_TLS" not in text and '#!ifdef WITH_TLS\nloadmodule "tls.so"' in text  # TLS off
    kamailio_check(tmp_path, text)


def test_a_site_with_two_addresses_tls_and_its_own_values(tmp_path):
    site = KamailioSite(listen=("10.0.0.5", "2001:db8::5"), sip_port=5070, tls_port=5071,
                        tls_certificate="/etc/kamailio/cert.pem", tls_private_key="/etc/kamailio/key.pem",
                        rpc_addr="127.0.0.1", rpc_port=5090, callback_url="http://127.0.0.1:8080/callcontrol/",
                        token=TOKEN, route_point="8100", min_expires=30, max_expires=1800, default_expires=900)
    text = render(site)
    for expected in ("#!define LISTEN udp:10.0.0.5:5070", "#!define LISTEN_TCP tcp:10.0.0.5:5070",
                     "#!define WITH_TLS", "#!define LISTEN_TLS tls:10.0.0.5:5071",
                     '#!define TLS_CERTIFICATE "/etc/kamailio/cert.pem"', "listen=udp:[2001:db8::5]:5070",
                     "listen=tcp:[2001:db8::5]:5070", "listen=tls:[2001:db8::5]:5071",
                     f'#!define CALLBACK_TOKEN "{TOKEN}"', '#!define CALLBACK_URL "http://127.0.0.1:8080/callcontrol"',
                     '#!define ROUTE_POINT "8100"', "#!define MAX_EXPIRES 1800", "tcp_connection_lifetime=2100"):
        assert expected in text, expected
    assert "Written by `phone-migration kamailio-config` for this site" in text


@pytest.mark.parametrize("change, message", [
    ({"token": 'x"; exit; "'}, "token"),
    ({"listen": ("kamailio.example.com",)}, "IPv4 or IPv6"),
    ({"listen": ()}, "at least one"),
    ({"tls_certificate": "/c.pem"}, "both a certificate and a private key"),
    ({"route_point": "80 00"}, "route point"),
    ({"callback_url": "ftp://x/"}, "callback URL"),
    ({"ds_list": "/etc/my list"}, "ds_list"),
    ({"min_expires": 600, "default_expires": 300}, "expiries"),
    ({"rpc_port": 5060}, "rpc_port"),
])
def test_values_that_cannot_go_into_the_file_are_refused(change, message):
    with pytest.raises(SiteError, match=message):
        render(KamailioSite(**change))


@pytest.mark.skipif(not (MODULES / "tls.so").exists(), reason="kamailio-tls-modules is not installed")
def test_the_tls_variant_loads_in_kamailio(tmp_path):
    kamailio_check(tmp_path, render(KamailioSite(tls_certificate=str(tmp_path / "c.pem"),
                                                 tls_private_key=str(tmp_path / "k.pem"), token=TOKEN)))


# --- phone-migration kamailio-config ------------------------------------------------------
@pytest.fixture
def site_db(sqlite_url):
    r = CliRunner().invoke(main, ["--database", sqlite_url, "init-db", "--demo"])
    assert r.exit_code == 0, r.output
    return sqlite_url


def test_the_command_writes_the_configuration_and_the_dispatcher_list(site_db, tmp_path):
    settings = tmp_path / "product.toml"
    settings.write_text(f'[web]\nhost = "0.0.0.0"\nport = 8090\n[ivr]\nport = 5071\nworkers = 3\n'
                        f'[callcontrol]\ntoken = "{TOKEN}"\nkamailio_rpc_url = "http://127.0.0.1:5095/RPC"\n')
    out, ds = tmp_path / "kamailio.cfg", tmp_path / "ivr-workers.list"
    r = CliRunner().invoke(main, ["--database", site_db, "kamailio-config", "--config", str(settings),
                                  "--listen", "10.0.0.5", "-o", str(out), "--dispatcher-list", str(ds)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # it holds the token
    assert f'#!define CALLBACK_TOKEN "{TOKEN}"' in text
    assert '#!define CALLBACK_URL "http://127.0.0.1:8090/callcontrol"' in text  # 0.0.0.0: loopback
    assert "#!define RPC_PORT 5095" in text and '#!define ROUTE_POINT "8000"' in text  # the site setting
    assert f'#!define DS_LIST "{ds}"' in text and "#!define LISTEN udp:10.0.0.5:5060" in text
    assert ds.read_text().splitlines()[1:] == [f"1 sip:127.0.0.1:{p} 0 0 duid=w{n};maxload=4"
                                               for n, p in enumerate(range(5071, 5074), 1)]
    kamailio_check(tmp_path, text)


def test_the_command_prints_the_file_and_takes_the_route_point_from_the_site(site_db):
    r = CliRunner().invoke(main, ["--database", site_db, "settings", "set", "ivr_route_point", "8123"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["--database", site_db, "kamailio-config"],
                                           env={"PHONE_MIGRATION_CALLCONTROL__TOKEN": TOKEN})
    assert r.exit_code == 0, r.stderr
    assert '#!define ROUTE_POINT "8123"' in r.stdout and r.stdout.startswith("#!KAMAILIO")


def test_the_command_warns_without_a_token_and_refuses_workers_on_its_own_port(site_db, tmp_path, monkeypatch):
    monkeypatch.delenv("PHONE_MIGRATION_CALLCONTROL__TOKEN", raising=False)
    r = CliRunner().invoke(main, ["--database", site_db, "kamailio-config", "--route-point", "8000"])
    assert r.exit_code == 0 and "no callcontrol.token" in r.stderr
    r = CliRunner().invoke(main, ["--database", site_db, "kamailio-config", "--workers-port", "5059",
                                                  "--workers", "2", "-o", str(tmp_path / "k.cfg"),
                                                  "--dispatcher-list", str(tmp_path / "w.list")])
    assert r.exit_code == 1 and "would take Kamailio's SIP port 5060" in r.stderr
    assert not (tmp_path / "k.cfg").exists()
    r = CliRunner().invoke(main, ["--database", site_db, "kamailio-config", "--listen", "example.com"])
    assert r.exit_code == 1 and "IPv4 or IPv6" in r.stderr


def test_r7_behind_port_mapping_the_first_listen_advertises_the_reachable_address():
    """R-7, H-4: a Kamailio that binds the container's address and is reached at the host's names the
    host's in Via and Record-Route (``advertise`` on the first listen's sockets); a name is refused."""
    text = render(KamailioSite(listen=("172.17.0.2",), advertise="10.0.0.5"))
    assert "#!define LISTEN udp:172.17.0.2:5060 advertise 10.0.0.5:5060\n" in text
    assert "#!define LISTEN_TCP tcp:172.17.0.2:5060 advertise 10.0.0.5:5060\n" in text
    assert "advertise" not in render(KamailioSite(listen=("172.17.0.2",)))
    with pytest.raises(SiteError, match="an IPv4 or IPv6 address"):
        render(KamailioSite(advertise="pbx.example"))
