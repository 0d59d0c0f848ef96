"""Kamailio's JSON-RPC (jsonrpcs over xhttp), as kamailio.cfg opens it for the product.

One POST per call to ``callcontrol.kamailio_rpc_url`` with the shared token in
``X-Phone-Migration-Token``; every call has a timeout, so a Kamailio that hangs
costs a bounded wait.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request

TOKEN_HEADER = "X-Phone-Migration-Token"


class RpcError(Exception):
    """Kamailio did not answer, refused, or answered with a JSON-RPC error."""


class KamailioRpc:
    def __init__(self, url: str, token: str, timeout: float = 5.0) -> None:
        self.url, self.token, self.timeout = url, token, timeout
        self._ids = itertools.count(1)

    def call(self, method: str, *params, timeout: float | None = None):
        """The call's ``result``; ``RpcError`` for anything else."""
        payload = {"jsonrpc": "2.0", "method": method, "id": next(self._ids)}
        if params:
            payload["params"] = list(params)
        request = urllib.request.Request(self.url, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json", TOKEN_HEADER: self.token})
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RpcError(f"{method}: HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:  # refused, timed out, not JSON
            raise RpcError(f"{method}: {exc}") from None
        if not isinstance(answer, dict):
            raise RpcError(f"{method}: not a JSON-RPC answer")
        if "error" in answer:
            error = answer["error"] or {}
            raise RpcError(f"{method}: {error.get('code')} {error.get('message')}")
        return answer.get("result")
