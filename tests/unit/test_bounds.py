"""A hostile reply cannot make a probe record more than the collector accepts, and
what is cut stays in the raw bytes."""

from __future__ import annotations

import dataclasses

from blockwatch.collector.validation import Limits
from blockwatch.probe import bounds
from blockwatch.probe.bounds import bound_measurement
from blockwatch.probe.ids import new_measurement_id
from blockwatch.probe.observation import (
    ExtendedError,
    Measurement,
    Purpose,
    Record,
    ResolverRef,
    Response,
    Transport,
)


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


def test_ordinary_replies_are_untouched() -> None:
    normal = Response(arrival_us=5, rcode=0, flags=0x8180,
                      answers=(Record("kickasstorrents.to", 1, 60, "83.224.65.74"),))
    m = bound_measurement(_measurement([normal]), [b"raw"])
    assert m.responses == [normal] and not dataclasses.replace(normal).wire
