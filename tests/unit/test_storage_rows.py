"""The stored row of every measurement is what a row-by-row reading of its
Measurement says (the first response flattened, the later ones in `later_*`,
the strays as lists), for generated batches as the probe's adapter builds
them: the vectorised conversion (numpy gathers, Arrow takes, no-copy paths
when every measurement has one response) checked against the plain
statement of the layout. Pure, no I/O."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockwatch.collector.columns import storage_table
from blockwatch.collector.servicer import batch_columns
from blockwatch.collector.validation import Limits, validate_batch
from blockwatch.probe.wire import encode_columnar_submit_request
from blockwatch.v1 import probe_pb2 as pb

NOW = time.time_ns() // 1000
u16 = st.integers(0, 65535)
u32 = st.integers(0, 2**32 - 1)
words = st.sampled_from(["", "a", "cloudflare", "ünï", "x\x00y", "timed out"])
blobs = st.binary(max_size=12)
names = st.sampled_from(["thepiratebay.org", "example.org", "a.example", "_dns.resolver.arpa"])

records = st.builds(pb.ResourceRecord, name=names, rtype=u16, ttl=u32,
                    data=st.sampled_from(["192.0.2.1", "2001:db8::1", "", "a.example"]))
errors = st.builds(pb.ExtendedError, code=u16, text=words)
responses = st.builds(
    pb.Response, arrival_us=u32, rcode=st.integers(0, 4095), flags=u16,
    answers=st.lists(records, max_size=3), cname_chain=st.lists(names, max_size=2),
    authority_count=u16, additional_count=u16, edns=st.booleans(),
    extended_errors=st.lists(errors, max_size=2), nsid=blobs, wire=blobs, size=u16,
    parse_error=words, wire_truncated=st.booleans())
strays = st.builds(pb.StrayReply, arrival_us=u32, size=u16,
                   reason=st.sampled_from(["", "id mismatch", "late"]))


@st.composite
def measurements(draw: st.DrawFn, least: int = 0, most: int = 3) -> pb.Measurement:
    answered = draw(st.lists(responses, min_size=least, max_size=most))
    failure: Any = pb.FAILURE_NONE if answered else pb.FAILURE_TIMEOUT
    other: bool = draw(st.booleans())
    if answered and other:   # a failure after some replies: responses kept all the same
        failure = draw(st.sampled_from([f for f in pb.Failure.values() if f]))
    purpose: Any = draw(st.sampled_from([p for p in pb.Purpose.values() if p]))
    transport: Any = draw(st.sampled_from([t for t in pb.Transport.values() if t]))
    return pb.Measurement(
        round_id=draw(st.sampled_from(["r1", "r2", ""])),
        started_at_us=NOW - draw(st.integers(0, 10**9)), duration_us=draw(u32),
        domain=draw(st.one_of(names, st.just("."))), qtype=draw(st.integers(1, 65535)),
        qclass=draw(st.integers(1, 65535)),
        purpose=purpose,
        resolver=pb.Resolver(name=draw(st.sampled_from(["isp", "cloudflare"])),
                             address=draw(st.sampled_from(["1.1.1.1", "::1", ""])),
                             port=draw(u16),
                             transport=transport,
                             tls_name=draw(st.sampled_from(["", "dns.quad9.net"])),
                             url=draw(st.sampled_from(["", "https://dns.example/q"]))),
        failure=failure, failure_text=draw(words), responses=answered,
        reply_count=draw(u32), answer_set_count=draw(u32),
        reply_bytes=draw(st.integers(0, 2**64 - 1)),
        stray_count=draw(u32), strays=draw(st.lists(strays, max_size=2)),
        truncated=draw(st.booleans()))


def expected_row(m: pb.Measurement) -> dict[str, Any]:
    """The stored layout of one Measurement, read field by field."""
    first = m.responses[0] if m.responses else pb.Response()
    later = m.responses[1:]
    r = m.resolver
    return {
        "measurement_id": m.measurement_id, "round_id": m.round_id,
        "started_at": m.started_at_us, "duration_us": m.duration_us, "domain": m.domain,
        "qtype": m.qtype, "qclass": m.qclass, "purpose": m.purpose,
        "resolver_name": r.name, "resolver_address": r.address, "resolver_port": r.port,
        "transport": r.transport, "resolver_tls_name": r.tls_name, "resolver_url": r.url,
        "failure": m.failure, "failure_text": m.failure_text,
        "response_count": len(m.responses), "arrival_us": first.arrival_us,
        "rcode": first.rcode if m.responses else None, "flags": first.flags,
        "answers.name": [a.name for a in first.answers],
        "answers.type": [a.rtype for a in first.answers],
        "answers.ttl": [a.ttl for a in first.answers],
        "answers.data": [a.data for a in first.answers],
        "cname_chain": list(first.cname_chain), "authority_count": first.authority_count,
        "additional_count": first.additional_count, "edns": first.edns,
        "ede_codes": [e.code for e in first.extended_errors],
        "ede_texts": [e.text for e in first.extended_errors], "nsid": first.nsid,
        "response_size": first.size, "parse_error": first.parse_error, "wire": first.wire,
        "later_arrival_us": [x.arrival_us for x in later],
        "later_rcode": [x.rcode for x in later], "later_flags": [x.flags for x in later],
        "later_size": [x.size for x in later],
        "later_answer_types": [[a.rtype for a in x.answers] for x in later],
        "later_answer_data": [[a.data for a in x.answers] for x in later],
        "later_ede_codes": [[e.code for e in x.extended_errors] for x in later],
        "later_ede_texts": [[e.text for e in x.extended_errors] for x in later],
        "later_wire": [x.wire for x in later],
        "reply_count": m.reply_count, "answer_set_count": m.answer_set_count,
        "reply_bytes": m.reply_bytes, "stray_count": m.stray_count,
        "stray_arrival_us": [s.arrival_us for s in m.strays],
        "stray_size": [s.size for s in m.strays], "stray_reason": [s.reason for s in m.strays],
        "truncated": m.truncated, "wire_truncated": first.wire_truncated,
        "later_wire_truncated": [x.wire_truncated for x in later],
    }


def stored_rows(ms: list[pb.Measurement]) -> list[dict[str, Any]]:
    data = encode_columnar_submit_request("b1", [m.SerializeToString() for m in ms])
    columns = batch_columns(pb.SubmitRequest.FromString(data).batch, Limits())
    validate_batch("b1", columns, Limits(), NOW)
    table = storage_table(columns)
    table = table.set_column(table.schema.get_field_index("started_at"), "started_at",
                             table["started_at"].cast(pa.int64()))
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _with_ids(ms: list[pb.Measurement]) -> list[pb.Measurement]:
    for i, m in enumerate(ms):
        m.measurement_id = i.to_bytes(16, "big")
    return ms


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ms=st.lists(measurements(), max_size=12).map(_with_ids))
def test_every_stored_row_is_its_measurement_read_row_by_row(ms: list[pb.Measurement]) -> None:
    assert stored_rows(ms) == [expected_row(m) for m in ms]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ms=st.lists(measurements(1, 1), min_size=1, max_size=12).map(_with_ids))
def test_one_response_each_is_stored_alike(ms: list[pb.Measurement]) -> None:
    """The common batch (one response a measurement) takes the no-copy paths."""
    assert stored_rows(ms) == [expected_row(m) for m in ms]
