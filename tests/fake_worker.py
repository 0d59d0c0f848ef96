"""A stand-in for ``ivr.worker`` with the same outward contract, for supervisor tests.

``python tests/fake_worker.py --database URL --host H --port P`` listens on UDP,
prints ``READY <port>``, answers OPTIONS 200, INVITE 200 (at most 4 calls, then
486; 503 once draining), BYE 200; on SIGTERM it finishes its calls (at most
``--drain-timeout`` seconds) and exits 0. Misbehaviour on request: ``--no-ready``,
``--ignore-term``, ``--exit-after S`` (dies with status 3), ``--fail-on-port P``
(exits 2 at once on that port, like a worker whose port is taken), ``--busy``
(486 to every INVITE, like a worker whose 4 calls are not over yet).
Pure stdlib, no pjsua2: it starts in a few milliseconds.
"""

from __future__ import annotations

import argparse
import select
import signal
import socket
import sys
import time

MAX_CALLS = 4


def reply(request: str, status: str, host: str, port: int, body: str = "") -> bytes:
    headers = [f"SIP/2.0 {status}"]
    for line in request.split("\r\n")[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "call-id", "i", "cseq", "record-route"):
            headers.append(line)
        elif name in ("to", "t"):
            headers.append(line if ";tag=" in line or not status.startswith("2") else line + ";tag=fake")
    headers.append(f"Contact: <sip:ivr@{host}:{port}>")
    if body:
        headers.append("Content-Type: application/sdp")
    headers.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def header(request: str, name: str) -> str:
    for line in request.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return ""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-ready", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--exit-after", type=float)
    parser.add_argument("--fail-on-port", type=int)
    parser.add_argument("--busy", action="store_true")
    parser.add_argument("--drain-timeout", "--drain-limit", dest="drain_limit", type=float, default=10.0)
    args = parser.parse_args()
    if args.fail_on_port == args.port:
        print(f"fake_worker: port {args.port} refused", file=sys.stderr)
        return 2

    draining_since: list[float] = []
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: draining_since.append(time.monotonic()))

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.host, args.port))
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind((args.host, 0))
    media_port = media.getsockname()[1]
    if not args.no_ready:
        print(f"READY {args.port}", flush=True)
    began, calls = time.monotonic(), set()
    deadline = began + 3600  # never runs unbounded, even if forgotten
    while time.monotonic() < deadline:
        now = time.monotonic()
        if args.exit_after is not None and now - began >= args.exit_after:
            return 3
        if draining_since and (not calls or now - draining_since[0] >= args.drain_limit):
            print(f"fake_worker: drained port={args.port} calls_left={len(calls)}", file=sys.stderr, flush=True)
            return 0
        try:
            readable, _, _ = select.select([sock, media], [], [], 0.1)
        except InterruptedError:
            continue
        if media in readable:
            media.recv(2048)
        if sock not in readable:
            continue
        data, peer = sock.recvfrom(65535)
        text = data.decode("utf-8", "replace")
        method = text.split(" ", 1)[0]
        call_id = header(text, "call-id") or header(text, "i")
        if method == "OPTIONS":
            sock.sendto(reply(text, "200 OK", args.host, args.port), peer)
        elif method == "INVITE":
            if draining_since:
                sock.sendto(reply(text, "503 Draining", args.host, args.port), peer)
            elif args.busy or (call_id not in calls and len(calls) >= MAX_CALLS):
                sock.sendto(reply(text, "486 Busy Here", args.host, args.port), peer)
            else:
                calls.add(call_id)
                sdp = (f"v=0\r\no=- 1 1 IN IP4 {args.host}\r\ns=-\r\nc=IN IP4 {args.host}\r\nt=0 0\r\n"
                       f"m=audio {media_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
                       "a=rtpmap:101 telephone-event/8000\r\n")
                sock.sendto(reply(text, "200 OK", args.host, args.port, sdp), peer)
                print(f"fake_worker: answered port={args.port} calls={len(calls)}", file=sys.stderr, flush=True)
        elif method == "BYE":
            calls.discard(call_id)
            sock.sendto(reply(text, "200 OK", args.host, args.port), peer)
        elif method not in ("ACK", "SIP/2.0"):
            sock.sendto(reply(text, "405 Method Not Allowed", args.host, args.port), peer)
    return 1


if __name__ == "__main__":
    sys.exit(main())
