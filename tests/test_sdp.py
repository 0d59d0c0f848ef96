"""I-2: the SDP answer's telephone-event range echoes the offer's (``ivr.sdp``)."""

from __future__ import annotations

from ivr.sdp import echo_events

LOCAL = ("v=0\r\no=- 3 2 IN IP4 127.0.0.1\r\ns=pjmedia\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n")


def offer(events: str | None, pt: int = 96, rate: int = 8000) -> str:
    fmtp = f"a=fmtp:{pt} {events}\r\n" if events is not None else ""
    return (f"v=0\r\nm=audio 5000 RTP/AVP 0 {pt}\r\na=rtpmap:0 PCMU/8000\r\n"
            f"a=rtpmap:{pt} telephone-event/{rate}\r\n{fmtp}")


def test_i2_offered_range_replaces_pjmedias_0_16():
    """I-2: 0-15 offered (a Cisco phone's), 0-15 answered; the payload type of the local SDP is kept."""
    answered = echo_events(LOCAL, offer("0-15"))
    assert "a=fmtp:101 0-15\r\n" in answered and "0-16" not in answered
    assert answered.replace("0-15", "0-16") == LOCAL


def test_i2_no_range_in_the_offer_means_rfc_4733s_default():
    """I-2: RFC 4733 2.4.1: an offer without fmtp means events 0-15."""
    assert "a=fmtp:101 0-15\r\n" in echo_events(LOCAL, offer(None))


def test_i2_nothing_to_echo_leaves_the_local_sdp_alone():
    """I-2: no telephone-event offered, another clock rate, or a range that is not one."""
    no_events = "v=0\r\nm=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    assert echo_events(LOCAL, no_events) == LOCAL
    assert echo_events(LOCAL, offer("0-15", rate=16000)) == LOCAL
    assert echo_events(LOCAL, offer("flash=1;x")) == LOCAL
    assert "a=fmtp:101 0-11,16\r\n" in echo_events(LOCAL, offer("0-11,16"))
