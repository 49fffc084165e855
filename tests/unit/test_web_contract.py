"""The web follow-up's vocabularies are defined once, in the proto: the probe's
enums and the collector's SQL enums match the descriptor; a worst-case web
observation, bounded by the probe, passes the collector's validation; and a
bad one is rejected naming its field."""

from __future__ import annotations

import re
import time
from importlib import resources
from typing import cast

import pytest

from blockwatch.collector.errors import ValidationError
from blockwatch.collector.servicer import web_columns
from blockwatch.collector.webcolumns import WEB_FIELDS, web_storage_table
from blockwatch.collector.webvalidation import (
    FAILURES,
    SCHEMES,
    TLS_VERSIONS,
    WebLimits,
    validate_web,
)
from blockwatch.probe.observation import Failure
from blockwatch.probe.webbounds import MAX_WEB_OBSERVATION_BYTES, bound_web_observation
from blockwatch.probe.webobservation import (
    Certificate,
    ConnectStep,
    HttpStep,
    Scheme,
    TlsStep,
    TlsVersion,
    WebObservation,
)
from blockwatch.probe.wire import (
    decode_web_observation,
    encode_columnar_submit_request,
    encode_web_observation,
)
from blockwatch.v1 import probe_pb2 as pb

NOW_US = time.time_ns() // 1000


def _proto_enum(name: str, prefix: str) -> dict[str, int]:
    values = pb.DESCRIPTOR.enum_types_by_name[name].values
    return {v.name.removeprefix(prefix): v.number for v in values
            if not v.name.endswith("UNSPECIFIED") or name == "TlsVersion"}


def _sql_enum(column: str) -> dict[str, int]:
    sql = resources.files("blockwatch.schema").joinpath("migrations/0006_web.sql").read_text()
    body = re.search(rf"\n\s+{column}\s+Enum8\(([^)]*)\)", sql)
    assert body is not None, column
    return {k: int(v) for k, v in re.findall(r"'(\w+)' = (\d+)", body[1])}


def test_probe_enums_are_the_contracts() -> None:
    assert {e.name: e.value for e in Scheme} == _proto_enum("Scheme", "SCHEME_")
    assert {e.name: e.value for e in TlsVersion} == _proto_enum("TlsVersion", "TLS_VERSION_")
    assert {e.name: e.value for e in Failure} == _proto_enum("Failure", "FAILURE_")


def test_sql_enums_are_the_contracts() -> None:
    assert {k.upper(): v for k, v in _sql_enum("scheme").items()} == _proto_enum(
        "Scheme", "SCHEME_")
    assert {k.upper(): v for k, v in _sql_enum("tls_version").items()} == _proto_enum(
        "TlsVersion", "TLS_VERSION_")
    for column in ("connect_failure", "tls_failure", "http_failure"):
        assert {k.upper(): v for k, v in _sql_enum(column).items()} == _proto_enum(
            "Failure", "FAILURE_")
    assert max(_proto_enum("Failure", "FAILURE_").values()) == FAILURES
    assert max(_proto_enum("Scheme", "SCHEME_").values()) == SCHEMES
    assert max(_proto_enum("TlsVersion", "TLS_VERSION_").values()) == TLS_VERSIONS


def test_collector_fields_are_the_wire_columns() -> None:
    assert set(WEB_FIELDS) == set(pb.WebObservationColumns.DESCRIPTOR.fields_by_name)


def _hostile_http(url: str) -> HttpStep:
    return HttpStep(url * 2000, 1, 1, status=200, reason="R" * 5000, http_version="1.1",
                    headers=tuple((f"x-h{i}", "v" * 5000) for i in range(100)),
                    body_length=10**9, body_truncated=True, body_sha256=b"\x01" * 32,
                    body_prefix=b"b" * 200_000, title="T" * 5000,
                    failure=Failure.TIMEOUT, failure_text="f" * 100_000)


