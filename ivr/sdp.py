"""I-2: the SDP answer's telephone-event range echoes the offer's.

pjmedia writes ``a=fmtp:<pt> 0-16`` (DTMF 0-15 and flash) into every local
SDP, so a phone that offered ``0-15`` was answered with an event it never
offered. ``echo_events(local, offer)`` rewrites the local SDP's
telephone-event ``fmtp`` to the offer's range for the same clock rate (RFC
4733 section 2.4.1: no ``fmtp`` means 0-15) before pjsua negotiates the
answer (``ivr.pjsua``'s ``onCallSdpCreated``). Pure text in, text out.
"""

from __future__ import annotations

import re

RTPMAP = re.compile(r"^a=rtpmap:(\d+) telephone-event/(\d+)", re.IGNORECASE | re.MULTILINE)
DEFAULT_EVENTS = "0-15"  # RFC 4733 2.4.1, when the offer has no fmtp


def _events(sdp: str) -> dict[str, tuple[str, str | None]]:
    """Clock rate -> (payload type, its fmtp value or None), for each telephone-event."""
    found = {}
    for pt, rate in RTPMAP.findall(sdp):
        fmtp = re.search(rf"^a=fmtp:{pt} ([^\r\n]*)", sdp, re.MULTILINE)
        found.setdefault(rate, (pt, fmtp.group(1).strip() if fmtp else None))
    return found


def echo_events(local: str, offer: str) -> str:
    """``local`` with each telephone-event range replaced by the offer's at the same clock rate."""
    offered = _events(offer)
    for rate, (pt, value) in _events(local).items():
        if rate not in offered or value is None:
            continue
        wanted = offered[rate][1] or DEFAULT_EVENTS
        if not re.fullmatch(r"[0-9,\- ]{1,64}", wanted):
            continue  # not an event list: keep pjmedia's
        local = re.sub(rf"^a=fmtp:{pt} [^\r\n]*", f"a=fmtp:{pt} {wanted}", local, count=1, flags=re.MULTILINE)
    return local
