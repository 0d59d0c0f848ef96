"""The pjsua2 side of the adapter's ``CallLeg`` and ``Player``, and the route point's account.

Built by ``pjsua2_classes()`` on first use, in the IVR worker process only
(``ivr.worker``): importing this module never loads the native stack, so the
unit tests, which fake ``CallLeg`` and ``Player``, never create an Endpoint
(docs/pjsua2.md). The callbacks run on the reactor thread, pjsua's main
thread, except ``onEof2``, which hops there with ``callFromThread``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from ivr.adapter import RELEASE_AFTER, SERVER_ERROR, IvrAdapter, PlayError
from ivr.invite import parse_invite
from ivr.log import error_text, log_event
from ivr.sdp import echo_events

METHOD_NOT_ALLOWED = 405


@functools.cache
def pjsua2_classes():
    """The pjsua2 side of ``CallLeg`` and ``Player``, and the route point's account.

    Built on first use so that importing this module never loads the native
    stack (the unit tests use fakes).
    """
    import pjsua2 as pj

    def guarded(callback):
        """A Python exception escaping into pjsua2 would abort the worker: log it instead."""

        @functools.wraps(callback)
        def inner(self, *args):
            try:
                callback(self, *args)
            except Exception as exc:  # noqa: BLE001
                log_event("ivr_callback_failed", logging.ERROR, callback=callback.__name__, error=error_text(exc))

        return inner

    class PromptPlayer(pj.AudioMediaPlayer):
        def __init__(self, reactor: Any, on_end: Callable[[], None]) -> None:
            super().__init__()
            self._reactor = reactor
            self._on_end: Callable[[], None] | None = on_end

        @guarded
        def onEof2(self) -> None:
            # pjmedia's event thread: hop to the reactor, plain data only.
            on_end = self._on_end
            if on_end is not None:
                self._reactor.callFromThread(on_end)

        def close(self) -> None:
            self._on_end = None

    class IvrCall(pj.Call):
        def __init__(self, account: Any, call_id: int, adapter: IvrAdapter, reactor: Any) -> None:
            super().__init__(account, call_id)
            self.serial = 0
            self._adapter: IvrAdapter | None = adapter
            self._reactor = reactor
            self._audio = None  # the call's AudioMedia while active; None from DISCONNECTED on

        @property
        def audio_ready(self) -> bool:
            return self._audio is not None

        # callbacks (reactor thread: mainThreadOnly, libHandleEvents in a LoopingCall)
        @guarded
        def onCallState(self, prm: Any) -> None:
            adapter = self._adapter
            try:
                state = self.getInfo().state
            except pj.Error:  # I-4: the call is gone already; it still ends once
                state = pj.PJSIP_INV_STATE_DISCONNECTED
            if state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self._audio = None  # pjsua2 has freed it already
                if adapter is not None:
                    adapter.disconnected(self.serial)
            elif state == pj.PJSIP_INV_STATE_CONFIRMED and adapter is not None:
                adapter.confirmed(self.serial)

        @guarded
        def onCallMediaState(self, prm: Any) -> None:
            ci = self.getInfo()  # bound first: iterating getInfo().media reads a freed temporary
            for mi in ci.media:
                if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    self._audio = self.getAudioMedia(mi.index)
                    break
            if self._audio is not None and self._adapter is not None:
                self._adapter.media_ready(self.serial)

        @guarded
        def onCallSdpCreated(self, prm: Any) -> None:
            # I-2: answer the offer's telephone-event range, not pjmedia's 0-16.
            if prm.remSdp.wholeSdp:
                prm.sdp.wholeSdp = echo_events(prm.sdp.wholeSdp, prm.remSdp.wholeSdp)

        def onCallTransferRequest(self, prm: Any) -> None:
            # I-1: the IVR transfers nobody (pjsua2's default would accept and dial the Refer-To).
            prm.statusCode = METHOD_NOT_ALLOWED

        @guarded
        def onDtmfDigit(self, prm: Any) -> None:
            # RFC 4733 (method 0) and SIP INFO (method 1) alike; never logged.
            if self._adapter is not None:
                self._adapter.digit(self.serial, prm.digit)

        # CallLeg
        def respond(self, status: int) -> None:
            prm = pj.CallOpParam(True)  # default call settings: one audio stream
            prm.statusCode = status
            if status >= 300:
                self.hangup(prm)
            else:
                self.answer(prm)

        def play(self, path: str, on_end: Callable[[], None]) -> PromptPlayer:
            player = PromptPlayer(self._reactor, on_end)
            try:
                player.createPlayer(path, pj.PJMEDIA_FILE_NO_LOOP)
                player.startTransmit(self._audio)
            except pj.Error as exc:
                player.close()
                raise PlayError(getattr(exc, "reason", "") or str(exc)) from None
            return player

        def stop(self, player: Any) -> None:
            if self._audio is not None:
                player.stopTransmit(self._audio)

        def end(self) -> None:
            self.hangup(pj.CallOpParam())

        def detach(self) -> None:
            self._adapter = None
            self._audio = None

    class RoutePoint(pj.Account):
        """The IVR's account: every INVITE to this host lands here (no registration)."""

        def __init__(self, adapter: IvrAdapter, reactor: Any) -> None:
            super().__init__()
            self._adapter = adapter
            self._reactor = reactor
            self._refused: list = []  # calls that failed to start, kept until pjsua is done with them

        def onIncomingCall(self, prm: Any) -> None:
            call = None
            try:
                call = IvrCall(self, prm.callId, self._adapter, self._reactor)  # now, or pjsua answers 500
                self._adapter.incoming(call, parse_invite(prm.rdata.wholeMsg))
            except Exception as exc:  # noqa: BLE001 - see guarded()
                log_event("ivr_callback_failed", logging.ERROR, callback="onIncomingCall", error=error_text(exc))
                if call is not None:  # never dropped inside its callback
                    self._refused.append(call)
                    self._reactor.callLater(RELEASE_AFTER, self._refused.remove, call)
                    try:
                        call.respond(SERVER_ERROR)
                    except Exception:  # noqa: BLE001
                        pass

    return pj, PromptPlayer, IvrCall, RoutePoint
