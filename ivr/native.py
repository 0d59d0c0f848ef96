"""The two pjsip settings the pjsua2 API does not reach, set through ctypes on the wheel's own library.

- I-1: the endpoint's ``Allow`` capability, which every 18x, 2xx, 405 and
  OPTIONS answer copies, lists what pjsua registers (PRACK, MESSAGE, REFER,
  SUBSCRIBE, NOTIFY among them). ``serve_only`` trims that one header in
  place to the methods the IVR serves (``pjsip_endpt_get_capability``; pjsip
  has no call to remove a capability, and pjsua2 exposes neither). Its
  ``Supported`` capability names ``100rel`` (reliable provisional answers,
  which need the PRACK the IVR does not serve) and ``norefersub`` (REFER):
  ``support_only`` trims it the same way, so a caller that requires 100rel is
  told 420 at once instead of waiting for a PRACK answer that cannot come.
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

PJSIP_H_ALLOW, PJSIP_H_SUPPORTED = 4, 36  # pjsip_hdr_e in sip_msg.h: its order is fixed ("DO NOT CHANGE")
ARRAY_MAX = 32  # PJSIP_GENERIC_ARRAY_MAX_COUNT
TOKEN = re.compile(r"[A-Z]{2,16}")  # a method name
OPTION_TAG = re.compile(r"[a-z0-9][a-z0-9.-]{0,31}")  # an extension name (RFC 3261 option-tag, as pjsip's are)


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

    def _capability(self, htype: int, name: str) -> _ArrayHeader:
        endpoint = self.lib.pjsua_get_pjsip_endpt()
        address = self.lib.pjsip_endpt_get_capability(endpoint, htype, None) if endpoint else None
        if not address:
            raise NativeError(f"no {name} capability")
        header = _ArrayHeader.from_address(address)
        if header.type != htype or _text(header.name) != name or header.count > ARRAY_MAX:
            raise NativeError(f"the {name} capability is not shaped as in pjsip 2.15")
        return header

    def _keep(self, htype: int, name: str, shape: re.Pattern, keep) -> list[str]:
        """Drop every value of the capability for which ``keep`` is false, in place; the ones dropped."""
        header = self._capability(htype, name)
        entries = [(header.values[i].ptr, header.values[i].slen, _text(header.values[i])) for i in range(header.count)]
        if not all(shape.fullmatch(value) for _, _, value in entries):
            raise NativeError(f"the {name} capability holds something other than names")
        kept = [(ptr, slen) for ptr, slen, value in entries if keep(value)]
        for i, (ptr, slen) in enumerate(kept):
            header.values[i].ptr, header.values[i].slen = ptr, slen
        header.count = len(kept)
        return [value for _, _, value in entries if not keep(value)]

    def allowed(self) -> list[str]:
        header = self._capability(PJSIP_H_ALLOW, "Allow")
        return [_text(header.values[i]) for i in range(header.count)]

    def supported(self) -> list[str]:
        header = self._capability(PJSIP_H_SUPPORTED, "Supported")
        return [_text(header.values[i]) for i in range(header.count)]

    def serve_only(self, served: Iterable[str]) -> list[str]:
        """I-1: drop every method not in ``served`` from the Allow capability; the ones dropped."""
        served = set(served)
        return self._keep(PJSIP_H_ALLOW, "Allow", TOKEN, served.__contains__)

    def support_only(self, unsupported: Iterable[str]) -> list[str]:
        """I-1: drop the extensions in ``unsupported`` from the Supported capability; the ones dropped."""
        unsupported = set(unsupported)
        return self._keep(PJSIP_H_SUPPORTED, "Supported", OPTION_TAG, lambda value: value not in unsupported)

    def transaction_timeout(self, milliseconds: int) -> None:
        """I-3: pjsip's transaction timeout (T1, T2 and T4 unchanged)."""
        self.lib.pjsip_tsx_set_timers(0, 0, 0, milliseconds)
