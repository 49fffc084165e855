"""Pure readings of what a web server sent: kept headers, the page title, whether a
certificate names the host, distinguished names. No I/O."""

from __future__ import annotations

import contextlib
import html
import ipaddress
import re
from collections.abc import Iterable, Sequence

MAX_HEADER_VALUE = 1024
MAX_HEADERS = 32
MAX_TITLE = 256
MAX_SANS = 256
MAX_SAN = 255
MAX_DN = 1024

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._-]+)", re.IGNORECASE)
_SPACE = re.compile(r"\s+")

# X.500 attribute names as OpenSSL spells them (getpeercert) and by OID
# (cryptography), both to the RFC 4514 labels
_LABELS = {
    "commonName": "CN", "2.5.4.3": "CN",
    "organizationName": "O", "2.5.4.10": "O",
    "organizationalUnitName": "OU", "2.5.4.11": "OU",
    "countryName": "C", "2.5.4.6": "C",
    "stateOrProvinceName": "ST", "2.5.4.8": "ST",
    "localityName": "L", "2.5.4.7": "L",
    "streetAddress": "STREET", "2.5.4.9": "STREET",
    "domainComponent": "DC", "0.9.2342.19200300.100.1.25": "DC",
    "userId": "UID", "0.9.2342.19200300.100.1.1": "UID",
    "emailAddress": "emailAddress", "1.2.840.113549.1.9.1": "emailAddress",
    "serialNumber": "serialNumber", "2.5.4.5": "serialNumber",
}


def select_headers(raw: Iterable[tuple[bytes, bytes]], kept: frozenset[str]
                   ) -> tuple[tuple[str, str], ...]:
    """The kept headers, in arrival order, names lower-cased, values bounded."""
    found: list[tuple[str, str]] = []
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key in kept and len(found) < MAX_HEADERS:
            found.append((key, value.decode("latin-1")[:MAX_HEADER_VALUE]))
    return tuple(found)


def extract_title(body: bytes, content_type: str = "") -> str:
    """The first `<title>` in `body`, decoded, unescaped, whitespace collapsed."""
    found = _TITLE.search(body)
    if not found:
        return ""
    charset = _CHARSET.search(content_type)
    encoding = charset[1] if charset else "utf-8"
    try:
        text = found[1].decode(encoding, errors="replace")
    except LookupError:  # an unknown charset named by the server
        text = found[1].decode("utf-8", errors="replace")
    return _SPACE.sub(" ", html.unescape(text)).strip()[:MAX_TITLE]


def name_matches(name: str, sans: Sequence[str]) -> bool:
    """Whether SANs ("DNS:x", "IP:a") make a certificate valid for `name`
    (RFC 6125: a wildcard stands for exactly one whole left-most label)."""
    host = name.rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for san in sans:
        kind, _, value = san.partition(":")
        if ip is not None:
            if kind == "IP" and _same_ip(value, ip):
                return True
        elif kind == "DNS" and _dns_matches(host, value.rstrip(".").lower()):
            return True
    return False


def _same_ip(value: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(value) == ip
    except ValueError:
        return False


def _dns_matches(host: str, pattern: str) -> bool:
    if not pattern:
        return False
    if not pattern.startswith("*."):
        return host == pattern
    first, _, rest = host.partition(".")
    # "*.com" would cover a whole TLD: require two labels after the wildcard
    return bool(first) and rest == pattern[2:] and "." in rest


def format_dn(attributes: Sequence[tuple[str, str]]) -> str:
    """A distinguished name from its attributes in certificate order, as RFC 4514
    writes it (last first): `[("O", "Lab"), ("CN", "x")]` -> "CN=x,O=Lab"."""
    parts = [f"{_LABELS.get(key, key)}={_escape(value)}" for key, value in reversed(attributes)]
    return ",".join(parts)[:MAX_DN]


def _escape(value: str) -> str:
    out = re.sub(r'([,+"\\<>;])', r"\\\1", value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out


def san_text(kind: str, value: str) -> str:
    """One SAN as recorded: "DNS:name", "IP:address" (canonical), "email:..", "URI:.."."""
    if kind in {"IP", "IP Address"}:
        with contextlib.suppress(ValueError):
            value = str(ipaddress.ip_address(value.strip()))
        kind = "IP"
    return f"{kind}:{value}"[:MAX_SAN]
