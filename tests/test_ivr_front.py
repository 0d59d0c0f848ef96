"""R-7: the IVR workers never face the network. Their SIP listens on loopback
(their audio on ``ivr.media_host``); another address is taken only with a
Kamailio on another host; ``serve --host`` moves the audio, not the SIP; a
server without Kamailio says so."""

from __future__ import annotations

import logging

import pytest

from phoneservice.config import ConfigError, load_config
from phoneservice.processes.ivr_worker import worker_command


def test_the_workers_sip_is_refused_off_loopback_without_a_kamailio_elsewhere():
    """R-7: ivr.host on a LAN address with no Kamailio, or with Kamailio on this host, is a setting error."""
    with pytest.raises(ConfigError, match=r"setting ivr\.host: 10\.0\.0\.5 is not a loopback address"):
        load_config(ivr={"host": "10.0.0.5"})
    with pytest.raises(ConfigError, match="ivr.host"):
        load_config(ivr={"host": "10.0.0.5"}, callcontrol={"kamailio_rpc_url": "http://127.0.0.1:5081/RPC"})
    with pytest.raises(ConfigError, match="ivr.host"):
        load_config(ivr={"host": "0.0.0.0"})
    with pytest.raises(ConfigError, match="an IP address"):
        load_config(ivr={"host": "localhost"})
    assert load_config(ivr={"host": "127.0.0.2"}).ivr.host == "127.0.0.2"
    assert load_config(ivr={"host": "::1"}).ivr.host == "::1"


def test_a_kamailio_on_another_host_may_reach_workers_on_this_hosts_address():
    """R-7: several hosts behind one Kamailio (docs/deploy/README.md): the workers listen where it reaches them."""
    config = load_config(ivr={"host": "10.0.0.6"}, callcontrol={"kamailio_rpc_url": "http://10.0.0.5:5081/RPC"})
    assert config.ivr.host == "10.0.0.6" and config.callcontrol.remote_kamailio
    assert not load_config(callcontrol={"kamailio_rpc_url": "http://localhost:5081/RPC"}).callcontrol.remote_kamailio


def test_the_audio_address_is_its_own_setting_and_goes_to_the_worker():
    """R-7: RTP and the SDP's address on media_host, SIP on loopback."""
    config = load_config(ivr={"media_host": "10.0.0.5"})
    assert (config.ivr.host, config.ivr.media_host) == ("127.0.0.1", "10.0.0.5")
    with pytest.raises(ConfigError, match="ivr.media_host"):
        load_config(ivr={"media_host": "phones.example"})
    argv = worker_command("127.0.0.1", 5071, "sqlite:///pm.db", media_host="10.0.0.5")
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv[argv.index("--media-host") + 1] == "10.0.0.5"
    assert "--media-host" not in worker_command("127.0.0.1", 5071, "sqlite:///pm.db", media_host="127.0.0.1")


def test_serve_host_moves_the_audio_and_leaves_the_workers_sip_on_loopback(monkeypatch):
    """R-7: ``serve --host 10.0.0.5`` listens there for web, config files and TFTP; the IVR's SIP stays on loopback."""
    from click.testing import CliRunner

    from phoneservice.cli.commands import main

    seen = {}
    monkeypatch.setattr("phoneservice.processes.server.run", lambda config, demo=False: seen.setdefault("c", config))
    result = CliRunner().invoke(main, ["--database", "sqlite:///unused.db", "serve", "--host", "10.0.0.5"])
    assert result.exit_code == 0, result.output
    config = seen["c"]
    assert (config.web.host, config.tftp.host, config.config_http.host) == ("10.0.0.5",) * 3
    assert (config.ivr.host, config.ivr.media_host) == ("127.0.0.1", "10.0.0.5")


def test_serve_without_kamailio_says_the_ivr_is_unprotected(monkeypatch):
    """R-7: at the start, before anything runs, one warning naming the setting that is missing."""
    from phoneservice.processes import server

    class Stop(Exception):
        pass

    class Db:
        def __init__(self, url):
            pass

        def upgrade(self):
            pass

        def dispose(self):
            pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(server, "Database", Db)
    monkeypatch.setattr(server, "build", stop)
    events = []
    monkeypatch.setattr(server, "log_event", lambda event, level=logging.INFO, **fields: events.append((event, level)))
    with pytest.raises(Stop):
        server.run(load_config(ivr={"workers": 1}))
    assert events == [("ivr_unprotected", logging.WARNING)]
    events.clear()
    with pytest.raises(Stop):
        server.run(load_config(ivr={"workers": 1}, callcontrol={"kamailio_rpc_url": "http://127.0.0.1:5081/RPC"}))
    with pytest.raises(Stop):
        server.run(load_config(ivr={"workers": 0}))
    assert events == []


