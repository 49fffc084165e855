"""The probe's adapter: what it frames is what the contract's classes parse."""

from __future__ import annotations

from blockwatch.probe.ids import new_measurement_id, uuid7
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
from blockwatch.probe.wire import (
    Assignment,
    decode_measurement,
    encode_measurement,
    encode_submit_request,
)
from blockwatch.v1 import probe_pb2 as pb


def _measurement(domain: str = "kickasstorrents.to") -> Measurement:
    return Measurement(
        measurement_id=new_measurement_id(), round_id="r1", started_at_us=1_760_000_000_000_000,
        duration_us=1234, domain=domain, qtype=1, qclass=1, purpose=Purpose.TARGET,
        resolver=ResolverRef("google", "8.8.8.8", 53, Transport.UDP),
        responses=[
            Response(arrival_us=900, rcode=5, flags=0x8180,
                     extended_errors=(ExtendedError(16, "court order"),), nsid=b"gpdns", edns=True),
            Response(arrival_us=1200, rcode=0, flags=0x8180,
                     answers=(Record(domain, 1, 60, "10.10.34.34"),)),
        ],
    )


def test_measurement_round_trips() -> None:
    m = _measurement()
    assert decode_measurement(encode_measurement(m)) == m


def test_failed_measurement_round_trips() -> None:
    m = _measurement()
    m.responses, m.failure, m.failure_text = [], Failure.TIMEOUT, "no response within 5s"
    assert decode_measurement(encode_measurement(m)) == m


def test_framed_submit_request_parses_as_the_contract() -> None:
    measurements = [_measurement(f"site{i}.example") for i in range(3)]
    payloads = [encode_measurement(m) for m in measurements]
    request = pb.SubmitRequest.FromString(encode_submit_request("batch-7", payloads))
    assert request.batch.batch_id == "batch-7"
    assert [m.domain for m in request.batch.measurements] == [
        "site0.example", "site1.example", "site2.example"]
    assert request.batch.measurements[0].responses[0].extended_errors[0].text == "court order"


def test_uuid7_is_time_ordered_and_versioned() -> None:
    a, b = uuid7(1_700_000_000_000), uuid7(1_700_000_000_001)
    assert a.version == 7 and a.variant == "specified in RFC 4122"
    assert a.bytes < b.bytes


def test_assignment_normalises_names_and_sets_aside_invalid_ones() -> None:
    reply = pb.CheckInResponse(
        probe_name="it-1", country="IT", asn=3269,
        assignment=pb.Assignment(
            version="v7",
            targets=[pb.Target(domain="KickassTorrents.TO", site="kickasstorrents",
                               purpose=pb.PURPOSE_TARGET),
                     pb.Target(domain="bad..name", purpose=pb.PURPOSE_TARGET),
                     pb.Target(domain="example.com", purpose=pb.PURPOSE_CONTROL)],
            qtypes=[1, 28], schedule=pb.Schedule(interval_s=900, jitter_s=60)))
    assignment = Assignment(reply.SerializeToString())
    assert [(t.domain, t.purpose, t.site) for t in assignment.targets] == [
        ("kickasstorrents.to", Purpose.TARGET, "kickasstorrents"),
        ("example.com", Purpose.CONTROL, "")]
    assert assignment.invalid == ["bad..name"]
    assert (assignment.country, assignment.asn, assignment.interval_s) == ("IT", 3269, 900)
