"""The two pjsip settings the pjsua2 API does not reach, set through ctypes on the wheel's own library.

- I-1: the endpoint's ``Allow`` capability, which every 18x, 2xx, 405 and
  OPTIONS answer copies, lists what pjsua registers (PRACK, MESSAGE, REFER,
  SUBSCRIBE, NOTIFY among them). ``serve_only`` trims that one header in
  place to the methods the IVR serves (``pjsip_endpt_get_capability``; pjsip
  has no call to remove a capability, and pjsua2 exposes neither).
- I-3: an answered INVITE whose ACK never comes holds one of the worker's 4
  call slots until the INVITE transaction times out, 64*T1 = 32 s by default,
  and then as long again for the BYE. ``transaction_timeout`` sets pjsip's
  transaction timeout (``pjsip_tsx_set_timers``' last argument: timers B, D,
  F, H, J, and the wait for the ACK of a 2xx), so a slot is free again within
  about twice that.

Both are called once, on the reactor thread, after ``libInit`` and before
``libStart`` (``ivr.worker``). Nothing here runs in the unit tests: they
never load pjsua2 (docs/pjsua2.md).
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Iterable

PJSIP_H_ALLOW = 4  # pjsip_hdr_e in sip_msg.h: its order is fixed ("DO NOT CHANGE")
ARRAY_MAX = 32  # PJSIP_GENERIC_ARRAY_MAX_COUNT
TOKEN = re.compile(r"[A-Z]{2,16}")


class _PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p), ("slen", ctypes.c_ssize_t)]


class _ArrayHeader(ctypes.Structure):
    """``pjsip_generic_array_hdr`` (sip_msg.h): the list links, type, name, short name, vptr, count, values."""

    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p), ("type", ctypes.c_int),
                ("name", _PjStr), ("sname", _PjStr), ("vptr", ctypes.c_void_p),
                ("count", ctypes.c_uint), ("values", _PjStr * ARRAY_MAX)]


class NativeError(RuntimeError):
    """The library does not look the way this module expects: nothing was changed."""


def _text(s: _PjStr) -> str:
    if not s.ptr or not 0 <= s.slen <= 64:
        raise NativeError("a header string out of shape")
    return ctypes.string_at(s.ptr, s.slen).decode("ascii", errors="replace")


class Pjsip:
    """pjsip's functions in ``lib``: the wheel's native library (``Pjsip.load``), or a fake in the unit tests."""

    def __init__(self, lib) -> None:
        self.lib = lib

    @classmethod
    def load(cls, pj) -> "Pjsip":
        """The library ``import pjsua2`` loaded (``ctypes.CDLL`` of the same file is the same copy)."""
        lib = ctypes.CDLL(pj._pjsua2.__file__)
        lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p
        lib.pjsua_get_pjsip_endpt.argtypes = []
        lib.pjsip_endpt_get_capability.restype = ctypes.c_void_p
        lib.pjsip_endpt_get_capability.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.pjsip_tsx_set_timers.restype = None
        lib.pjsip_tsx_set_timers.argtypes = [ctypes.c_uint] * 4
        return cls(lib)

    def _allow(self) -> _ArrayHeader:
        endpoint = self.lib.pjsua_get_pjsip_endpt()
        address = self.lib.pjsip_endpt_get_capability(endpoint, PJSIP_H_ALLOW, None) if endpoint else None
        if not address:
            raise NativeError("no Allow capability")
        header = _ArrayHeader.from_address(address)
        if header.type != PJSIP_H_ALLOW or _text(header.name) != "Allow" or header.count > ARRAY_MAX:
            raise NativeError("the Allow capability is not shaped as in pjsip 2.15")
        return header

    def allowed(self) -> list[str]:
        header = self._allow()
        return [_text(header.values[i]) for i in range(header.count)]

    def serve_only(self, served: Iterable[str]) -> list[str]:
        """I-1: drop every method not in ``served`` from the Allow capability; the ones dropped."""
        header = self._allow()
        entries = [(header.values[i].ptr, header.values[i].slen, _text(header.values[i])) for i in range(header.count)]
        if not all(TOKEN.fullmatch(name) for _, _, name in entries):
            raise NativeError("the Allow capability holds something other than method names")
        served = set(served)
        kept = [(ptr, slen) for ptr, slen, name in entries if name in served]
        for i, (ptr, slen) in enumerate(kept):
            header.values[i].ptr, header.values[i].slen = ptr, slen
        header.count = len(kept)
        return [name for _, _, name in entries if name not in served]

    def transaction_timeout(self, milliseconds: int) -> None:
        """I-3: pjsip's transaction timeout (T1, T2 and T4 unchanged)."""
        self.lib.pjsip_tsx_set_timers(0, 0, 0, milliseconds)
