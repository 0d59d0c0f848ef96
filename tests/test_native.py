"""I-1, I-3: ``ivr.native`` edits pjsip's Allow and Supported capabilities in place and sets its
transaction timeout.

The library is faked: an ``Allow`` header laid out as pjsip 2.15's
``pjsip_generic_array_hdr`` in memory this test owns (no pjsua2 here,
docs/pjsua2.md). The wire is checked by tests/e2e/test_ivr_sip_edges.py.
"""

from __future__ import annotations

import ctypes

import pytest

from ivr.native import PJSIP_H_ALLOW, PJSIP_H_SUPPORTED, NativeError, Pjsip, _ArrayHeader
from ivr.worker import SERVED_METHODS, UNSUPPORTED

PJSUA_DEFAULT = ("PRACK", "INVITE", "ACK", "BYE", "CANCEL", "UPDATE", "INFO", "SUBSCRIBE", "NOTIFY", "REFER",
                 "MESSAGE", "OPTIONS")


class FakeLib:
    def __init__(self, values=PJSUA_DEFAULT, name=b"Allow", htype=PJSIP_H_ALLOW) -> None:
        self.strings = [ctypes.create_string_buffer(v.encode() if isinstance(v, str) else v) for v in (name, *values)]
        self.header = _ArrayHeader()
        self.header.type = htype
        self.header.name.ptr, self.header.name.slen = ctypes.addressof(self.strings[0]), len(name)
        for i, buffer in enumerate(self.strings[1:33]):
            self.header.values[i].ptr, self.header.values[i].slen = ctypes.addressof(buffer), len(buffer.value)
        self.header.count = len(values)  # more than 32 only when the layout is not pjsip's
        self.timers: list[tuple[int, ...]] = []

    def pjsua_get_pjsip_endpt(self) -> int:
        return 1

    def pjsip_endpt_get_capability(self, endpoint, htype, name) -> int:
        return ctypes.addressof(self.header) if htype == self.header.type or self.header.type == 7 else 0

    def pjsip_tsx_set_timers(self, t1, t2, t4, td) -> None:
        self.timers.append((t1, t2, t4, td))


def test_i1_allow_keeps_only_the_served_methods_in_their_order():
    """I-1: pjsua's twelve methods become the seven the IVR serves; the ones dropped are named."""
    native = Pjsip(FakeLib())
    dropped = native.serve_only(SERVED_METHODS)
    assert dropped == ["PRACK", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE"]
    assert native.allowed() == ["INVITE", "ACK", "BYE", "CANCEL", "UPDATE", "INFO", "OPTIONS"]
    assert native.serve_only(SERVED_METHODS) == []  # twice: nothing more to drop


@pytest.mark.parametrize("lib", [FakeLib(name=b"Supported"), FakeLib(htype=7), FakeLib(values=("INVITE", "x;y")),
                                 FakeLib(values=("INVITE",) * 40)], ids=["name", "type", "token", "count"])
def test_i1_a_header_of_another_shape_is_left_alone(lib):
    """I-1: another layout (another pjsip) is refused before anything is written."""
    before = bytes(lib.header)
    with pytest.raises(NativeError):
        Pjsip(lib).serve_only(SERVED_METHODS)
    assert bytes(lib.header) == before


def test_i3_transaction_timeout_leaves_t1_t2_t4():
    """I-3: only pjsip's transaction timeout changes (0 keeps a timer as it is)."""
    lib = FakeLib()
    Pjsip(lib).transaction_timeout(3000)
    assert lib.timers == [(0, 0, 0, 3000)]


def test_i1_supported_drops_100rel_and_norefersub():
    """I-1: no reliable provisional answers (they need PRACK) and no REFER subscription: the Supported
    capability keeps the other extensions in their order; an Allow header is not taken for it."""
    lib = FakeLib(values=("replaces", "100rel", "timer", "norefersub"), name=b"Supported", htype=PJSIP_H_SUPPORTED)
    native = Pjsip(lib)
    assert native.support_only(UNSUPPORTED) == ["100rel", "norefersub"]
    assert native.supported() == ["replaces", "timer"]
    with pytest.raises(NativeError):
        Pjsip(FakeLib(values=("Bad Value",), name=b"Supported", htype=PJSIP_H_SUPPORTED)).support_only(UNSUPPORTED)
    with pytest.raises(NativeError):
        Pjsip(FakeLib()).support_only(UNSUPPORTED)  # only an Allow capability there: no Supported
