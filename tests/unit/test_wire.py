"""The probe's adapter: what it frames is what the contract's classes parse."""

from __future__ import annotations

import dataclasses
from typing import cast

from blockwatch.probe.ids import new_measurement_id, uuid7
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
from blockwatch.probe.wire import (
    Assignment,
    BatchAck,
    BatchRejection,
    RejectionCode,
    decode_measurement,
    decode_submit_response,
    encode_columnar_submit_request,
    encode_measurement,
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


def test_flood_strays_and_cuts_round_trip_in_both_forms() -> None:
    m = _measurement()
    m.reply_count, m.answer_set_count, m.reply_bytes, m.truncated = 21, 2, 1356, True
    m.stray_count, m.strays = 3, [StrayReply(120, 3, "runt"), StrayReply(300, 61, "wrong_id")]
    m.responses[1] = dataclasses.replace(m.responses[1], wire=b"\x12" * 10, size=900,
                                         wire_truncated=True)
    assert decode_measurement(encode_measurement(m)) == m
    request = pb.SubmitRequest.FromString(
        encode_columnar_submit_request("b", [encode_measurement(m), encode_measurement(
            _measurement())]))
    c = request.batch.columns
    assert list(c.reply_count) == [21, 0] and list(c.answer_set_count) == [2, 0]
    assert list(c.stray_kept_count) == [2, 0] and list(c.stray_count) == [3, 0]
    assert list(c.stray_reason) == ["runt", "wrong_id"]
    assert list(c.stray_size) == [3, 61] and list(c.wire_truncated) == [False, True, False,
                                                                         False]
    assert list(c.truncated) == [True, False] and list(c.reply_bytes) == [1356, 0]


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


def test_submit_answers_become_the_probes_own_types() -> None:
    ack = pb.SubmitResponse(batch_id="b1", ack=pb.Ack(stored=3, duplicates=2, web_stored=1))
    assert decode_submit_response(ack.SerializeToString()) == BatchAck("b1", 3, 2, 1, 0)
    refused = pb.SubmitResponse(batch_id="b2", rejection=pb.Rejection(
        code=pb.Rejection.CODE_INVALID, reason="rcode 4096 out of range", record_index=7,
        field="responses[0].rcode"))
    rejection = decode_submit_response(refused.SerializeToString())
    assert rejection == BatchRejection("b2", RejectionCode.INVALID, "rcode 4096 out of range",
                                       "responses[0].rcode", 7)
    assert isinstance(rejection, BatchRejection)
    assert rejection.detail == "rcode 4096 out of range (field responses[0].rcode)"


def test_unknown_or_missing_answers_are_not_stored() -> None:
    """A newer collector's code, or an answer with neither ack nor rejection, is
    UNSPECIFIED (the uploader keeps the batch and retries), saying what it was."""
    newer = pb.SubmitResponse(batch_id="b3", rejection=pb.Rejection(
        code=cast("pb.Rejection.Code", 9), reason="quota", record_index=-1))
    assert decode_submit_response(newer.SerializeToString()) == BatchRejection(
        "b3", RejectionCode.UNSPECIFIED, "quota (code 9, unknown to this probe)")
    empty = decode_submit_response(pb.SubmitResponse(batch_id="b4").SerializeToString())
    assert isinstance(empty, BatchRejection) and empty.code is RejectionCode.UNSPECIFIED
    assert "neither an ack nor a rejection" in empty.reason


def test_rejection_codes_are_the_contracts() -> None:
    wanted = {v.name.removeprefix("CODE_"): v.number
              for v in pb.Rejection.DESCRIPTOR.enum_types_by_name["Code"].values}
    assert {c.name: int(c) for c in RejectionCode} == wanted