def worst_case() -> WebObservation:
    """Every field at or far beyond what a hostile server could make the engine keep."""
    cert = Certificate("CN=" + "s" * 5000, "CN=" + "i" * 5000,
                       tuple(f"DNS:{'a' * 300}{i}.example" for i in range(1000)), 0, 2**31,
                       b"\x02" * 32)
    return WebObservation(
        observation_id=b"\x03" * 16, round_id="r" * 64, started_at_us=NOW_US, duration_us=1,
        name="site.example", address="2001:db8::1", port=443, scheme="https",
        dns_measurement_ids=tuple(i.to_bytes(16, "big") for i in range(500)),
        connect=ConnectStep(1, Failure.NONE, "c" * 100_000),
        tls=TlsStep(1, "TLSv1.3", "C" * 500, cert, True, False, "v" * 100_000,
                    Failure.TLS_CERTIFICATE, "t" * 100_000),
        http=_hostile_http("https://site.example/"),
        redirects=tuple(_hostile_http("https://x.example/") for _ in range(20)))


def _columns(*observations: WebObservation) -> pb.Batch:
    request = pb.SubmitRequest.FromString(encode_columnar_submit_request(
        "b1", [], [encode_web_observation(o) for o in observations]))
    return request.batch


def test_bounded_worst_case_passes_the_collector_and_round_trips() -> None:
    bounded = bound_web_observation(worst_case())
    assert bounded.truncated
    payload = encode_web_observation(bounded)
    assert len(payload) <= MAX_WEB_OBSERVATION_BYTES
    decoded = decode_web_observation(payload)
    assert decoded.tls is not None and decoded.tls.certificate is not None
    assert decoded.tls.certificate.sans == bounded.tls.certificate.sans  # type: ignore[union-attr]
    columns = web_columns(_columns(bounded), WebLimits())
    assert columns is not None
    validate_web(columns, WebLimits(), NOW_US)
    table = web_storage_table(columns)
    assert table.num_rows == 1
    assert table.column("title").to_pylist() == [bounded.http.title]  # type: ignore[union-attr]


def _ok() -> WebObservation:
    return WebObservation(
        observation_id=b"\x04" * 16, round_id="r1", started_at_us=NOW_US, duration_us=5,
        name="site.example", address="192.0.2.7", port=443, scheme="https",
        dns_measurement_ids=(b"\x05" * 16,), connect=ConnectStep(3),
        tls=TlsStep(2, "TLSv1.3", "TLS_AES_128_GCM_SHA256",
                    Certificate("CN=site.example", "CN=ca", ("DNS:site.example",), 0, 1,
                                b"\x06" * 32), True, True),
        http=HttpStep("https://site.example/", 4, 2, 451, "Unavailable", "1.1",
                      (("server", "edge"),), 10, False, b"\x07" * 32, b"<title>x</title>", "x"))


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"round_id": "r" * 65}, "web[1].round_id", "length must be in 0..64"),
    ({"name": "Not A Name"}, "web[1].name", "lower-case domain name"),
    ({"address": "example.org"}, "web[1].address", "IP address"),
    ({"port": 0}, "web[1].port", "1..65535"),
    ({"observation_id": b"\x04" * 16}, "web[1].observation_id", "repeats"),
    ({"dns_measurement_ids": (b"short",)}, "web[1].dns_measurement_ids[0]", "16..16"),
])
def test_rejections_name_the_field(change: dict[str, object], field: str, message: str
                                   ) -> None:
    import dataclasses

    good = _ok()
    bad = dataclasses.replace(good, observation_id=b"\x08" * 16)
    bad = dataclasses.replace(bad, **change)  # type: ignore[arg-type]
    columns = web_columns(_columns(good, bad), WebLimits())
    assert columns is not None
    with pytest.raises(ValidationError, match=message) as caught:
        validate_web(columns, WebLimits(), NOW_US)
    assert caught.value.field == field
    assert caught.value.record_index == 1


def test_rejections_name_nested_fields() -> None:
    batch = _columns(_ok())
    batch.web.tls_failure[0] = cast("pb.Failure", 42)  # out of the enum
    columns = web_columns(batch, WebLimits())
    assert columns is not None
    with pytest.raises(ValidationError) as caught:
        validate_web(columns, WebLimits(), NOW_US)
    assert caught.value.field == "web[0].tls_failure"
    batch = _columns(_ok())
    batch.web.header_value[0] = "v" * 2000
    columns = web_columns(batch, WebLimits())
    assert columns is not None
    with pytest.raises(ValidationError) as caught:
        validate_web(columns, WebLimits(), NOW_US)
    assert caught.value.field == "web[0].http.headers[0].value"
    batch = _columns(_ok())
    batch.web.san.append("DNS:extra.example")
    with pytest.raises(ValidationError) as caught:
        web_columns(batch, WebLimits())
    assert caught.value.field == "web.san"
