"""The probe's adapter to the wire contract: the only probe module that touches
generated protobuf classes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import cast

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


def encode_columnar_submit_request(batch_id: str, payloads: list[bytes],
                                   web_payloads: list[bytes] | None = None) -> bytes:
    """SubmitRequest{batch: Batch{batch_id, columns}} from already-serialized
    measurements, column by column, so the collector converts each column in one
    call instead of per record.

    The spool keeps one serialized Measurement per row (durable one by one);
    the columns are built per upload. Each level (measurements, responses,
    answers, cname names, extended errors) is gathered once as a list and each
    column is one comprehension over it: per-item method calls are what costs.
    """
    ms = [pb.Measurement.FromString(p) for p in payloads]
    resolvers = [m.resolver for m in ms]
    responses = [x for m in ms for x in m.responses]
    answers = [a for x in responses for a in x.answers]
    errors = [e for x in responses for e in x.extended_errors]
    request = pb.SubmitRequest()
    batch = request.batch
    batch.batch_id = batch_id
    c = batch.columns
    # Touch the field so an empty batch still says it is columnar.
    c.SetInParent()
    c.measurement_id.extend([m.measurement_id for m in ms])
    c.round_id.extend([m.round_id for m in ms])
    c.started_at_us.extend([m.started_at_us for m in ms])
    c.duration_us.extend([m.duration_us for m in ms])
    c.domain.extend([m.domain for m in ms])
    c.qtype.extend([m.qtype for m in ms])
    c.qclass.extend([m.qclass for m in ms])
    c.purpose.extend([m.purpose for m in ms])
    c.resolver_name.extend([r.name for r in resolvers])
    c.resolver_address.extend([r.address for r in resolvers])
    c.resolver_port.extend([r.port for r in resolvers])
    c.resolver_transport.extend([r.transport for r in resolvers])
    c.resolver_tls_name.extend([r.tls_name for r in resolvers])
    c.resolver_url.extend([r.url for r in resolvers])
    c.failure.extend([m.failure for m in ms])
    c.failure_text.extend([m.failure_text for m in ms])
    c.response_count.extend([len(m.responses) for m in ms])
    c.arrival_us.extend([x.arrival_us for x in responses])
    c.rcode.extend([x.rcode for x in responses])
    c.flags.extend([x.flags for x in responses])
    c.answer_count.extend([len(x.answers) for x in responses])
    c.cname_count.extend([len(x.cname_chain) for x in responses])
    c.authority_count.extend([x.authority_count for x in responses])
    c.additional_count.extend([x.additional_count for x in responses])
    c.edns.extend([x.edns for x in responses])
    c.extended_error_count.extend([len(x.extended_errors) for x in responses])
    c.nsid.extend([x.nsid for x in responses])
    c.wire.extend([x.wire for x in responses])
    c.size.extend([x.size for x in responses])
    c.parse_error.extend([x.parse_error for x in responses])
    c.answer_name.extend([a.name for a in answers])
    c.answer_rtype.extend([a.rtype for a in answers])
    c.answer_ttl.extend([a.ttl for a in answers])
    c.answer_data.extend([a.data for a in answers])
    c.cname_chain.extend([name for x in responses for name in x.cname_chain])
    c.extended_error_code.extend([e.code for e in errors])
    c.extended_error_text.extend([e.text for e in errors])
    _evidence_columns(c, ms, responses)
    _web_columns(batch, web_payloads or [])
    return request.SerializeToString()


def _web_columns(batch: pb.Batch, payloads: list[bytes]) -> None:
    """Spooled web observations, column by column (WebObservationColumns)."""
    if not payloads:
        return
    w = batch.web
    os = [pb.WebObservation.FromString(p) for p in payloads]
    certs = [o.certificate for o in os]
    https = [o.http for o in os]
    w.observation_id.extend([o.observation_id for o in os])
    w.round_id.extend([o.round_id for o in os])
    w.name.extend([o.name for o in os])
    w.address.extend([o.address for o in os])
    w.connect_failure_text.extend([o.connect_failure_text for o in os])
    w.tls_cipher.extend([o.tls_cipher for o in os])
    w.cert_subject.extend([c.subject for c in certs])
    w.cert_issuer.extend([c.issuer for c in certs])
    w.cert_sha256.extend([c.sha256 for c in certs])
    w.verify_error.extend([o.verify_error for o in os])
    w.tls_failure_text.extend([o.tls_failure_text for o in os])
    w.http_url.extend([h.url for h in https])
    w.http_reason.extend([h.reason for h in https])
    w.body_sha256.extend([h.body_sha256 for h in https])
    w.body_prefix.extend([h.body_prefix for h in https])
    w.title.extend([h.title for h in https])
    w.http_failure_text.extend([h.failure_text for h in https])
    w.http_version.extend([h.http_version for h in https])
    _web_step_columns(w, os, certs, https)


def _web_step_columns(w: pb.WebObservationColumns, os: list[pb.WebObservation],
                      certs: list[pb.Certificate], https: list[pb.HttpExchange]) -> None:
    hops = [r for o in os for r in o.redirects]
    w.started_at_us.extend([o.started_at_us for o in os])
    w.duration_us.extend([o.duration_us for o in os])
    w.port.extend([o.port for o in os])
    w.scheme.extend([o.scheme for o in os])
    w.dns_id_count.extend([len(o.dns_measurement_ids) for o in os])
    w.connect_duration_us.extend([o.connect_duration_us for o in os])
    w.connect_failure.extend([o.connect_failure for o in os])
    w.tls_attempted.extend([o.tls_attempted for o in os])
    w.tls_duration_us.extend([o.tls_duration_us for o in os])
    w.tls_version.extend([o.tls_version for o in os])
    w.has_certificate.extend([o.HasField("certificate") for o in os])
    w.cert_not_before_s.extend([c.not_before_s for c in certs])
    w.cert_not_after_s.extend([c.not_after_s for c in certs])
    w.san_count.extend([len(c.sans) for c in certs])
    w.chain_verified.extend([o.chain_verified for o in os])
    w.name_matches.extend([o.name_matches for o in os])
    w.tls_failure.extend([o.tls_failure for o in os])
    w.http_sent.extend([o.HasField("http") for o in os])
    w.http_duration_us.extend([h.duration_us for h in https])
    w.first_byte_us.extend([h.first_byte_us for h in https])
    w.status.extend([h.status for h in https])
    w.header_count.extend([len(h.headers) for h in https])
    w.body_length.extend([h.body_length for h in https])
    w.body_truncated.extend([h.body_truncated for h in https])
    w.http_failure.extend([h.failure for h in https])
    w.redirect_count.extend([len(o.redirects) for o in os])
    w.truncated.extend([o.truncated for o in os])
    w.dns_measurement_id.extend([i for o in os for i in o.dns_measurement_ids])
    w.san.extend([san for c in certs for san in c.sans])
    w.header_name.extend([x.name for h in https for x in h.headers])
    w.header_value.extend([x.value for h in https for x in h.headers])
    w.redirect_url.extend([r.url for r in hops])
    w.redirect_duration_us.extend([r.duration_us for r in hops])
    w.redirect_status.extend([r.status for r in hops])
    w.redirect_location.extend([r.location for r in hops])
    w.redirect_title.extend([r.title for r in hops])
    w.redirect_failure.extend([r.failure for r in hops])
    w.redirect_failure_text.extend([r.failure_text for r in hops])


def _evidence_columns(c: pb.MeasurementColumns, ms: list[pb.Measurement],
                      responses: list[pb.Response]) -> None:
    """The columns added for floods, stray replies and cuts (contract fields 38-47)."""
    strays = [s for m in ms for s in m.strays]
    c.reply_count.extend([m.reply_count for m in ms])
    c.answer_set_count.extend([m.answer_set_count for m in ms])
    c.reply_bytes.extend([m.reply_bytes for m in ms])
    c.stray_count.extend([m.stray_count for m in ms])
    c.stray_kept_count.extend([len(m.strays) for m in ms])
    c.truncated.extend([m.truncated for m in ms])
    c.wire_truncated.extend([x.wire_truncated for x in responses])
    c.stray_arrival_us.extend([s.arrival_us for s in strays])
    c.stray_size.extend([s.size for s in strays])
    c.stray_reason.extend([s.reason for s in strays])


_ASSIGNED = frozenset(int(p) for p in (Purpose.TARGET, Purpose.CONTROL, Purpose.CANDIDATE))
SUBMIT_METHOD = "/blockwatch.v1.ProbeService/Submit"
CHECKIN_METHOD = "/blockwatch.v1.ProbeService/CheckIn"


class RejectionCode(enum.IntEnum):
    """Why the collector refused a batch: probe.proto's Rejection.Code, numbered by
    the generated descriptor (tests/unit/test_wire.py checks no code is missing)."""

    UNSPECIFIED = pb.Rejection.CODE_UNSPECIFIED
    INVALID = pb.Rejection.CODE_INVALID          # malformed: retrying cannot help
    UNAVAILABLE = pb.Rejection.CODE_UNAVAILABLE  # storage down: keep it, retry
    TOO_LARGE = pb.Rejection.CODE_TOO_LARGE      # over the collector's limits: split it


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
