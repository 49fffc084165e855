"""Batch validation names the record and the Measurement field path of each
problem in a columnar batch as the probe's adapter builds it, and refuses the
retired row form as a whole; pure, no I/O."""

from __future__ import annotations

import time

import pytest

from blockwatch.collector.columnchecks import DOMAIN_PATTERN
from blockwatch.collector.columns import MeasurementColumns, storage_table
from blockwatch.collector.errors import BatchTooLarge, ValidationError
from blockwatch.collector.servicer import RETIRED_BATCH_FIELDS, batch_columns, retired_items
from blockwatch.collector.validation import Limits, valid_domain, validate_batch
from blockwatch.probe.ids import new_measurement_id
from blockwatch.probe.wire import encode_columnar_submit_request
from blockwatch.v1 import probe_pb2 as pb
from tests.rowform import row_form_batch

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


def wire_batch(ms: list[pb.Measurement], batch_id: str = "b1") -> pb.Batch:
    """The batch a probe sends, built by the probe's own adapter from serialized
    measurements, as the uploader does."""
    data = encode_columnar_submit_request(batch_id, [m.SerializeToString() for m in ms])
    return pb.SubmitRequest.FromString(data).batch


def _check(*ms: pb.Measurement, limits: Limits | None = None, batch_id: str = "b1") -> None:
    limits = limits or Limits()
    validate_batch(batch_id, batch_columns(wire_batch(list(ms)), limits), limits, NOW)


