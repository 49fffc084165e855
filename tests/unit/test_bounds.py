"""A hostile reply cannot make a probe record more than the collector accepts, and
what is cut stays in the raw bytes."""

from __future__ import annotations

import dataclasses

import dns.message
import dns.rrset

from blockwatch.collector.validation import Limits
from blockwatch.probe import bounds
from blockwatch.probe.bounds import bound_measurement
from blockwatch.probe.dnsmessage import parse_response
from blockwatch.probe.ids import new_measurement_id
from blockwatch.probe.observation import (
    ExtendedError,
    Measurement,
    Purpose,
    Record,
    ResolverRef,
    Response,
    StrayReply,
    Transport,
)
from blockwatch.probe.wire import encode_measurement


def test_probe_bounds_fit_the_collectors_limits() -> None:
    limits = Limits()
    assert limits.max_responses >= bounds.MAX_RESPONSES
    assert limits.max_answers >= bounds.MAX_ANSWERS
    assert limits.max_cname_chain >= bounds.MAX_CNAME_CHAIN
    assert limits.max_answer_data >= bounds.MAX_ANSWER_DATA
    assert limits.max_extended_errors >= bounds.MAX_EXTENDED_ERRORS
    assert limits.max_ede_text >= bounds.MAX_EDE_TEXT
    assert limits.max_nsid >= bounds.MAX_NSID
    assert limits.max_text >= bounds.MAX_TEXT
    assert limits.max_wire >= bounds.MAX_WIRE
    assert limits.max_strays >= bounds.MAX_STRAYS
    assert limits.max_stray_reason >= bounds.MAX_STRAY_REASON
    assert limits.max_measurement_bytes >= bounds.MAX_MEASUREMENT_BYTES
    # a sane share of a batch: hundreds of the largest measurements fit one message
    assert bounds.MAX_MEASUREMENT_BYTES * 256 <= 16 << 20


def _measurement(responses: list[Response]) -> Measurement:
    return Measurement(
        measurement_id=new_measurement_id(), round_id="r", started_at_us=1, duration_us=1,
        domain="kickasstorrents.to", qtype=1, qclass=1, purpose=Purpose.TARGET,
        resolver=ResolverRef("isp", "127.0.0.3", 53, Transport.UDP), responses=responses)


def test_a_4000_record_reply_is_cut_to_the_limit_and_keeps_its_bytes() -> None:
    huge = Response(arrival_us=5, rcode=0, flags=0x8180, answers=tuple(
        Record("kickasstorrents.to", 1, 60, f"10.0.{i // 250}.{i % 250}") for i in range(4000)),
        extended_errors=(ExtendedError(16, "x" * 5000),))
    m = bound_measurement(_measurement([huge]), [b"raw reply bytes"])
    r = m.responses[0]
    assert len(r.answers) == bounds.MAX_ANSWERS
    assert r.answers[0].data == "10.0.0.0"
    assert len(r.extended_errors[0].text) == bounds.MAX_EDE_TEXT
    assert r.wire == b"raw reply bytes"


def test_a_flood_of_replies_keeps_the_first_ones() -> None:
    replies = [Response(arrival_us=i, rcode=0, flags=0x8180) for i in range(40)]
    m = bound_measurement(_measurement(replies), [b""] * 40)
    assert [r.arrival_us for r in m.responses] == list(range(bounds.MAX_RESPONSES))


def _txt_reply(records: int) -> bytes:
    query = dns.message.make_query("txt64k.hostile.test", "TXT")
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text(
        "txt64k.hostile.test.", 60, "IN", "TXT",
        *(f'"{"x" * 250}{i:05d}"' for i in range(records))))
    return reply.to_wire(max_size=65535)


def test_a_64k_txt_reply_keeps_a_bounded_measurement_and_records_the_cut() -> None:
    wire = _txt_reply(240)
    assert len(wire) > 60_000
    parsed = parse_response(wire, "txt64k.hostile.test", 16, 900, keep_wire=True)
    m = bound_measurement(_measurement([parsed]), [wire])
    r = m.responses[0]
    assert len(encode_measurement(m)) <= bounds.measurement_size(m) <= \
        bounds.MAX_MEASUREMENT_BYTES
    assert r.size == len(wire) and r.wire == wire[:len(r.wire)] and r.wire_truncated
    assert 0 < len(r.wire) <= bounds.MAX_WIRE  # the reply's start, in its own bytes
    assert m.truncated and 0 < len(r.answers) < 240
    assert r.answers[0].data == parsed.answers[0].data  # cut from the end, in order


def test_sixteen_worst_case_replies_stay_within_the_measurement_bound() -> None:
    worst = Response(arrival_us=5, rcode=0, flags=0x8180, nsid=b"n" * 600,
                     parse_error="p" * 5000, wire=b"w" * 60_000,
                     answers=tuple(Record("a" * 250, 16, 60, "d" * 9000) for _ in range(300)),
                     cname_chain=tuple("c" * 250 for _ in range(40)),
                     extended_errors=tuple(ExtendedError(16, "e" * 2000) for _ in range(20)))
    m = _measurement([worst] * 40)
    m.failure_text = "f" * 9000
    m.strays = [StrayReply(1, 3, "runt")] * 100
    m.stray_count = 100
    m = bound_measurement(m, [b"w" * 60_000] * 40)
    assert m.truncated and m.responses  # the first reply always survives
    assert len(encode_measurement(m)) <= bounds.MAX_MEASUREMENT_BYTES
    assert len(m.strays) == bounds.MAX_STRAYS and m.stray_count == 100
    assert m.responses[0].extended_errors  # the strongest evidence is kept first


def test_ordinary_replies_are_untouched() -> None:
    normal = Response(arrival_us=5, rcode=0, flags=0x8180,
                      answers=(Record("kickasstorrents.to", 1, 60, "83.224.65.74"),))
    m = bound_measurement(_measurement([normal]), [b"raw"])
    assert m.responses == [normal] and not dataclasses.replace(normal).wire
