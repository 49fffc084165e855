"""The column checks measurement and web validation share (columnchecks.py):
the same fault in a DNS batch and in a web batch is refused with the same
reason, each naming its own record and field path; and each record's content
size, summed by the shared rollup, is what its strings and bytes add up to."""

from __future__ import annotations

import dataclasses
import time

import pytest

from blockwatch.collector.errors import ValidationError
from blockwatch.collector.servicer import batch_columns, web_columns
from blockwatch.collector.validation import Limits, measurement_bytes, validate_batch
from blockwatch.collector.webvalidation import WebLimits, validate_web, web_observation_bytes
from blockwatch.probe.observation import ExtendedError, Measurement, Record, Response
from blockwatch.probe.webobservation import ConnectStep, HttpStep, WebObservation
from blockwatch.probe.wire import (
    encode_columnar_submit_request,
    encode_measurement,
    encode_web_observation,
)
from blockwatch.v1 import probe_pb2 as pb
from tests.integration.collector_harness import measurement

NOW_US = time.time_ns() // 1000


def _observation(i: int, **change: object) -> WebObservation:
    o = WebObservation(
        observation_id=bytes([i + 1]) * 16, round_id="r1", started_at_us=NOW_US,
        duration_us=5, name="site.example", address="192.0.2.7", port=443, scheme="https",
        dns_measurement_ids=(b"\x05" * 16,), connect=ConnectStep(3),
        http=HttpStep("https://site.example/", 4, 2, 451, "Unavailable", "1.1",
                      (("server", "edge"),), 10, False, b"\x07" * 32, b"<t>", "t"))
    return dataclasses.replace(o, **change)  # type: ignore[arg-type]


def _dns_error(*ms: Measurement) -> ValidationError:
    wire = pb.SubmitRequest.FromString(encode_columnar_submit_request(
        "b1", [encode_measurement(m) for m in ms])).batch
    with pytest.raises(ValidationError) as caught:
        validate_batch("b1", batch_columns(wire, Limits()), Limits(), NOW_US)
    return caught.value


def _web_error(*observations: WebObservation) -> ValidationError:
    wire = pb.SubmitRequest.FromString(encode_columnar_submit_request(
        "b1", [], [encode_web_observation(o) for o in observations])).batch
    columns = web_columns(wire, WebLimits())
    assert columns is not None
    with pytest.raises(ValidationError) as caught:
        validate_web(columns, WebLimits(), NOW_US)
    return caught.value


def test_a_repeated_id_is_named_alike_in_both() -> None:
    m = measurement(0)
    dns = _dns_error(measurement(1), m, m)
    web = _web_error(_observation(0), _observation(1), _observation(1))
    assert (dns.record_index, dns.field) == (2, "measurement_id")
    assert (web.record_index, web.field) == (2, "web[2].observation_id")
    assert dns.reason == "repeats an earlier measurement of this batch"
    assert web.reason == "repeats an earlier web observation of this batch"


@pytest.mark.parametrize("name", ["Upper.example", "a..b", "a" * 64 + ".example", "."])
def test_a_bad_domain_name_is_refused_alike_in_both(name: str) -> None:
    web = _web_error(_observation(0), _observation(1, name=name))
    assert (web.record_index, web.field) == (1, "web[1].name")
    assert web.reason == "is not a lower-case domain name without the trailing dot"
    if name == ".":   # the root is a name DNS probes ask (NS .), not a web site
        return
    dns = _dns_error(measurement(0), measurement(1, domain=name))
    assert (dns.record_index, dns.field) == (1, "domain")
    assert dns.reason == web.reason


def test_a_time_before_2020_is_refused_alike_in_both() -> None:
    old = 1_500_000_000_000_000
    dns = _dns_error(measurement(0), measurement(1, started_at_us=old))
    web = _web_error(_observation(0), _observation(1, started_at_us=old))
    assert (dns.record_index, dns.field) == (1, "started_at_us")
    assert (web.record_index, web.field) == (1, "web[1].started_at_us")
    assert dns.reason == web.reason


def test_lengths_and_ranges_name_nested_items_in_both() -> None:
    long_ede = measurement(1, ede=(ExtendedError(16, "ok"), ExtendedError(17, "x" * 2000)))
    dns = _dns_error(measurement(0), long_ede)
    assert (dns.record_index, dns.field) == (1, "responses[0].extended_errors[1].text")
    long_header = _observation(1, http=HttpStep(
        "https://site.example/", 4, 2, 200, "OK", "1.1",
        (("server", "edge"), ("x-long", "v" * 2000))))
    web = _web_error(_observation(0), long_header)
    assert (web.record_index, web.field) == (1, "web[1].http.headers[1].value")
    assert dns.reason == "length must be in 0..1024" == web.reason


def test_content_bytes_are_each_records_strings_and_bytes() -> None:
    m = measurement(0, responses=2, ede=(ExtendedError(16, "Censored"),))
    m.responses[1] = Response(arrival_us=9, rcode=0, flags=0, answers=(
        Record("x.example", 1, 60, "192.0.2.9"),), cname_chain=("c.example",), wire=b"ww")
    plain = measurement(1, responses=0)
    wire = pb.SubmitRequest.FromString(encode_columnar_submit_request(
        "b1", [encode_measurement(x) for x in (m, plain)])).batch
    sizes = measurement_bytes(batch_columns(wire, Limits())).to_pylist()

    def own(x: Measurement) -> int:
        r = x.resolver
        return len(x.measurement_id) + sum(len(v.encode()) for v in (
            x.round_id, x.domain, x.failure_text, r.name, r.address, r.tls_name, r.url))

    def response(x: Response) -> int:
        return (24 + len(x.nsid) + len(x.wire) + len(x.parse_error)
                + sum(8 + len(a.name) + len(a.data) for a in x.answers)
                + sum(2 + len(c) for c in x.cname_chain)
                + sum(4 + len(e.text) for e in x.extended_errors))

    assert sizes == [own(m) + sum(response(x) for x in m.responses), own(plain)]

    o = _observation(0)
    wire = pb.SubmitRequest.FromString(encode_columnar_submit_request(
        "b1", [], [encode_web_observation(o)])).batch
    columns = web_columns(wire, WebLimits())
    assert columns is not None
    h = o.http
    assert h is not None
    expected = (len(o.observation_id) + len(o.round_id) + len(o.name) + len(o.address)
                + len(h.url) + len(h.reason) + len(h.http_version) + len(h.body_sha256)
                + len(h.body_prefix) + len(h.title)
                + 8 + len(o.dns_measurement_ids[0])
                + sum(8 + len(k) + len(v) for k, v in h.headers))
    assert web_observation_bytes(columns).to_pylist() == [expected]
