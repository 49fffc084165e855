"""How a round looks to a person (rich tables) and to a program (JSON lines)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from typing import Any

import dns.flags
import dns.rcode
import dns.rdataclass
import dns.rdatatype
from rich.console import Console
from rich.table import Table

from blockwatch.probe.observation import Failure, Measurement, Purpose, Response
from blockwatch.probe.webobservation import Certificate, HttpStep, TlsStep, WebObservation

# RFC 8914 code names, for people; the number is what is recorded.
EDE_NAMES = {
    0: "Other", 1: "Unsupported DNSKEY Algorithm", 2: "Unsupported DS Digest Type",
    3: "Stale Answer", 4: "Forged Answer", 5: "DNSSEC Indeterminate", 6: "DNSSEC Bogus",
    7: "Signature Expired", 8: "Signature Not Yet Valid", 9: "DNSKEY Missing",
    10: "RRSIGs Missing", 11: "No Zone Key Bit Set", 12: "NSEC Missing", 13: "Cached Error",
    14: "Not Ready", 15: "Blocked", 16: "Censored", 17: "Filtered", 18: "Prohibited",
    19: "Stale NXDOMAIN Answer", 20: "Not Authoritative", 21: "Not Supported",
    22: "No Reachable Authority", 23: "Network Error", 24: "Invalid Data",
}


def rcode_text(rcode: int) -> str:
    try:
        return dns.rcode.to_text(dns.rcode.Rcode(rcode))
    except ValueError:
        return str(rcode)


def qtype_text(qtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(qtype))


def flags_text(flags: int) -> list[str]:
    return dns.flags.to_text(flags).split()


def _nsid_text(nsid: bytes) -> str:
    text = nsid.decode("ascii", "replace")
    return text if nsid.isascii() and text.isprintable() else nsid.hex()


def response_dict(r: Response) -> dict[str, Any]:
    return {
        "arrival_ms": round(r.arrival_us / 1000, 3),
        "rcode": rcode_text(r.rcode),
        "flags": flags_text(r.flags),
        "answers": [{"name": a.name, "type": qtype_text(a.rtype), "ttl": a.ttl, "data": a.data}
                    for a in r.answers],
        "cname_chain": list(r.cname_chain),
        "authority_count": r.authority_count,
        "additional_count": r.additional_count,
        "edns": r.edns,
        "extended_errors": [{"code": e.code, "name": EDE_NAMES.get(e.code, ""), "text": e.text}
                            for e in r.extended_errors],
        "nsid": _nsid_text(r.nsid),
        "size": r.size,
        "parse_error": r.parse_error or None,
        **({"wire": r.wire.hex()} if r.wire else {}),
        **({"wire_truncated": True} if r.wire_truncated else {}),
    }


def measurement_dict(m: Measurement, probe: str = "") -> dict[str, Any]:
    started = dt.datetime.fromtimestamp(m.started_at_us / 1e6, dt.UTC)
    res = m.resolver
    return {
        "measurement_id": str(uuid.UUID(bytes=m.measurement_id)),
        "round_id": m.round_id,
        "probe": probe,
        "started_at": started.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "duration_ms": round(m.duration_us / 1000, 3),
        "domain": m.domain,
        "qtype": qtype_text(m.qtype),
        "qclass": dns.rdataclass.to_text(dns.rdataclass.RdataClass.make(m.qclass)),
        "purpose": m.purpose.label,
        "resolver": {"name": res.name, "address": res.address, "port": res.port,
                     "transport": res.transport.label, "tls_name": res.tls_name, "url": res.url},
        "failure": None if m.failure is Failure.NONE else m.failure.label,
        "failure_text": m.failure_text or None,
        "responses": [response_dict(r) for r in m.responses],
        "reply_count": m.reply_count,
        "answer_set_count": m.answer_set_count,
        "reply_bytes": m.reply_bytes,
        "stray_count": m.stray_count,
        "strays": [{"arrival_ms": round(s.arrival_us / 1000, 3), "size": s.size,
                    "reason": s.reason} for s in m.strays],
        "truncated": m.truncated,
    }


def json_line(m: Measurement, probe: str = "",
              web: Iterable[WebObservation] = ()) -> str:
    """One measurement; `web`: the follow-ups its answers led to, summarised beside
    it (each is also a line of its own: `web_json_line`)."""
    record = measurement_dict(m, probe)
    record["web"] = [web_brief(o) for o in web]
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _ts(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).isoformat(
        timespec="microseconds").replace("+00:00", "Z")


def _failure(failure: Failure) -> str | None:
    return None if failure is Failure.NONE else failure.label


def _certificate_dict(c: Certificate) -> dict[str, Any]:
    return {"subject": c.subject, "issuer": c.issuer, "sans": list(c.sans),
            "not_before": _ts(c.not_before_s * 1_000_000),
            "not_after": _ts(c.not_after_s * 1_000_000), "sha256": c.sha256.hex()}


def _tls_dict(t: TlsStep) -> dict[str, Any]:
    return {"duration_ms": round(t.duration_us / 1000, 3), "version": t.version or None,
            "cipher": t.cipher or None,
            "certificate": _certificate_dict(t.certificate) if t.certificate else None,
            "chain_verified": t.chain_verified, "name_matches": t.name_matches,
            "verify_error": t.verify_error or None, "failure": _failure(t.failure),
            "failure_text": t.failure_text or None}


def _http_dict(h: HttpStep) -> dict[str, Any]:
    return {"url": h.url, "duration_ms": round(h.duration_us / 1000, 3),
            "first_byte_ms": round(h.first_byte_us / 1000, 3), "status": h.status or None,
            "reason": h.reason, "http_version": h.http_version,
            "headers": [[k, v] for k, v in h.headers], "body_length": h.body_length,
            "body_truncated": h.body_truncated, "body_sha256": h.body_sha256.hex(),
            "body_prefix": h.body_prefix.decode("utf-8", "replace"), "title": h.title,
            "failure": _failure(h.failure), "failure_text": h.failure_text or None}


def web_dict(o: WebObservation, probe: str = "") -> dict[str, Any]:
    """Everything one web observation recorded (`kind: "web"` tells it from a
    DNS measurement's line)."""
    return {
        "kind": "web",
        "observation_id": str(uuid.UUID(bytes=o.observation_id)),
        "round_id": o.round_id, "probe": probe, "started_at": _ts(o.started_at_us),
        "duration_ms": round(o.duration_us / 1000, 3), "name": o.name,
        "address": o.address, "port": o.port, "scheme": o.scheme,
        "dns_measurement_ids": [str(uuid.UUID(bytes=i)) for i in o.dns_measurement_ids],
        "connect": {"duration_ms": round(o.connect.duration_us / 1000, 3),
                    "failure": _failure(o.connect.failure),
                    "failure_text": o.connect.failure_text or None},
        "tls": _tls_dict(o.tls) if o.tls is not None else None,
        "http": _http_dict(o.http) if o.http is not None else None,
        "redirects": [_http_dict(h) for h in o.redirects],
        "failure": _failure(o.failure),
        "truncated": o.truncated,
    }


def web_brief(o: WebObservation) -> dict[str, Any]:
    """What a DNS measurement's line says of a follow-up its answer led to."""
    h = o.http
    return {"observation_id": str(uuid.UUID(bytes=o.observation_id)), "address": o.address,
            "port": o.port, "scheme": o.scheme, "status": h.status if h else None,
            "title": h.title if h else None, "location": h.header("location") if h else None,
            "name_matches": o.tls.name_matches if o.tls else None,
            "failure": _failure(o.failure)}


def web_json_line(o: WebObservation, probe: str = "") -> str:
    return json.dumps(web_dict(o, probe), ensure_ascii=False, separators=(",", ":"))


def by_measurement(web: Iterable[WebObservation]) -> dict[bytes, list[WebObservation]]:
    """Each DNS measurement id -> the follow-ups its answers led to."""
    found: dict[bytes, list[WebObservation]] = {}
    for o in web:
        for mid in o.dns_measurement_ids:
            found.setdefault(mid, []).append(o)
    return found


def web_text(o: WebObservation) -> str:
    """One follow-up in a table cell: port, status, title, certificate match."""
    head = f"{o.address} {o.port}"
    if o.failure is not Failure.NONE and (o.http is None or not o.http.status):
        return f"{head} [red]{o.failure.label}[/red]"
    parts = [head]
    if o.http is not None and o.http.status:
        parts.append(str(o.http.status))
        location = o.http.header("location")
        if location:
            parts.append(f"→ {location[:60]}")
        if o.http.title:
            parts.append(f"“{o.http.title[:40]}”")
    if o.tls is not None:
        parts.append("cert ✓" if o.tls.name_matches else "[yellow]cert ✗ name[/yellow]")
    return " ".join(parts)


def _outcome(m: Measurement) -> str:
    strays = f" [bold red]⚠ {m.stray_count} stray[/bold red]" if m.stray_count else ""
    if m.failure is not Failure.NONE:
        return f"[red]{m.failure.label}[/red]{strays}"
    first = m.responses[0]
    text = rcode_text(first.rcode)
    if not first.flags & dns.flags.RA:
        text += " [yellow](no RA)[/yellow]"
    replies = max(m.reply_count, len(m.responses))
    if replies > 1:
        sets = f", {m.answer_set_count} answer sets" if m.answer_set_count > 1 else ""
        text += f" [bold red]⚠ {replies} replies{sets}[/bold red]"
    if m.truncated:
        text += " [yellow](cut to bound)[/yellow]"
    return text + strays


def _answers(m: Measurement) -> str:
    if not m.responses:
        return (m.failure_text or "")[:60]
    lines = [a.data for a in m.responses[0].answers]
    return "\n".join(lines[:4] + ([f"… {len(lines) - 4} more"] if len(lines) > 4 else []))


def _ede(m: Measurement) -> str:
    if not m.responses:
        return ""
    return "\n".join(f"{e.code} {EDE_NAMES.get(e.code, '')}: {e.text}".rstrip(": ")
                     for e in m.responses[0].extended_errors)


def round_table(measurements: Iterable[Measurement],
                web: Iterable[WebObservation] = ()) -> Table:
    followed = by_measurement(web)
    table = Table(title="What each resolver answered", show_lines=False)
    columns = ["name", "type", "resolver", "outcome", "answers", "EDE", "ms"]
    if followed:
        columns.append("web (port status title cert)")
    for column in columns:
        table.add_column(column, justify="right" if column == "ms" else "left")
    rows = sorted((m for m in measurements if m.purpose is not Purpose.IDENTITY),
                  key=lambda m: (m.domain, m.qtype, m.resolver.name))
    for m in rows:
        resolver = f"{m.resolver.name} ({m.resolver.transport.label})"
        cells = [m.domain, qtype_text(m.qtype), resolver, _outcome(m), _answers(m), _ede(m),
                 f"{m.duration_us / 1000:.1f}"]
        if followed:
            cells.append("\n".join(web_text(o) for o in followed.get(m.measurement_id, [])))
        table.add_row(*cells)
    return table


def identity_table(measurements: Iterable[Measurement]) -> Table:
    table = Table(title="Who answered (identity checks)")
    for column in ("resolver", "query", "answer", "NSID"):
        table.add_column(column)
    for m in sorted((m for m in measurements if m.purpose is Purpose.IDENTITY),
                    key=lambda m: (m.resolver.name, m.domain)):
        first = m.first
        answer = _answers(m) if first and first.answers else _outcome(m)
        nsid = _nsid_text(first.nsid) if first else ""
        table.add_row(m.resolver.name, f"{m.domain} {qtype_text(m.qtype)}", answer, nsid)
    return table


def print_round(console: Console, measurements: list[Measurement], *, identity: bool,
                web: Iterable[WebObservation] = ()) -> None:
    console.print(round_table(measurements, web))
    if identity and any(m.purpose is Purpose.IDENTITY for m in measurements):
        console.print(identity_table(measurements))
