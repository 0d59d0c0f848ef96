"""A pjsua2 caller for the IVR end-to-end tests: dial, key, wait for the IVR's BYE.

Always its own process: pjsua2 allows one Endpoint per process, and the test
process must have none (docs/pjsua2.md).

    python tests/e2e/ivr_caller.py --target sip:8000@127.0.0.1:5071 --caller 9000 \\
        --method rfc2833 --step 1.0:2 --step 1.0:1001# --step 2.0:7314# --step 3.0:1 --record heard.wav

Each ``--step DELAY:KEYS`` waits DELAY seconds after the previous step (the
first: after the call is up), then sends KEYS by RFC 4733 (``dialDtmf``) or
one SIP INFO per key. ``--hangup-after SECONDS`` hangs up that long after the
last step instead of waiting for the IVR. The call's audio goes to the null
playback device (otherwise the null clock never starts and no RFC 4733 event
is ever sent) and, with --record, to a WAV file. One JSON line on stdout says
how the call ended; exit 0 when the IVR hung up (or we did, as asked), 3 on
timeout, 4 when the call never came up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pjsua2 as pj

INFO_SPACING = 0.25  # seconds between SIP INFO keys


class Caller(pj.Call):
    def __init__(self, account, ep, record: str | None):
        super().__init__(account)
        self.ep = ep
        self.record = record
        self.recorder = None
        self.confirmed_at: float | None = None
        self.disconnected = False
        self.status = None
        self.media_up = False

    def onCallState(self, prm):
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
            self.confirmed_at = time.monotonic()
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            self.status = ci.lastStatusCode

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE and not self.media_up:
                audio = self.getAudioMedia(mi.index)
                audio.startTransmit(self.ep.audDevManager().getPlaybackDevMedia())  # starts the null clock
                if self.record:
                    self.recorder = pj.AudioMediaRecorder()
                    self.recorder.createRecorder(self.record)
                    audio.startTransmit(self.recorder)
                self.media_up = True


def send_keys(call: Caller, keys: str, method: str, pump) -> None:
    if method == "rfc2833":
        call.dialDtmf(keys)
        return
    for key in keys:
        prm = pj.CallSendDtmfParam()
        prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
        prm.digits = key
        call.sendDtmf(prm)
        pump(INFO_SPACING)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--caller", default="9000", help="the From user (calling number)")
    parser.add_argument("--device-name", help="Cisco devicename Contact parameter, e.g. SEP00AA11BB22CC")
    parser.add_argument("--method", choices=("rfc2833", "info"), default="rfc2833")
    parser.add_argument("--step", action="append", default=[], help="DELAY:KEYS")
    parser.add_argument("--hangup-after", type=float)
    parser.add_argument("--record")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    steps = [(float(d), k) for d, _, k in (s.partition(":") for s in args.step)]

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    ep.libInit(cfg)
    tc = pj.TransportConfig()
    tc.boundAddress = "127.0.0.1"
    tc.port = 0
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.caller}@127.0.0.1"
    if args.device_name:
        acfg.sipConfig.contactParams = f';+u.sip!devicename.ccm.cisco.com="{args.device_name}"'
    account = pj.Account()
    account.create(acfg)
    call = Caller(account, ep, args.record)

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ep.libHandleEvents(10)

    result = {"ended_by": None, "status": None, "keys_sent": 0}
    began = time.monotonic()
    call.makeCall(args.target, pj.CallOpParam(True))
    while call.confirmed_at is None and not call.disconnected and time.monotonic() - began < 10:
        pump(0.02)
    if call.confirmed_at is None:
        result.update(ended_by="never_up", status=call.status)
        code = 4
    else:
        for delay, keys in steps:
            pump(delay)
            if call.disconnected:
                break
            send_keys(call, keys, args.method, pump)
            result["keys_sent"] += len(keys)
        if args.hangup_after is not None and not call.disconnected:
            pump(args.hangup_after)
            call.hangup(pj.CallOpParam(True))
            result["ended_by"] = "caller"
        while not call.disconnected and time.monotonic() - began < args.timeout:
            pump(0.05)
        if call.disconnected:
            result["ended_by"] = result["ended_by"] or "ivr"
            code = 0
        else:
            result["ended_by"] = "timeout"
            code = 3
        result["status"] = call.status
        result["seconds"] = round(time.monotonic() - call.confirmed_at, 1)
    if not call.disconnected:
        ep.hangupAllCalls()
        pump(0.5)
    call.recorder = None
    del call
    account.shutdown()
    ep.libDestroy()
    print(json.dumps(result), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
