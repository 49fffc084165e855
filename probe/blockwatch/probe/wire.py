"""The probe's adapter to the wire contract: the only probe module that touches
generated protobuf classes."""

from __future__ import annotations

from typing import cast

from blockwatch.probe.observation import (
    ExtendedError,
    Failure,
    Measurement,
    Purpose,
    Record,
    ResolverRef,
    Response,
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
            )
            for x in m.responses
        ],
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
        self.targets = [Target(t.domain, Purpose(t.purpose or Purpose.TARGET), t.site)
                        for t in a.targets]
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
