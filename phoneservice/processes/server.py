"""The composition root: ``build(config, reactor)`` creates and wires everything.

One Twisted reactor hosts the Flask app (``twisted.web.wsgi`` on a thread
pool) on the web port, the same resolver on the config port (T-3), and the
TFTP service (T-2). Modules never build their own collaborators.
"""

from __future__ import annotations

import logging
import os
import time

from twisted.application import internet, service
from twisted.internet import defer, task, threads
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.wsgi import WSGIResource

from models.rules.catalog import default_catalog
from models.services.migration import Migrator
from models.services.selfservice import SelfService
from models.storage.database import Database
from phoneservice.callcontrol import wiring as callcontrol
from phoneservice.config import ServerConfig
from phoneservice.configfiles.cnf import ServerInfo
from phoneservice.configfiles.files import ConfigFiles
from phoneservice.configfiles.peers import PeerFiles
from phoneservice.configfiles.tftp import TFTPService
from phoneservice.configfiles.warm import WarmFiles
from phoneservice.demo import load_demo_once
from phoneservice.observe import Metrics, log_event, start_shared_metrics, write_processes, write_status
from phoneservice.processes import sip_front as front
from phoneservice.processes import webprocs
from phoneservice.processes.access import LoggedSite
from phoneservice.processes.bufferedwsgi import BufferedWSGI
from phoneservice.processes.forkspawn import ZygoteSpawner
from phoneservice.processes.ivr_worker import worker_command
from phoneservice.processes.lifecycle import RestartPolicy
from phoneservice.processes.supervisor import WorkerSupervisor
from phoneservice.processes.warmpool import PoolPolicy, WarmPool
from phoneservice.web.app import create_app
from phoneservice.web.services import Services
from phoneservice.web.taskrunner import bulk_tasks, resume_orphans


class PooledWSGI(Resource):
    """One Flask app, two thread pools: the phones' screens on their own (small answers, sent whole)."""

    isLeaf = True

    def __init__(self, reactor, app, pool: ThreadPool, screen_pool: ThreadPool) -> None:
        super().__init__()
        self.main = WSGIResource(reactor, pool, app)
        self.screens = BufferedWSGI(reactor, screen_pool, app)

    def render(self, request):
        return (self.screens if request.path.startswith(b"/screens/") else self.main).render(request)


class ThreadPoolService(service.Service):
    """The WSGI thread pool: started with the server, drained on shutdown."""

    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self):
        super().stopService()
        # ThreadPool.stop joins its threads: requests in flight finish first.
        return threads.deferToThreadPool(_reactor(), _reactor().getThreadPool(), self.pool.stop)


def _stop_pools(parent) -> None:
    for child in parent:
        if isinstance(child, ThreadPoolService) and child.pool.started:
            child.pool.stop()
        elif isinstance(child, service.MultiService):
            _stop_pools(child)


def _reactor():
    from twisted.internet import reactor

    return reactor


def build_services(config: ServerConfig) -> Services:
    db = Database(config.database.url)
    catalog = default_catalog()
    migrator = Migrator(db, catalog)
    metrics = Metrics()
    server_info = ServerInfo(
        callmanager_name=config.callmanager.name, callmanager_host=config.callmanager.host,
        sip_port=config.callmanager.sip_port, secured_sip_port=config.callmanager.secured_sip_port,
        sccp_port=config.callmanager.sccp_port, services_base=config.services_base,
        call_manager_group=config.callmanager.group,
    )
    peers = PeerFiles(config.tftp.peer_addresses, config.tftp.peer_timeout, config.tftp.peer_negative_seconds,
                      config.tftp.peer_concurrency, metrics) if config.tftp.peers else None  # T-6
    files = ConfigFiles(db, catalog, server_info, config.files.loads_dir, config.files.licenses_dir, metrics, peers)
    registrations = callcontrol.registrations(config.callcontrol, db, catalog)
    return Services(config=config, db=db, catalog=catalog, migrator=migrator, selfservice=SelfService(migrator),
                    files=files, metrics=metrics, registrations=registrations,
                    restarts=callcontrol.restarts(config.callcontrol, db, registrations))


