"""R-3: the registrar's location table read back, at the product's start and every
``callcontrol.reconcile_seconds``, so an event Kamailio could not deliver is healed;
and registrations past their expiry (plus the grace) ended, even with no registrar.

``ReconcileService`` runs ``Reconciler.run`` on the reactor's thread pool (never two
at once); each run is bounded by the JSON-RPC timeout and the database's.
"""

from __future__ import annotations

import logging

from twisted.application import service
from twisted.internet import task, threads

from models.services.registrations import Registrations
from phoneservice.callcontrol.registers import location_registers
from phoneservice.callcontrol.rpc import KamailioRpc, RpcError
from phoneservice.observe import log_event


class Reconciler:
    def __init__(self, registrations: Registrations, rpc: KamailioRpc | None, log=log_event) -> None:
        self.registrations, self.rpc, self.log = registrations, rpc, log

    def run(self) -> dict:
        """One round: ``ul.dump`` -> ``Registrations.reconcile`` (skipped when Kamailio does not
        answer: an unreachable registrar must not unregister every phone), then ``expire``."""
        counts: dict = {}
        if self.rpc is not None:
            try:
                regs = location_registers(self.rpc.call("ul.dump") or {})
            except RpcError as exc:
                self.log("registrations_reconcile_failed", logging.WARNING, error=str(exc))
            else:
                counts = dict(self.registrations.reconcile(regs), listed=len(regs))
        counts["expired"] = self.registrations.expire()
        changed = counts.get("unregistered", 0) or counts["expired"] or counts.get("refused", 0)
        self.log("registrations_reconciled", logging.INFO if changed else logging.DEBUG, **counts)
        return counts


class ReconcileService(service.Service):
    """At start, then every ``every`` seconds (0: at start only), off the reactor thread."""

    def __init__(self, reconciler: Reconciler, every: float, reactor) -> None:
        self.reconciler, self.every, self.reactor = reconciler, every, reactor
        self.running_round = None
        self._loop: task.LoopingCall | None = None

    def startService(self) -> None:
        super().startService()
        self._loop = task.LoopingCall(self.tick)
        self._loop.clock = self.reactor
        if self.every > 0:
            self._loop.start(self.every, now=True)
        else:
            self.reactor.callLater(0, self.tick)

    def tick(self):
        if self.running_round is not None:  # the last round still runs (a slow database): skip this one
            return None
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self.reconciler.run)
        self.running_round = d

        def done(result):
            self.running_round = None
            return result

        d.addBoth(done)
        d.addErrback(lambda failure: log_event("registrations_reconcile_failed", logging.ERROR,
                                               error=repr(failure.value)))
        return None  # the loop never waits for a round, nor stops on its failure

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        return self.running_round  # a round in flight finishes first (bounded by its timeouts)
