"""The probe's adapter to the wire contract: the only probe module that touches
generated protobuf classes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Any, cast

# why a batch was refused: the contract's word, which the collector answers with
from blockwatch.contract.vocabulary import RejectionCode as RejectionCode  # noqa: PLC0414
from blockwatch.probe.dnsmessage import normalize_domain
from blockwatch.probe.observation import (
    ExtendedError,
    Failure,
    Measurement,
    Purpose,
    Record,
    ResolverRef,
    Response,
    StrayReply,
    Transport,
)
from blockwatch.probe.resolvers import ResolverSpec
from blockwatch.probe.targets import Target
from blockwatch.probe.webobservation import (
    Certificate,
    ConnectStep,
    HttpStep,
    Scheme,
    TlsStep,
    TlsVersion,
    WebObservation,
)
from blockwatch.v1 import probe_pb2 as pb


def encode_measurement(m: Measurement) -> bytes:
    r = m.resolver
    message = pb.Measurement(
        measurement_id=m.measurement_id,
        round_id=m.round_id,
        started_at_us=m.started_at_us,
        duration_us=m.duration_us,
        domain=m.domain,
        qtype=m.qtype,
        qclass=m.qclass,
        purpose=cast("pb.Purpose", int(m.purpose)),
        resolver=pb.Resolver(name=r.name, address=r.address, port=r.port,
                             transport=cast("pb.Transport", int(r.transport)),
                             tls_name=r.tls_name, url=r.url),
        failure=cast("pb.Failure", int(m.failure)),
        failure_text=m.failure_text,
        responses=[_encode_response(x) for x in m.responses],
        reply_count=m.reply_count, answer_set_count=m.answer_set_count,
        reply_bytes=m.reply_bytes, stray_count=m.stray_count,
        strays=[pb.StrayReply(arrival_us=s.arrival_us, size=s.size, reason=s.reason)
                for s in m.strays],
        truncated=m.truncated,
    )
    return message.SerializeToString()


def _encode_response(x: Response) -> pb.Response:
    return pb.Response(
        arrival_us=x.arrival_us, rcode=x.rcode, flags=x.flags,
        answers=[pb.ResourceRecord(name=a.name, rtype=a.rtype, ttl=a.ttl, data=a.data)
                 for a in x.answers],
        cname_chain=list(x.cname_chain), authority_count=x.authority_count,
        additional_count=x.additional_count, edns=x.edns,
        extended_errors=[pb.ExtendedError(code=e.code, text=e.text) for e in x.extended_errors],
        nsid=x.nsid, wire=x.wire, size=x.size, parse_error=x.parse_error,
        wire_truncated=x.wire_truncated,
    )


def decode_measurement(data: bytes) -> Measurement:
    """Inverse of encode_measurement (used to show spooled data and in tests)."""
    m = pb.Measurement.FromString(data)
    r = m.resolver
    return Measurement(
        measurement_id=m.measurement_id, round_id=m.round_id, started_at_us=m.started_at_us,
        duration_us=m.duration_us, domain=m.domain, qtype=m.qtype, qclass=m.qclass,
        purpose=Purpose(m.purpose),
        resolver=ResolverRef(r.name, r.address, r.port, Transport(r.transport), r.tls_name,
                             r.url),
        failure=Failure(m.failure), failure_text=m.failure_text,
        responses=[
            Response(
                arrival_us=x.arrival_us, rcode=x.rcode, flags=x.flags,
                answers=tuple(Record(a.name, a.rtype, a.ttl, a.data) for a in x.answers),
                cname_chain=tuple(x.cname_chain), authority_count=x.authority_count,
                additional_count=x.additional_count, edns=x.edns,
                extended_errors=tuple(ExtendedError(e.code, e.text) for e in x.extended_errors),
                nsid=x.nsid, wire=x.wire, size=x.size, parse_error=x.parse_error,
                wire_truncated=x.wire_truncated,
            )
            for x in m.responses
        ],
        reply_count=m.reply_count, answer_set_count=m.answer_set_count,
        reply_bytes=m.reply_bytes, stray_count=m.stray_count,
        strays=[StrayReply(s.arrival_us, s.size, s.reason) for s in m.strays],
        truncated=m.truncated,
    )


def encode_web_observation(o: WebObservation) -> bytes:
    """One spooled web observation (bound it first: webbounds.bound_web_observation)."""
    message = pb.WebObservation(
        observation_id=o.observation_id, round_id=o.round_id, started_at_us=o.started_at_us,
        duration_us=o.duration_us, name=o.name, address=o.address, port=o.port,
        scheme=cast("pb.Scheme", int(Scheme[o.scheme.upper()])),
        dns_measurement_ids=list(o.dns_measurement_ids),
        connect_duration_us=o.connect.duration_us,
        connect_failure=cast("pb.Failure", int(o.connect.failure)),
        connect_failure_text=o.connect.failure_text, truncated=o.truncated,
        redirects=[pb.RedirectHop(url=h.url, duration_us=h.duration_us, status=h.status,
                                  location=h.header("location"), title=h.title,
                                  failure=cast("pb.Failure", int(h.failure)),
                                  failure_text=h.failure_text) for h in o.redirects])
    t = o.tls
    if t is not None:
        message.tls_attempted = True
        message.tls_duration_us = t.duration_us
        message.tls_version = cast("pb.TlsVersion", int(TlsVersion.from_ssl(t.version)))
        message.tls_cipher = t.cipher
        message.chain_verified = t.chain_verified
        message.name_matches = t.name_matches
        message.verify_error = t.verify_error
        message.tls_failure = cast("pb.Failure", int(t.failure))
        message.tls_failure_text = t.failure_text
        if t.certificate is not None:
            c = t.certificate
            message.certificate.CopyFrom(pb.Certificate(
                subject=c.subject, issuer=c.issuer, sans=list(c.sans),
                not_before_s=c.not_before_s, not_after_s=c.not_after_s, sha256=c.sha256))
    if o.http is not None:
        h = o.http
        message.http.CopyFrom(pb.HttpExchange(
            url=h.url, duration_us=h.duration_us, first_byte_us=h.first_byte_us,
            status=h.status, reason=h.reason, http_version=h.http_version,
            headers=[pb.Header(name=k, value=v) for k, v in h.headers],
            body_length=h.body_length, body_truncated=h.body_truncated,
            body_sha256=h.body_sha256, body_prefix=h.body_prefix, title=h.title,
            failure=cast("pb.Failure", int(h.failure)), failure_text=h.failure_text))
    return message.SerializeToString()


def decode_web_observation(data: bytes) -> WebObservation:
    """Inverse of encode_web_observation (redirect hops keep only Location of their
    headers: what the wire carries of them)."""
    m = pb.WebObservation.FromString(data)
    tls = None
    if m.tls_attempted:
        certificate = None
        if m.HasField("certificate"):
            c = m.certificate
            certificate = Certificate(c.subject, c.issuer, tuple(c.sans), c.not_before_s,
                                      c.not_after_s, c.sha256)
        tls = TlsStep(m.tls_duration_us, TlsVersion(m.tls_version).ssl_text, m.tls_cipher,
                      certificate, m.chain_verified, m.name_matches, m.verify_error,
                      Failure(m.tls_failure), m.tls_failure_text)
    http = None
    if m.HasField("http"):
        h = m.http
        http = HttpStep(h.url, h.duration_us, h.first_byte_us, h.status, h.reason,
                        h.http_version, tuple((x.name, x.value) for x in h.headers),
                        h.body_length, h.body_truncated, h.body_sha256, h.body_prefix,
                        h.title, Failure(h.failure), h.failure_text)
    return WebObservation(
        observation_id=m.observation_id, round_id=m.round_id, started_at_us=m.started_at_us,
        duration_us=m.duration_us, name=m.name, address=m.address, port=m.port,
        scheme=Scheme(m.scheme).label, dns_measurement_ids=tuple(m.dns_measurement_ids),
        connect=ConnectStep(m.connect_duration_us, Failure(m.connect_failure),
                            m.connect_failure_text),
        tls=tls, http=http, truncated=m.truncated,
        redirects=tuple(HttpStep(r.url, r.duration_us, status=r.status,
                                 headers=(("location", r.location),) if r.location else (),
                                 title=r.title, failure=Failure(r.failure),
                                 failure_text=r.failure_text) for r in m.redirects))


@dataclass(frozen=True, slots=True)
class _ColumnarForm:
    """How a columnar message of the contract is filled from spooled messages.

    `levels`: each level below the root, in order, as (its parent level, a
    field of the parent's items): "field[]" a repeated field, whose items,
    flattened in order, make the level; "field" a message field, one item per
    parent (unset ones read as defaults), read once for all its columns.
    `columns`: per level, each column with what it holds of each item: an
    attribute, "#field" the number of items of a repeated field, "?field"
    whether a message field is set, "" the item itself.
    """

    root: str
    levels: dict[str, tuple[str, str]]
    columns: dict[str, dict[str, str]]


def _same(*names: str) -> dict[str, str]:
    return {name: name for name in names}


_MEASUREMENT_FORM = _ColumnarForm(
    root="measurement",
    levels={"resolver": ("measurement", "resolver"),
            "response": ("measurement", "responses[]"), "answer": ("response", "answers[]"),
            "cname": ("response", "cname_chain[]"),
            "extended_error": ("response", "extended_errors[]"),
            "stray": ("measurement", "strays[]")},
    columns={
        "measurement": {
            **_same("measurement_id", "round_id", "started_at_us", "duration_us", "domain",
                    "qtype", "qclass", "purpose", "failure", "failure_text", "reply_count",
                    "answer_set_count", "reply_bytes", "stray_count", "truncated"),
            "response_count": "#responses", "stray_kept_count": "#strays"},
        "resolver": {"resolver_name": "name", "resolver_address": "address",
                     "resolver_port": "port", "resolver_transport": "transport",
                     "resolver_tls_name": "tls_name", "resolver_url": "url"},
        "response": {
            **_same("arrival_us", "rcode", "flags", "authority_count", "additional_count", "edns",
                    "nsid", "wire", "size", "parse_error", "wire_truncated"),
            "answer_count": "#answers", "cname_count": "#cname_chain",
            "extended_error_count": "#extended_errors"},
        "answer": {"answer_name": "name", "answer_rtype": "rtype", "answer_ttl": "ttl",
                   "answer_data": "data"},
        "cname": {"cname_chain": ""},
        "extended_error": {"extended_error_code": "code", "extended_error_text": "text"},
        "stray": {"stray_arrival_us": "arrival_us", "stray_size": "size",
                  "stray_reason": "reason"},
    })

_WEB_FORM = _ColumnarForm(
    root="observation",
    levels={"certificate": ("observation", "certificate"), "http": ("observation", "http"),
            "dns_id": ("observation", "dns_measurement_ids[]"),
            "san": ("certificate", "sans[]"), "header": ("http", "headers[]"),
            "redirect": ("observation", "redirects[]")},
    columns={
        "observation": {
            **_same("observation_id", "round_id", "started_at_us", "duration_us", "name",
                    "address", "port", "scheme", "connect_duration_us", "connect_failure",
                    "connect_failure_text", "tls_attempted", "tls_duration_us", "tls_version",
                    "tls_cipher", "chain_verified", "name_matches", "verify_error",
                    "tls_failure", "tls_failure_text", "truncated"),
            "dns_id_count": "#dns_measurement_ids", "has_certificate": "?certificate",
            "http_sent": "?http", "redirect_count": "#redirects"},
        "certificate": {"cert_subject": "subject", "cert_issuer": "issuer",
                        "cert_sha256": "sha256", "cert_not_before_s": "not_before_s",
                        "cert_not_after_s": "not_after_s", "san_count": "#sans"},
        "http": {"http_url": "url", "http_duration_us": "duration_us",
                 "first_byte_us": "first_byte_us", "status": "status", "http_reason": "reason",
                 "http_version": "http_version", "header_count": "#headers",
                 "body_length": "body_length", "body_truncated": "body_truncated",
                 "body_sha256": "body_sha256", "body_prefix": "body_prefix", "title": "title",
                 "http_failure": "failure", "http_failure_text": "failure_text"},
        "dns_id": {"dns_measurement_id": ""},
        "san": {"san": ""},
        "header": {"header_name": "name", "header_value": "value"},
        "redirect": {"redirect_url": "url", "redirect_duration_us": "duration_us",
                     "redirect_status": "status", "redirect_location": "location",
                     "redirect_title": "title", "redirect_failure": "failure",
                     "redirect_failure_text": "failure_text"},
    })


def _values(items: list[Any], source: str) -> Iterable[Any]:
    # map over attrgetter runs in C; per-item Python calls are what costs here.
    if not source:
        return items
    if source[0] == "#":
        return list(map(len, map(attrgetter(source[1:]), items)))
    if source[0] == "?":
        field = source[1:]
        return [item.HasField(field) for item in items]
    return list(map(attrgetter(source), items))


def _fill(target: Any, form: _ColumnarForm, roots: list[Any]) -> None:
    """Every column of `form` into `target`, one pass per column over its level."""
    items: dict[str, list[Any]] = {form.root: roots}
    for level, (parent, field) in form.levels.items():
        of_parents = map(attrgetter(field.removesuffix("[]")), items[parent])
        items[level] = list(chain.from_iterable(of_parents) if field.endswith("[]")
                            else of_parents)
    for level, columns in form.columns.items():
        for name, source in columns.items():
            getattr(target, name).extend(_values(items[level], source))


def encode_columnar_submit_request(batch_id: str, payloads: list[bytes],
                                   web_payloads: list[bytes] | None = None) -> bytes:
    """SubmitRequest{batch: Batch{batch_id, columns, web}} from already-serialized
    measurements (and web observations), column by column, so the collector
    converts each column in one call instead of per record.

    The spool keeps one serialized message per row (durable one by one); the
    columns are built per upload, by one table per form (`_MEASUREMENT_FORM`,
    `_WEB_FORM`).
    """
    request = pb.SubmitRequest()
    batch = request.batch
    batch.batch_id = batch_id
    # Touch the field so an empty batch still says it is columnar.
    batch.columns.SetInParent()
    _fill(batch.columns, _MEASUREMENT_FORM, [pb.Measurement.FromString(p) for p in payloads])
    if web_payloads:
        _fill(batch.web, _WEB_FORM, [pb.WebObservation.FromString(p) for p in web_payloads])
    return request.SerializeToString()


_ASSIGNED = frozenset(int(p) for p in (Purpose.TARGET, Purpose.CONTROL, Purpose.CANDIDATE))
SUBMIT_METHOD = "/blockwatch.v1.ProbeService/Submit"
CHECKIN_METHOD = "/blockwatch.v1.ProbeService/CheckIn"


@dataclass(frozen=True, slots=True)
class BatchAck:
    """The collector stored a batch (durably): counts of rows new and already stored."""

    batch_id: str
    stored: int = 0
    duplicates: int = 0
    web_stored: int = 0
    web_duplicates: int = 0


@dataclass(frozen=True, slots=True)
class BatchRejection:
    """The collector did not store a batch, and why."""

    batch_id: str
    code: RejectionCode
    reason: str
    field: str = ""          # the offending field, e.g. "responses[0].rcode"
    record_index: int = -1   # -1 when the batch as a whole is at fault

    @property
    def detail(self) -> str:
        return f"{self.reason} (field {self.field})" if self.field else self.reason


_CODES = frozenset(int(c) for c in RejectionCode)


def decode_submit_response(data: bytes) -> BatchAck | BatchRejection:
    """One answer of the Submit stream. A code this probe does not know, or an
    answer that is neither ack nor rejection, is UNSPECIFIED: not stored."""
    response = pb.SubmitResponse.FromString(data)
    kind = response.WhichOneof("result")
    if kind == "ack":
        a = response.ack
        return BatchAck(response.batch_id, a.stored, a.duplicates, a.web_stored,
                        a.web_duplicates)
    if kind == "rejection":
        r = response.rejection
        if int(r.code) in _CODES:
            return BatchRejection(response.batch_id, RejectionCode(r.code), r.reason, r.field,
                                  r.record_index)
        return BatchRejection(response.batch_id, RejectionCode.UNSPECIFIED,
                              f"{r.reason} (code {r.code}, unknown to this probe)", r.field,
                              r.record_index)
    return BatchRejection(response.batch_id, RejectionCode.UNSPECIFIED,
                          "the collector's answer is neither an ack nor a rejection")


def encode_checkin(probe_name: str, version: str) -> bytes:
    return pb.CheckInRequest(
        probe_name=probe_name, software_version=version,
        transports=[cast("pb.Transport", int(t)) for t in Transport],
    ).SerializeToString()


class Assignment:
    """What the collector asked this probe to measure."""

    def __init__(self, data: bytes) -> None:
        reply = pb.CheckInResponse.FromString(data)
        a = reply.assignment
        self.probe_name = reply.probe_name
        self.country = reply.country
        self.asn = reply.asn
        self.version = a.version
        self.targets: list[Target] = []
        self.invalid: list[str] = []  # names the collector sent that are not domain names
        for t in a.targets:
            try:
                domain = normalize_domain(t.domain)
            except ValueError:
                self.invalid.append(t.domain)
                continue
            # What a collector asks a probe to measure; anything else reads TARGET.
            purpose = Purpose(t.purpose) if int(t.purpose) in _ASSIGNED else Purpose.TARGET
            self.targets.append(Target(domain, purpose, t.site))
        self.resolvers = [
            ResolverSpec(r.name, Transport(r.transport), r.address, r.port, r.tls_name, r.url)
            for r in a.resolvers
        ]
        self.qtypes = list(a.qtypes)
        self.interval_s = a.schedule.interval_s
        self.jitter_s = a.schedule.jitter_s
