"""The probe's adapter to the wire contract: the only probe module that touches
generated protobuf classes."""

from __future__ import annotations

from typing import cast

from blockwatch.probe.dnswire import normalize_domain
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


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_submit_request(batch_id: str, payloads: list[bytes]) -> bytes:
    """SubmitRequest{batch: Batch{batch_id, measurements}} from already-serialized
    measurements: protobuf's repeated message field is the concatenation of its
    elements, so spooled bytes are framed, not re-encoded."""
    batch = _field(1, batch_id.encode()) + b"".join(_field(2, p) for p in payloads)
    return _field(1, batch)


def encode_columnar_submit_request(batch_id: str, payloads: list[bytes]) -> bytes:
    """SubmitRequest{batch: Batch{batch_id, columns}} from already-serialized
    measurements: the same content as `encode_submit_request`, column by column,
    so the collector converts each column in one call instead of per record.

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
    return request.SerializeToString()


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


SUBMIT_METHOD = "/blockwatch.v1.ProbeService/Submit"
CHECKIN_METHOD = "/blockwatch.v1.ProbeService/CheckIn"


SubmitResponse = pb.SubmitResponse


def decode_submit_response(data: bytes) -> pb.SubmitResponse:
    return pb.SubmitResponse.FromString(data)


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
            purpose = Purpose(t.purpose) if t.purpose in (1, 2) else Purpose.TARGET
            self.targets.append(Target(domain, purpose, t.site))
        self.resolvers = [
            ResolverSpec(r.name, Transport(r.transport), r.address, r.port, r.tls_name, r.url)
            for r in a.resolvers
        ]
        self.qtypes = list(a.qtypes)
        self.interval_s = a.schedule.interval_s
        self.jitter_s = a.schedule.jitter_s


def rejection_fields(response: pb.SubmitResponse) -> tuple[str, str, int, str, int]:
    """(kind, batch_id, code, reason/field, record_index) of a SubmitResponse."""
    kind = response.WhichOneof("result") or ""
    if kind == "rejection":
        r = response.rejection
        detail = f"{r.reason} (field {r.field})" if r.field else r.reason
        return kind, response.batch_id, int(r.code), detail, r.record_index
    return kind, response.batch_id, 0, "", -1
