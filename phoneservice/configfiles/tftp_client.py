"""T-6: a small blocking TFTP client (RFC 1350, 2347, 2348) that fetches one file from a peer.

Why not tftpy 0.8.7 (the maintained pure-Python client, last release
2026-02): read at its source (``TftpContext.cycle``), a packet from a foreign
address or port is logged "Discarding" and then handled all the same, so
any host can feed a transfer; its timeout is per packet and every packet
starts the retries over, so a peer sending slowly holds a thread for ever,
and nothing bounds the size of the answer; it logs every transfer at INFO
and every timeout at ERROR on the ``tftpy`` loggers. A proxy asked by phones
needs the opposite: one deadline for the whole file, the peer's transfer ID
enforced, a size cap. So it is written here on the wire constants of
``tftp_wire``, octet mode only.

Blocking on purpose: the resolver that calls it already runs on a bounded
thread pool (the reactor's pool for TFTP, the WSGI pool for HTTP), and
``peers.PeerFiles`` bounds how many fetches run at once, so no reactor code
waits on it.
"""

from __future__ import annotations

import socket
import struct
import time

from phoneservice.configfiles.tftp_wire import ACK, DATA, ERR_NOT_FOUND, ERROR, FORWARDED, OACK, RRQ

ERR_DISK_FULL = 3  # RFC 1350 "disk full or allocation exceeded": the answer is over the cap
ERR_UNKNOWN_TID = 5
BLKSIZE = 1428  # asked for; a peer that ignores options sends 512-byte blocks
MAX_BYTES = 1024 * 1024  # a config file is a few kilobytes
RETRANSMIT = 0.5  # seconds without an answer before the last packet goes again


class PeerError(Exception):
    """The peer answered with an error other than "file not found", or broke the protocol."""


def rrq_packet(name: str) -> bytes:
    fields = [name, "octet", "blksize", str(BLKSIZE), FORWARDED, "1"]
    return struct.pack("!H", RRQ) + b"".join(f.encode("ascii") + b"\0" for f in fields)


def _options(payload: bytes) -> dict[str, str]:
    fields = payload.split(b"\0")
    return {n.decode("ascii", "replace").lower(): v.decode("ascii", "replace")
            for n, v in zip(fields[0::2], fields[1::2]) if n}


def fetch(host: str, port: int, name: str, timeout: float, max_bytes: int = MAX_BYTES) -> bytes:
    """The whole file ``name`` from ``host``:``port`` within ``timeout`` seconds.

    Raises FileNotFoundError (TFTP error 1), PeerError (any other error, a
    bad packet, over ``max_bytes``) or TimeoutError (no whole file in time).
    """
    deadline = time.monotonic() + timeout
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        last, server = rrq_packet(name), address
        sock.sendto(last, server)
        tid, blksize, block, chunks, size = None, 512, 1, [], 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no whole answer from {host}:{port} within {timeout} s")
            sock.settimeout(min(RETRANSMIT, remaining))
            try:
                packet, source = sock.recvfrom(65536)
            except TimeoutError:
                sock.sendto(last, server)
                continue
            if source[0] != address[0] or (tid is not None and source[:2] != tid):
                sock.sendto(struct.pack("!HH", ERROR, ERR_UNKNOWN_TID) + b"unknown transfer ID\0", source)
                continue
            if len(packet) < 4:
                continue
            opcode, number = struct.unpack_from("!HH", packet)
            if tid is None:  # the first answer names the peer's transfer port (RFC 1350)
                tid, server = source[:2], source
            if opcode == ERROR:
                message = packet[4:].split(b"\0")[0].decode("utf-8", "replace")[:200]
                if number == ERR_NOT_FOUND:
                    raise FileNotFoundError(message)
                raise PeerError(f"error {number}: {message}")
            if opcode == OACK and block == 1 and not chunks:
                asked = _options(packet[2:]).get("blksize", "512")
                if not asked.isdigit() or not 8 <= int(asked) <= BLKSIZE:
                    raise PeerError(f"blksize {asked!r} not asked for")
                blksize, last = int(asked), struct.pack("!HH", ACK, 0)
                sock.sendto(last, server)
            elif opcode == DATA and number == block & 0xFFFF:
                payload = packet[4:]
                size += len(payload)
                if size > max_bytes or len(payload) > blksize:
                    sock.sendto(struct.pack("!HH", ERROR, ERR_DISK_FULL) + b"too large\0", server)
                    raise PeerError(f"answer over {max_bytes} bytes or blocks over {blksize}")
                chunks.append(payload)
                last = struct.pack("!HH", ACK, number)
                sock.sendto(last, server)
                if len(payload) < blksize:
                    return b"".join(chunks)
                block += 1
            elif opcode == DATA and number == (block - 1) & 0xFFFF:
                sock.sendto(last, server)  # our ACK was lost: the peer sent that block again
