"""The probe's one columnar encoder (wire._fill, a table per form) for both
forms: a measurement and a web observation that use every field fill every
column of the contract, and what the collector reads back from those columns
is what the probe's objects held."""

from __future__ import annotations

import time

from blockwatch.collector.servicer import batch_columns, web_columns
from blockwatch.collector.validation import Limits
from blockwatch.collector.webcolumns import web_storage_table
from blockwatch.collector.webvalidation import WebLimits, validate_web
from blockwatch.contract import vocabulary
from blockwatch.contract.vocabulary import MEASUREMENT_COLUMNS, WEB_COLUMNS
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
from blockwatch.probe.webobservation import (
    Certificate,
    ConnectStep,
    HttpStep,
    TlsStep,
    WebObservation,
)
from blockwatch.probe.wire import (
    encode_columnar_submit_request,
    encode_measurement,
    encode_web_observation,
)
from blockwatch.v1 import probe_pb2 as pb

NOW_US = time.time_ns() // 1000


def _full_measurement(i: int) -> Measurement:
    return Measurement(
        measurement_id=bytes([i + 1]) * 16, round_id=f"r{i}", started_at_us=NOW_US - i,
        duration_us=2 + i, domain=f"a{i}.example", qtype=1, qclass=1, purpose=Purpose.TARGET,
        resolver=ResolverRef(f"isp{i}", "192.0.2.1", 853, Transport.DOT, "dns.example",
                             "https://dns.example/dns-query"),
        failure=Failure.NONE, failure_text=f"t{i}",
        responses=[Response(1 + k, k, 0x8180, (Record(f"a{i}.example", 1, 60, f"192.0.2.{k}"),),
                            ("b.example",) * (k + 1), 1, 2, True, (ExtendedError(15, "x"),),
                            b"n", b"w" * k, 60 + k, "", k == 1) for k in range(2)],
        reply_count=2, answer_set_count=1, reply_bytes=120, stray_count=1 + i,
        strays=[StrayReply(3, 12, vocabulary.StrayReason.RUNT)], truncated=bool(i))


def _full_observation(i: int) -> WebObservation:
    hop = HttpStep("http://site.example/", 3, status=301,
                   headers=(("location", "https://site.example/"),), title="Moved")
    return WebObservation(
        observation_id=bytes([i + 1]) * 16, round_id=f"r{i}", started_at_us=NOW_US - i,
        duration_us=5 + i, name="site.example", address="192.0.2.7", port=443, scheme="https",
        dns_measurement_ids=(b"\x05" * 16, b"\x06" * 16), connect=ConnectStep(3 + i),
        tls=TlsStep(2, "TLSv1.3", "TLS_AES_128_GCM_SHA256",
                    Certificate("CN=site.example", "CN=ca", ("DNS:site.example", "DNS:x"),
                                1, 2, b"\x06" * 32), True, True, "e", Failure.NONE, "tf"),
        http=HttpStep("https://site.example/", 4, 2, 451, "Unavailable", "1.1",
                      (("server", "edge"), ("cf-ray", "1-MXP")), 10, True, b"\x07" * 32,
                      b"<title>x</title>", "x", Failure.NONE, "hf"),
        redirects=(hop,), truncated=bool(i))


def _wire(ms: list[Measurement], os: list[WebObservation]) -> pb.Batch:
    return pb.SubmitRequest.FromString(encode_columnar_submit_request(
        "b1", [encode_measurement(m) for m in ms],
        [encode_web_observation(o) for o in os])).batch


def test_both_forms_fill_every_contract_column() -> None:
    batch = _wire([_full_measurement(0)], [_full_observation(0)])
    assert [n for n in MEASUREMENT_COLUMNS if not len(getattr(batch.columns, n))] == []
    assert [n for n in WEB_COLUMNS if not len(getattr(batch.web, n))] == []


def test_measurement_columns_read_back_as_the_probe_measured() -> None:
    ms = [_full_measurement(0), _full_measurement(1)]
    c = batch_columns(_wire(ms, []), Limits())
    assert len(c) == 2 and set(c.arrays) == set(MEASUREMENT_COLUMNS)
    assert c["round_id"].to_pylist() == [m.round_id for m in ms]
    assert c["resolver_name"].to_pylist() == [m.resolver.name for m in ms]
    assert c["resolver_transport"].to_pylist() == [int(m.resolver.transport) for m in ms]
    assert c["response_count"].to_pylist() == [2, 2]
    assert c["cname_count"].to_pylist() == [1, 2, 1, 2]
    assert c["cname_chain"].to_pylist() == ["b.example"] * 6
    assert c["wire"].to_pylist() == [b"", b"w"] * 2
    assert c["wire_truncated"].to_pylist() == [False, True] * 2
    assert c["stray_reason"].to_pylist() == ["runt", "runt"]
    assert c["stray_count"].to_pylist() == [1, 2]
    assert c["truncated"].to_pylist() == [False, True]


def test_web_columns_read_back_as_the_probe_observed() -> None:
    os = [_full_observation(0), _full_observation(1)]
    columns = web_columns(_wire([], os), WebLimits())
    assert columns is not None
    assert len(columns) == 2 and set(columns.arrays) == set(WEB_COLUMNS)
    validate_web(columns, WebLimits(), NOW_US)
    t = web_storage_table(columns).to_pydict()
    assert t["connect_duration_us"] == [3, 4]
    assert t["dns_measurement_ids"] == [[b"\x05" * 16, b"\x06" * 16]] * 2
    assert t["has_certificate"] == [True, True]
    assert t["cert_subject"] == ["CN=site.example"] * 2
    assert t["cert_sans"] == [["DNS:site.example", "DNS:x"]] * 2
    assert t["http_sent"] == [True, True] and t["status"] == [451, 451]
    assert t["headers.name"] == [["server", "cf-ray"]] * 2
    assert t["headers.value"] == [["edge", "1-MXP"]] * 2
    assert t["body_truncated"] == [True, True]
    assert t["redirect_status"] == [[301]] * 2
    assert t["redirect_location"] == [["https://site.example/"]] * 2
    assert t["redirect_title"] == [["Moved"]] * 2
    assert t["truncated"] == [False, True]
    # an observation without TLS or HTTP: no certificate, nothing sent
    bare = WebObservation(
        observation_id=b"\x09" * 16, round_id="r", started_at_us=NOW_US, duration_us=1,
        name="site.example", address="192.0.2.7", port=80, scheme="http",
        dns_measurement_ids=(), connect=ConnectStep(1, Failure.CONNECTION_REFUSED, "refused"))
    columns = web_columns(_wire([], [bare]), WebLimits())
    assert columns is not None
    t = web_storage_table(columns).to_pydict()
    assert (t["has_certificate"], t["http_sent"], t["cert_sans"]) == ([False], [False], [[]])