def tftp_resolver(services: Services, reactor, forwarded: bool = False):
    """TFTP's resolve callable: CTL/ITL answered at once, the rest off the reactor thread.
    ``forwarded``: for requests a peer proxies (T-6), answered from this cluster's devices only."""
    files = services.files

    def in_thread(f, *args):
        return threads.deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)

    warm = WarmFiles(files, in_thread, lambda name: in_thread(files.resolve, name, None, "tftp", forwarded))

    def resolve(name: str, peer):
        if files.is_missing_fast(files.check_name(name)):
            services.metrics.config_requests.labels("tftp", "security", "missing").inc()
            return None
        return warm.resolve(name)  # a fresh cached device file after one shared stamp read, else files.resolve

    return resolve


def build(config: ServerConfig, reactor) -> tuple[service.MultiService, Services]:
    services = build_services(config)
    root = service.MultiService()

    spawner = None
    if config.ivr.workers and config.ivr.zygote:  # I-6: before the supervisor, so it stops after its drain
        spawner = ZygoteSpawner(reactor, callcontrol.worker_environment(config, dict(os.environ)),
                                ready_timeout=config.ivr.ready_timeout)
        spawner.setServiceParent(root)
    services.ivr = ivr_supervisor(config, services, reactor, spawner) if config.ivr.workers else None
    supervisors = []
    if services.ivr is not None:
        services.ivr.setServiceParent(root)
        supervisors.append(services.ivr)
        if config.ivr.warm is not None and config.ivr.warm < config.ivr.workers:  # I-7: more as calls come
            WarmPool(services.ivr, PoolPolicy(config.ivr.warm, config.ivr.spare_calls, config.ivr.retire_after),
                     reactor, dispatcher=dispatcher_state(config, reactor)).setServiceParent(root)
        services.metrics.live(services.metrics.calls_active, services.ivr.calls)  # the workers' CALLS lines

    if config.sip_front.run:  # Kamailio in front of the workers, kept running like them
        argv = front.prepare(config, services.site_settings.current()["ivr_route_point"])
        services.sip_front = front.supervisor(config, argv, reactor)
        services.sip_front.setServiceParent(root)
        supervisors.append(services.sip_front)

    reconcile = callcontrol.reconcile_service(config.callcontrol, services.registrations, reactor)
    if reconcile is not None:  # the registrar's location table at start and at intervals; expiries
        reconcile.setServiceParent(root)

    # F-6a: take over a bulk task whose runner died (any process, any host), at start and at intervals
    internet.TimerService(config.tasks.resume_every, _resume_tasks, services, reactor).setServiceParent(root)

    web, (pool, screen_pool) = web_site(config, services, reactor)
    ThreadPoolService(pool).setServiceParent(root)
    ThreadPoolService(screen_pool).setServiceParent(root)
    if config.web.processes > 1:  # the web workers listen on the same port (SO_REUSEPORT)
        sock = webprocs.listening_socket(config.web.host, config.web.port)
        AdoptedPort(sock, web, reactor).setServiceParent(root)
        workers = webprocs.web_workers(config, sock.getsockname()[1], reactor)
        workers.register_metrics(services.metrics.registry)
        workers.setServiceParent(root)
        supervisors.append(workers)
    else:
        internet.TCPServer(config.web.port, web, interface=config.web.host, reactor=reactor).setServiceParent(root)
    if config.config_http.enabled:
        cfg = LoggedSite(WSGIResource(reactor, pool, create_app(services, "config")))
        internet.TCPServer(config.config_http.port, cfg, interface=config.config_http.host,
                           reactor=reactor).setServiceParent(root)
    if config.tftp.enabled:
        tftp = TFTPService(
            tftp_resolver(services, reactor), port=config.tftp.port, interface=config.tftp.host, reactor=reactor,
            max_transfers=config.tftp.max_transfers, rate=config.tftp.rate_per_source,
            burst=config.tftp.burst_per_source, timeout=config.tftp.timeout, retries=config.tftp.retries,
            on_event=_tftp_metrics(services), resolve_forwarded=tftp_resolver(services, reactor, forwarded=True),
            # T-6: asking the peers (each its timeout, after waiting for a slot as long) fits in the answer's time
            resolve_timeout=10.0 + 2 * (services.files.peers.budget if services.files.peers else 0),
        )
        tftp.setServiceParent(root)
        services.metrics.live(services.metrics.tftp_active, lambda: tftp.stats.active)
    main = os.getpid()
    # pm_process_* for this process and every worker it supervises
    services.metrics.processes = lambda: {"main": main, **{k: v for s in supervisors for k, v in s.pids().items()}}
    return root, services


