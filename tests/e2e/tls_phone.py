"""A Cisco phone registering over TLS (R-1, R-5), as a process of its own: Python's ssl
(OpenSSL) is the TLS client, since Debian's SIPp is built without TLS.

It opens one TLS connection to the registrar, verifying the registrar's certificate
against ``--ca``, sends a REGISTER with Cisco's Contact parameters and
``transport=tls``, then keeps the connection and answers 200 to the first NOTIFY that
arrives on it within ``--wait`` seconds. It prints one JSON line: the REGISTER's
status and Call-ID, the connection's local port, and the NOTIFY as received.

    python tls_phone.py --port 5061 --ca cert.pem --dn 9001 --mac AABBCCDDEE90 --wait 30
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import socket
import ssl
import sys
import time

MAX_MESSAGE = 65536


def read_message(conn: ssl.SSLSocket, buffer: bytearray, deadline: float) -> str | None:
    """One SIP message from the stream (headers, then Content-Length bytes); None at the deadline."""
    while time.monotonic() < deadline and len(buffer) < MAX_MESSAGE:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = buffer[:end].decode("utf-8", "replace")
            length = re.search(r"^(?:Content-Length|l)\s*:\s*(\d+)", head, re.I | re.M)
            total = end + 4 + (int(length[1]) if length else 0)
            if len(buffer) >= total:
                message = buffer[:total].decode("utf-8", "replace")
                del buffer[:total]
                return message
        conn.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = conn.recv(4096)
        except (TimeoutError, socket.timeout):
            continue
        if not chunk:
            return None
        buffer += chunk
    return None


def header(message: str, name: str) -> str:
    found = re.search(rf"^{name}\s*:\s*(.*?)\r?$", message, re.I | re.M)
    return found[1] if found else ""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--dn", required=True)
    parser.add_argument("--mac", required=True)
    parser.add_argument("--wait", type=float, default=30.0)
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.ca)
    raw = socket.create_connection((args.host, args.port), timeout=10)
    conn = context.wrap_socket(raw, server_hostname=args.host)
    local_host, local_port = conn.getsockname()[:2]
    call_id = f"{secrets.token_hex(8)}@{local_host}"
    register = (
        f"REGISTER sip:{args.host}:{args.port};transport=tls SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS {local_host}:{local_port};branch=z9hG4bK{secrets.token_hex(8)}\r\n"
        f"From: <sip:{args.dn}@{args.host}>;tag={secrets.token_hex(4)}\r\n"
        f"To: <sip:{args.dn}@{args.host}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 101 REGISTER\r\nMax-Forwards: 70\r\n"
        f"User-Agent: Cisco-CP8851/14.2.1\r\n"
        f"Contact: <sip:{args.dn}@{local_host}:{local_port};transport=tls>"
        f';+sip.instance="<urn:uuid:00000000-0000-0000-0000-{args.mac}>"'
        f';+u.sip!devicename.ccm.cisco.com="SEP{args.mac}"\r\n'
        f"Expires: 300\r\nContent-Length: 0\r\n\r\n")
    conn.sendall(register.encode())
    buffer = bytearray()
    seen: dict = {"call_id": call_id, "local_port": local_port, "register_status": None, "notify": None}
    deadline = time.monotonic() + 10
    while (message := read_message(conn, buffer, deadline)) is not None:
        status = re.match(r"SIP/2\.0 (\d{3})", message)
        if status and int(status[1]) >= 200:
            seen["register_status"] = int(status[1])
            break
    if seen["register_status"] == 200:
        deadline = time.monotonic() + args.wait
        while (message := read_message(conn, buffer, deadline)) is not None:
            if message.startswith("NOTIFY "):
                seen["notify"] = message
                vias = "".join(f"Via: {v}\r\n" for v in re.findall(r"^(?:Via|v)\s*:\s*(.*?)\r?$", message, re.I | re.M))
                to = header(message, "To")
                to += "" if ";tag=" in to else f";tag={secrets.token_hex(4)}"
                answer = (f"SIP/2.0 200 OK\r\n{vias}From: {header(message, 'From')}\r\nTo: {to}\r\n"
                          f"Call-ID: {header(message, 'Call-ID')}\r\nCSeq: {header(message, 'CSeq')}\r\n"
                          "Content-Length: 0\r\n\r\n")
                conn.sendall(answer.encode())
                time.sleep(0.5)  # let the answer leave before the connection closes
                break
    print(json.dumps(seen), flush=True)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
