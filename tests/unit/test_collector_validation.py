"""Batch validation names the record and the wire field; pure, no I/O."""

from __future__ import annotations

import time

import pytest

from blockwatch.collector.columns import MeasurementColumns
from blockwatch.collector.errors import BatchTooLarge, ValidationError
from blockwatch.collector.servicer import to_columns
from blockwatch.collector.validation import Limits, valid_domain, validate_batch
from blockwatch.probe.ids import new_measurement_id
from blockwatch.v1 import probe_pb2 as pb

NOW = time.time_ns() // 1000


def _m(**kw: object) -> pb.Measurement:
    base: dict[str, object] = dict(
        measurement_id=new_measurement_id(), round_id="r", started_at_us=NOW, duration_us=10,
        domain="thepiratebay.org", qtype=1, qclass=1, purpose=pb.PURPOSE_TARGET,
        resolver=pb.Resolver(name="cloudflare", address="1.1.1.1", port=53,
                             transport=pb.TRANSPORT_UDP),
        failure=pb.FAILURE_NONE,
        responses=[pb.Response(arrival_us=5, rcode=0, flags=0x8180, answers=[
            pb.ResourceRecord(name="thepiratebay.org", rtype=1, ttl=60, data="192.0.2.1")])])
    base.update(kw)
    return pb.Measurement(**base)  # type: ignore[arg-type]


def _check(*ms: pb.Measurement, limits: Limits | None = None, batch_id: str = "b1") -> None:
    validate_batch(batch_id, to_columns(list(ms)), limits or Limits(), NOW)


def _error(*ms: pb.Measurement, **kw: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _check(*ms, **kw)  # type: ignore[arg-type]
    return info.value


def test_clean_batch_passes() -> None:
    _check(_m(), _m(responses=[]  , failure=pb.FAILURE_TIMEOUT), _m(domain="."))


def test_ede_text_too_long_names_record_and_path() -> None:
    bad = _m()
    bad.responses[0].extended_errors.extend([pb.ExtendedError(code=16, text="ok"),
                                             pb.ExtendedError(code=17, text="x" * 2000)])
    e = _error(_m(), _m(), bad)
    assert (e.record_index, e.field) == (2, "responses[0].extended_errors[1].text")


def test_later_response_field_is_named_with_its_wire_index() -> None:
    bad = _m()
    bad.responses.extend([pb.Response(), pb.Response(extended_errors=[
        pb.ExtendedError(code=1, text="y" * 2000)])])
    e = _error(bad)
    assert (e.record_index, e.field) == (0, "responses[2].extended_errors[0].text")


@pytest.mark.parametrize(("change", "field"), [
    ({"measurement_id": b"short"}, "measurement_id"),
    ({"domain": "Upper.Example"}, "domain"),
    ({"domain": "bad..example"}, "domain"),
    ({"domain": "a" * 64 + ".example"}, "domain"),
    ({"purpose": 0}, "purpose"),
    ({"failure": 12}, "failure"),
    ({"qtype": 0}, "qtype"),
    ({"started_at_us": 1_500_000_000_000_000}, "started_at_us"),
    ({"started_at_us": NOW + 2 * 86_400_000_000}, "started_at_us"),
    ({"round_id": "r" * 65}, "round_id"),
    ({"resolver": pb.Resolver(name="", address="1.1.1.1", transport=pb.TRANSPORT_UDP)},
     "resolver.name"),
    ({"resolver": pb.Resolver(name="x", address="1.1.1.1", transport=5)},  # type: ignore[arg-type]
     "resolver.transport"),
    ({"responses": []}, "failure"),   # FAILURE_NONE without a response
])
def test_bad_fields_are_named(change: dict[str, object], field: str) -> None:
    e = _error(_m(), _m(**change))
    assert (e.record_index, e.field) == (1, field)


def test_duplicate_measurement_id_within_batch() -> None:
    one = _m()
    e = _error(one, _m(), one)
    assert (e.record_index, e.field) == (2, "measurement_id")


def test_batch_limits() -> None:
    with pytest.raises(BatchTooLarge):
        _check(*[_m() for _ in range(3)], limits=Limits(max_measurements=2))
    assert _error(_m(), batch_id="").field == "batch_id"
    assert _error(_m(), batch_id="a b").field == "batch_id"
    too_many = _m()
    too_many.responses[0].answers.extend([pb.ResourceRecord(data="x")] * 300)
    assert _error(too_many).field == "responses[0].answers"


def test_columns_flatten_first_response_and_keep_later_ones() -> None:
    m = _m()
    m.responses.append(pb.Response(arrival_us=9, rcode=3, answers=[
        pb.ResourceRecord(rtype=1, data="10.0.0.1")]))
    c = to_columns([m, _m(responses=[], failure=pb.FAILURE_TIMEOUT)])
    assert isinstance(c, MeasurementColumns) and len(c) == 2
    assert c.rcode == [0, None]
    assert c.answer_data == [["192.0.2.1"], []]
    assert c.later_rcode == [[3], []]
    assert c.later_answer_data == [[["10.0.0.1"]], []]


@pytest.mark.parametrize("name", ["example.com", "_dmarc.example.com", "id.server", ".",
                                  "xn--80ak6aa92e.com"])
def test_valid_domains(name: str) -> None:
    assert valid_domain(name)


@pytest.mark.parametrize("name", ["", "Example.com", "example.com.", "-a.example", "a b.c",
                                  "a..b"])
def test_invalid_domains(name: str) -> None:
    assert not valid_domain(name)
