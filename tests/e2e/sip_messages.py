"""The SIP torture messages as bytes ready to send (R-7), no network here.

- PROTOS c07-sip (``tests/data/sip-robustness/protos-c07-sip.tar.gz``): each
  case is ``<len> <INVITE template><len> <teardown template>``; ``protos_cases``
  reads them (all, or an evenly spaced, deterministic sample) and ``fill``
  puts in the test's addresses, a token per case (Call-ID and branch, so an
  answer is matched to its case), the CSeq and the real Content-Length.
- RFC 4475 (``rfc4475/*.dat``): every message, hosts rewritten to 127.0.0.1;
  each INVITE also once more with the IVR route point as its request URI, so
  the messages that pass Kamailio's checks go on to an IVR worker.
- ``transaction_reuse``: the issue's sequence, an INVITE with an unknown
  Content-Type (415), its ACK, then an OPTIONS reusing the INVITE's branch
  with ``CSeq: 1 INVITE``, which aborted pjsip.

Every address in a message is rewritten to loopback: nothing may leave the machine.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parents[1] / "data" / "sip-robustness"
PROTOS = DATA / "protos-c07-sip.tar.gz"
RFC4475 = DATA / "rfc4475"
PROTOS_TOTAL = 4527
IPV4 = re.compile(rb"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")


@dataclass(frozen=True)
class ProtosCase:
    number: int
    invite: bytes  # the template, placeholders in
    teardown: bytes


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """``<len> <invite><len> <teardown>`` -> the two templates."""
    size, _, rest = raw.partition(b" ")
    first = int(size)
    invite, rest = rest[:first], rest[first:]
    size, _, rest = rest.partition(b" ")
    return invite, rest[: int(size)]


def sample_numbers(count: int | None, total: int = PROTOS_TOTAL) -> list[int]:
    """Case numbers: all when ``count`` is None, else ``count`` evenly spaced from case 0 (deterministic)."""
    if count is None or count >= total:
        return list(range(total))
    return sorted({round(i * total / count) for i in range(count)} - {total})


def protos_cases(count: int | None = None) -> list[ProtosCase]:
    wanted = set(sample_numbers(count))
    cases = []
    with tarfile.open(PROTOS) as tar:
        for member in tar:
            name = member.name.rsplit("/", 1)[-1]
            if member.isfile() and name.isdigit() and int(name) in wanted:
                cases.append(ProtosCase(int(name), *_split(tar.extractfile(member).read())))
    return sorted(cases, key=lambda c: c.number)


def loopback(message: bytes) -> bytes:
    """Every IPv4 address in ``message`` that is not loopback becomes 127.0.0.1."""
    return IPV4.sub(lambda m: m.group(0) if m.group(0).startswith(b"127.") else b"127.0.0.1", message)


def _content_length(message: bytes) -> bytes:
    head, sep, body = message.partition(b"\r\n\r\n")
    return message.replace(b"<Content-Length>", str(len(body)).encode())


def fill(template: bytes, *, token: str, source: tuple[str, int], to: str, method: bytes = b"CANCEL") -> bytes:
    """A PROTOS template with the test's values; ``to`` is ``user@host:port`` (Kamailio's)."""
    ip, port = source
    values = {b"<To>": to.encode(), b"<From>": f"protos@{ip}".encode(), b"<From-Address>": ip.encode(),
              b"<From-IP>": ip.encode(), b"<Local-Port>": str(port).encode(), b"<Branch-ID>": token.encode(),
              b"<Call-ID>": token.encode(), b"<CSeq>": b"1", b"<Teardown-Method>": method}
    for key, value in values.items():
        template = template.replace(key, value)
    return _content_length(loopback(template))


def rfc4475_messages(route_point: str) -> list[tuple[str, bytes]]:
    """(name, bytes): every torture message, then each INVITE again to ``route_point``."""
    found = []
    for path in sorted(RFC4475.glob("*.dat")):
        message = loopback(path.read_bytes())
        found.append((path.stem, message))
        if message.startswith(b"INVITE "):
            line, sep, rest = message.partition(b"\r\n")
            line = re.sub(rb"^INVITE (sips?):[^@ ]*@", b"INVITE \\1:" + route_point.encode() + b"@", line)
            found.append((path.stem + "@route-point", line + sep + rest))
    return found


def transaction_reuse(source: tuple[str, int], target: tuple[str, int], route_point: str,
                      token: str) -> tuple[bytes, bytes, bytes]:
    """INVITE (unknown Content-Type), its ACK (``{to_tag}`` to fill from the 415), the OPTIONS reusing its branch."""
    ip, port = source
    host = f"{target[0]}:{target[1]}"
    common = (f"Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK{token};rport\r\n"
              f"From: <sip:attacker@{ip}:{port}>;tag={token}f\r\n"
              f"To: <sip:{route_point}@{host}>{{to_tag}}\r\n"
              f"Call-ID: {token}@{ip}\r\nMax-Forwards: 70\r\n")
    body = "nothing a worker understands"
    invite = (f"INVITE sip:{route_point}@{host} SIP/2.0\r\n" + common.replace("{to_tag}", "") +
              f"CSeq: 1 INVITE\r\nContact: <sip:attacker@{ip}:{port}>\r\nContent-Type: application/x-unknown\r\n"
              f"Content-Length: {len(body)}\r\n\r\n{body}")
    ack = f"ACK sip:{route_point}@{host} SIP/2.0\r\n" + common + "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    options = (f"OPTIONS sip:{route_point}@{host} SIP/2.0\r\n" + common.replace("{to_tag}", "") +
               "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    return invite.encode(), ack.encode(), options.encode()