def _error(*ms: pb.Measurement, **kw: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _check(*ms, **kw)  # type: ignore[arg-type]
    return info.value


def test_clean_batch_passes() -> None:
    _check(_m(), _m(responses=[], failure=pb.FAILURE_TIMEOUT), _m(domain="."))


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
    e = _error(_m(), bad)
    assert (e.record_index, e.field) == (1, "responses[2].extended_errors[0].text")


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
    c = batch_columns(wire_batch([m, _m(responses=[], failure=pb.FAILURE_TIMEOUT)]),
                      Limits())
    assert isinstance(c, MeasurementColumns) and len(c) == 2
    t = storage_table(c).to_pydict()
    assert t["rcode"] == [0, None]
    assert t["answers.data"] == [["192.0.2.1"], []]
    assert t["later_rcode"] == [[3], []]
    assert t["later_answer_data"] == [[["10.0.0.1"]], []]


def _varied() -> list[pb.Measurement]:
    """Every shape a row can take: no response, one, several with nested lists."""
    injected = _m(domain="x.example")
    injected.responses[0].extended_errors.extend([pb.ExtendedError(code=16, text="Censored"),
                                                  pb.ExtendedError(code=17)])
    injected.responses[0].cname_chain.extend(["a.example", "b.example"])
    injected.responses[0].nsid = b"res1"
    injected.responses.extend([
        pb.Response(arrival_us=9, rcode=3, flags=0x8183, size=40, wire=b"\x01\x02"),
        pb.Response(arrival_us=12, rcode=0, answers=[
            pb.ResourceRecord(name="x.example", rtype=1, ttl=5, data="10.0.0.1"),
            pb.ResourceRecord(name="x.example", rtype=28, ttl=5, data="::1")],
            extended_errors=[pb.ExtendedError(code=15, text="Blocked")])])
    return [_m(), _m(responses=[], failure=pb.FAILURE_TIMEOUT, failure_text="timed out"),
            injected, _m(responses=[pb.Response(parse_error="short", size=3)],
                         resolver=pb.Resolver(name="q9", address="9.9.9.9", port=853,
                                              transport=pb.TRANSPORT_DOT,
                                              tls_name="dns.quad9.net")),
            _m(responses=[], failure=pb.FAILURE_TLS_ERROR)]


def test_varied_measurements_keep_their_later_responses() -> None:
    t = storage_table(batch_columns(wire_batch(_varied()), Limits())).to_pydict()
    assert t["response_count"] == [1, 0, 3, 1, 0]
    assert t["later_rcode"][2] == [3, 0]
    assert t["later_ede_texts"][2] == [[], ["Blocked"]]
    assert t["ede_texts"][2] == ["Censored", ""]
    assert t["cname_chain"][2] == ["a.example", "b.example"]
    assert t["parse_error"][3] == "short" and t["resolver_tls_name"][3] == "dns.quad9.net"


def _columnar(ms: list[pb.Measurement]) -> pb.Batch:
    return wire_batch(ms)


def _structure_error(batch: pb.Batch) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate_batch(batch.batch_id, batch_columns(batch, Limits()), Limits(), NOW)
    return info.value


def test_columnar_counts_must_sum_to_the_flat_columns() -> None:
    # record 2 claims a third answer that is not there: its items run past the end
    batch = _columnar(_varied())
    batch.columns.answer_count[3] += 1  # responses: 1 + 0 + 3 + 1
    e = _structure_error(batch)
    assert (e.record_index, e.field) == (2, "columns.answer_count")
    # one response too few claimed: the last one belongs to nobody
    batch = _columnar(_varied())
    batch.columns.response_count[3] = 0
    e = _structure_error(batch)
    assert (e.record_index, e.field) == (-1, "columns.response_count")


def test_columnar_fields_must_have_their_levels_length() -> None:
    batch = _columnar(_varied())
    del batch.columns.rcode[-1]
    e = _structure_error(batch)
    assert (e.record_index, e.field) == (-1, "columns.rcode")
    batch = _columnar(_varied())
    batch.columns.domain.append("extra.example")
    assert _structure_error(batch).field == "columns.domain"


def test_columnar_bad_values_name_record_and_measurement_field() -> None:
    batch = _columnar(_varied())
    batch.columns.resolver_transport[3] = 9  # type: ignore[call-overload]
    e = _structure_error(batch)
    assert (e.record_index, e.field) == (3, "resolver.transport")
    batch = _columnar(_varied())
    batch.columns.rcode[3] = 70_000   # record 2's third response
    e = _structure_error(batch)
    assert (e.record_index, e.field) == (2, "responses[2].rcode")
    batch = _columnar(_varied())
    batch.columns.answer_rtype[3] = 70_000  # answers per response: 1, 1, 0, 2, 0
    e = _structure_error(batch)
    assert (e.record_index, e.field) == (2, "responses[2].answers[1].rtype")
    batch = _columnar(_varied())
    batch.columns.measurement_id[4] = batch.columns.measurement_id[1]
    e = _structure_error(batch)
    assert (e.record_index, e.field) == (4, "measurement_id")


def test_a_row_form_batch_from_a_0_1_probe_is_refused_as_a_whole() -> None:
    old = row_form_batch("b1", [m.SerializeToString() for m in _varied()])
    e = _structure_error(old)
    assert (e.record_index, e.field) == (-1, "measurements")
    assert e.reason.startswith("the row form (Batch.measurements) is no longer accepted: "
                                "5 measurements not stored")
    assert retired_items(old) == 5
    # columns beside the old rows do not let the rows through unnoticed
    both = _columnar(_varied())
    both.MergeFrom(old)
    assert _structure_error(both).field == "measurements"


def test_the_row_form_field_is_reserved_in_the_contract() -> None:
    assert sorted(RETIRED_BATCH_FIELDS) == [2]
    assert "measurements" not in pb.Batch.DESCRIPTOR.fields_by_name


def test_a_field_from_a_newer_probe_is_ignored_not_refused() -> None:
    # field 9 of Batch (unknown to this collector, not reserved): length-delimited "new"
    newer = pb.Batch.FromString(_columnar([_m()]).SerializeToString() + b"\x4a\x03new")
    assert retired_items(newer) == 0
    assert len(batch_columns(newer, Limits())) == 1


def test_a_batch_without_columns_is_an_empty_batch() -> None:
    batch = pb.Batch(batch_id="b1")
    assert len(batch_columns(batch, Limits())) == 0


def test_an_empty_columnar_batch_is_columnar_and_valid() -> None:
    batch = _columnar([])
    assert batch.HasField("columns")
    validate_batch(batch.batch_id, batch_columns(batch, Limits()), Limits(), NOW)


@pytest.mark.parametrize("name", ["example.com", "_dmarc.example.com", "id.server", ".",
                                  "xn--80ak6aa92e.com"])
def test_valid_domains(name: str) -> None:
    assert valid_domain(name)


@pytest.mark.parametrize("name", ["", "Example.com", "example.com.", "-a.example", "a b.c",
                                  "a..b"])
def test_invalid_domains(name: str) -> None:
    assert not valid_domain(name)


@pytest.mark.parametrize("name", ["example.com", "Example.com", "-a.example", "a-.b", "a_b.c",
                                  "a" * 63 + ".b", "a" * 64 + ".b", "a.b\n", ".", "a..b", "é.fr"])
def test_arrow_and_python_read_the_domain_pattern_alike(name: str) -> None:
    """Validation matches domains with Arrow's RE2; valid_domain with Python's re."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrow = pc.match_substring_regex(pa.array([name]), DOMAIN_PATTERN)[0].as_py()
    assert arrow == (valid_domain(name) and name != ".")


def _strays(*reasons: str) -> list[pb.StrayReply]:
    return [pb.StrayReply(arrival_us=100 + i, size=3, reason=r) for i, r in enumerate(reasons)]


def test_flood_counts_strays_and_cuts_are_stored() -> None:
    flooded = _m(reply_count=21, answer_set_count=2, reply_bytes=1356, stray_count=9,
                 strays=_strays("wrong_id", "runt"), truncated=True)
    flooded.responses[0].wire_truncated = True
    flooded.responses.append(pb.Response(arrival_us=9, rcode=0, flags=0x8180, wire=b"x",
                                         wire_truncated=True))
    plain = _m(responses=[], failure=pb.FAILURE_TIMEOUT, stray_count=1, strays=_strays("runt"))
    limits = Limits()
    columns = batch_columns(wire_batch([flooded, _m(), plain]), limits)
    validate_batch("b1", columns, limits, NOW)
    t = storage_table(columns).to_pydict()
    assert t["reply_count"] == [21, 0, 0] and t["answer_set_count"] == [2, 0, 0]
    assert t["reply_bytes"] == [1356, 0, 0] and t["stray_count"] == [9, 0, 1]
    assert t["stray_reason"] == [["wrong_id", "runt"], [], ["runt"]]
    assert t["stray_arrival_us"] == [[100, 101], [], [100]]
    assert t["truncated"] == [True, False, False]
    assert t["wire_truncated"] == [True, False, False]
    assert t["later_wire_truncated"] == [[True], [], []]


def test_too_many_strays_and_a_long_reason_are_named() -> None:
    e = _error(_m(), _m(strays=_strays(*["runt"] * 17)))
    assert (e.record_index, e.field) == (1, "strays")
    e = _error(_m(strays=_strays("runt", "x" * 65)))
    assert (e.record_index, e.field) == (0, "strays[1].reason")


def test_a_measurement_over_the_byte_bound_is_named() -> None:
    big = _m()
    for _ in range(12):
        big.responses.append(pb.Response(wire=b"w" * 6000))
    e = _error(_m(), big)
    assert (e.record_index, e.field) == (1, "measurement")
    assert "65536 bytes" in str(e)


def test_columns_from_a_probe_that_predates_the_evidence_fields_are_accepted() -> None:
    batch = wire_batch([_m(), _m(responses=[], failure=pb.FAILURE_TIMEOUT)])
    for name in ("reply_count", "answer_set_count", "reply_bytes", "stray_count",
                 "stray_kept_count", "truncated", "wire_truncated"):
        batch.columns.ClearField(name)
    limits = Limits()
    columns = batch_columns(batch, limits)
    validate_batch("b1", columns, limits, NOW)
    t = storage_table(columns).to_pydict()
    assert t["reply_count"] == [0, 0] and t["stray_reason"] == [[], []]
