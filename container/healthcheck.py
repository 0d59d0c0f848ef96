"""The container's HEALTHCHECK: /healthz on the web port the server was given (PM_CONFIG and
PHONE_MIGRATION_*, as serve reads them); exit 0 when it answers 200, 1 otherwise."""

from __future__ import annotations

import os
import sys
import urllib.request

from phoneservice.config import load_config


def main() -> int:
    web = load_config(os.environ.get("PM_CONFIG") or None).web
    host = "127.0.0.1" if web.host in ("0.0.0.0", "::", "") else web.host
    host = f"[{host}]" if ":" in host else host
    try:
        with urllib.request.urlopen(f"http://{host}:{web.port}/healthz", timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthz: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