def web_site(config: ServerConfig, services: Services, reactor) -> tuple[Site, tuple[ThreadPool, ThreadPool]]:
    """The web port's site and its two thread pools (not started): the main process's and each web worker's."""
    pool = ThreadPool(minthreads=1, maxthreads=config.web.threads, name="wsgi")
    screen_pool = ThreadPool(minthreads=1, maxthreads=config.web.screen_threads, name="wsgi-screens")
    return LoggedSite(PooledWSGI(reactor, create_app(services, "web"), pool, screen_pool)), (pool, screen_pool)


class AdoptedPort(service.Service):
    """A listening socket bound beforehand (``web.processes``), accepted on while the service runs."""

    def __init__(self, sock, factory, reactor) -> None:
        self.sock, self.factory, self.reactor = sock, factory, reactor
        self.port = None

    def startService(self) -> None:
        super().startService()
        self.port = self.reactor.adoptStreamPort(self.sock.fileno(), self.sock.family, self.factory)

    def stopService(self):
        super().stopService()
        port, self.port = self.port, None
        return port.stopListening() if port is not None else None


def ivr_supervisor(config: ServerConfig, services: Services, reactor, spawner=None) -> WorkerSupervisor:
    """``ivr.workers`` IVR worker processes on consecutive ports from ``ivr.port``; forked by ``spawner``
    (the zygote, I-6) when given, else each started as a new process."""
    ivr = config.ivr
    supervisor = WorkerSupervisor(
        name="ivr", label="IVR", count=ivr.workers, first_port=ivr.port, clock=reactor,
        spawn=spawner or reactor.spawnProcess, started=ivr.warm,
        # The worker hangs up its own calls (BYE) early enough to exit before the SIGKILL.
        command=lambda port: worker_command(ivr.host, port, services.db.url, max(ivr.drain_timeout - 5, 1),
                                            media_host=ivr.media_host, media_public=ivr.media_public),
        env=callcontrol.worker_environment(config, dict(os.environ)),  # the workers restart phones alike
        policy=RestartPolicy(backoff_initial=ivr.backoff_initial, backoff_max=ivr.backoff_max,
                             healthy_after=ivr.healthy_after, max_restarts=ivr.max_restarts,
                             window=ivr.restart_window),
        ready_timeout=ivr.ready_timeout, start_concurrency=ivr.start_concurrency, drain_timeout=ivr.drain_timeout,
        log=log_event,
    )
    supervisor.register_metrics(services.metrics.registry)
    return supervisor


def dispatcher_state(config: ServerConfig, reactor):
    """I-7: tell Kamailio at once that a worker is active or about to stop (``dispatcher.set_state``), in a
    pool thread; None without a registrar's JSON-RPC (its OPTIONS pings tell it within 5 s)."""
    client = callcontrol.rpc(config.callcontrol)
    if client is None:
        return None
    host = f"[{config.ivr.host}]" if ":" in config.ivr.host else config.ivr.host

    def tell(port: int, active: bool) -> None:
        def call() -> None:
            try:
                client.call("dispatcher.set_state", "ap" if active else "ip", 1, f"sip:{host}:{port}")
            except Exception as exc:  # noqa: BLE001 - the pings tell it anyway
                log_event("ivr_pool_dispatcher_failed", logging.WARNING, port=port, error=str(exc)[:200])

        reactor.callInThread(call)

    return tell