def test_serve_kamailio_puts_the_workers_beside_it_and_names_its_rpc_and_a_kept_token(tmp_path, monkeypatch):
    """R-7: ``serve --kamailio`` on the IVR's default port moves the workers past Kamailio's SIP and TLS
    ports; an ivr.port given on Kamailio's port is refused by name; the server talks to that Kamailio
    (its JSON-RPC on loopback) with a token made once and kept in sip_front.dir (mode 0600)."""
    from phoneservice.processes.sip_front import with_front

    assert load_config(sip_front={"run": True}).ivr.port == 5062
    assert load_config(sip_front={"run": True, "listen": ["10.0.0.5"]}).ivr.port == 5060  # not the same address
    assert load_config(sip_front={"run": True}, ivr={"port": 5090}).ivr.port == 5090
    with pytest.raises(ConfigError, match="would take Kamailio's port 5060 on 127.0.0.1: choose another --ivr-port"):
        load_config(sip_front={"run": True}, ivr={"port": 5059, "workers": 2})
    with pytest.raises(ConfigError, match="sip_front.listen"):
        load_config(sip_front={"run": True, "listen": ["phones.example"]})
    config = with_front(load_config(sip_front={"run": True, "dir": str(tmp_path / "k"), "rpc_port": 5181}))
    assert config.callcontrol.kamailio_rpc_url == "http://127.0.0.1:5181/RPC" and config.callcontrol.registrar
    kept = tmp_path / "k" / "callcontrol.token"
    assert kept.read_text().strip() == config.callcontrol.token and kept.stat().st_mode & 0o777 == 0o600
    again = with_front(load_config(sip_front={"run": True, "dir": str(tmp_path / "k")}))
    assert again.callcontrol.token == config.callcontrol.token  # kept across restarts
    given = with_front(load_config(sip_front={"run": True, "dir": str(tmp_path / "g")},
                                   callcontrol={"token": "t" * 20}))
    assert given.callcontrol.token == "t" * 20 and not (tmp_path / "g" / "callcontrol.token").exists()


def test_serve_kamailio_flags_and_a_missing_kamailio_in_one_line(monkeypatch):
    """R-7: ``--kamailio --sip-listen --sip-port`` fill [sip_front] (``--host`` is the default address);
    with no kamailio on PATH, serve says what to install and exits 4 (a tool not installed)."""
    from click.testing import CliRunner

    from phoneservice.cli.commands import main
    from phoneservice.processes import server

    seen = {}
    monkeypatch.setattr(server, "run", lambda config, demo=False: seen.setdefault("c", config))
    result = CliRunner().invoke(main, ["--database", "sqlite:///unused.db", "serve", "--kamailio", "--host", "10.0.0.5",
                                       "--sip-port", "5070"])
    assert result.exit_code == 0, result.output
    front = seen["c"].sip_front
    assert (front.run, front.listen, front.port) == (True, ["10.0.0.5"], 5070)
    seen.clear()
    CliRunner().invoke(main, ["--database", "sqlite:///unused.db", "serve", "--kamailio", "--sip-listen", "10.0.0.7",
                              "--sip-listen", "10.0.0.8", "--host", "0.0.0.0"])
    assert seen["c"].sip_front.listen == ["10.0.0.7", "10.0.0.8"]
    monkeypatch.undo()
    monkeypatch.setenv("PATH", "/nonexistent")
    result = CliRunner().invoke(main, ["--database", "sqlite:///unused.db", "serve", "--kamailio"])
    assert result.exit_code == 4
    assert result.output.strip().splitlines() == [
        "error: Kamailio is not installed (Debian: apt-get install kamailio kamailio-utils-modules), which serve "
        "--kamailio runs in front of the IVR workers; install it, or serve without --kamailio and run Kamailio "
        "yourself (docs/deploy/README.md)"]