def _resume_tasks(services: Services, reactor):
    def resume() -> None:
        try:
            resume_orphans(bulk_tasks(services))
        except Exception as exc:  # the database away for a moment: try again next time
            log_event("task_resume_failed", logging.WARNING, error=f"{type(exc).__name__}: {exc}"[:300])

    return threads.deferToThreadPool(reactor, reactor.getThreadPool(), resume)


def _tftp_metrics(services: Services):
    metrics = services.metrics

    def on_event(event) -> None:
        if event.kind == "retransmit":
            metrics.tftp_retransmits.inc()
        elif event.kind in ("completed", "failed", "not_found", "refused", "busy", "rate_limited"):
            metrics.tftp_transfers.labels(event.kind).inc()
        if event.kind in ("failed", "refused", "busy"):
            log_event("tftp_" + event.kind, peer=event.peer[0], file=event.filename, detail=event.detail)

    return on_event


def run(config: ServerConfig, demo: bool = False) -> None:
    """``phone-migration serve``: upgrade the schema, build, run until SIGTERM/SIGINT."""
    from twisted.internet import reactor

    if config.sip_front.run:  # (serve checked that Kamailio is installed)
        config = front.with_front(config)
    db = Database(config.database.url)
    db.upgrade()
    if demo:
        load_demo_once(db)
    db.dispose()
    if config.ivr.workers and not config.callcontrol.kamailio_rpc_url:  # R-7 (serve --kamailio sets it)
        log_event("ivr_unprotected", logging.WARNING, sip=f"{config.ivr.host}:{config.ivr.port}",
                  reason="no Kamailio configured (callcontrol.kamailio_rpc_url): the IVR workers listen on "
                         "loopback only, so only this host can call the IVR; run Kamailio in front "
                         "(phone-migration kamailio-config) for phones to reach it")
    shared = start_shared_metrics() if config.web.processes > 1 else None
    root, services = build(config, reactor)
    reactor.suggestThreadPoolSize(max(10, config.web.threads))

    def warm():
        began = time.monotonic()
        count = services.files.warm()
        services.cache_warm = True
        log_event("config_cache_warm", devices=count, seconds=round(time.monotonic() - began, 3))

    def started():
        reactor.callInThread(warm)
        log_event("server_started", web=f"{config.web.host}:{config.web.port}",
                  config_http=f"{config.config_http.host}:{config.config_http.port}",
                  tftp=f"{config.tftp.host}:{config.tftp.port}", database=services.db.dialect, demo=demo,
                  ivr_workers=config.ivr.workers, ivr=f"{config.ivr.host}:{config.ivr.port}",
                  sip_front=f"kamailio on {','.join(config.sip_front.listen)}:{config.sip_front.port}"
                  if config.sip_front.run else None)

    def stopping():
        services.draining = True
        log_event("server_stopping")
        return defer.maybeDeferred(root.stopService)

    if shared is not None:  # what the web workers answer on /healthz: at once when a worker's state changes
        webprocs.status_writer(shared, services).start(webprocs.STATUS_EVERY)
        for supervisor in (services.ivr, services.sip_front):
            if supervisor is not None:
                supervisor.watchers.append(lambda: write_status(shared, services.status()))
        task.LoopingCall(lambda: write_processes(shared, services.metrics.processes())).start(webprocs.STATUS_EVERY)
        services.metrics.start_live_updates(webprocs.STATUS_EVERY)
    try:
        root.startService()  # a port in use fails here, before the reactor runs
    except Exception:
        _stop_pools(root)  # the pools that already started, so the process can end; no reactor runs yet
        services.close()
        raise
    reactor.callWhenRunning(started)
    reactor.addSystemEventTrigger("before", "shutdown", stopping)
    reactor.run(installSignalHandlers=True)
    services.close()
    if shared is not None:
        webprocs.cleanup(shared)
    log_event("server_stopped")
