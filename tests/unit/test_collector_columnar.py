"""The columnar wire form stores what the probe measured: measurements of
every shape, sent as the probe's adapter builds them, read back from chDB and
compared with the probe's own Measurement objects field by field."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from blockwatch.collector.columns import Batch, Origin, storage_table
from blockwatch.collector.servicer import batch_columns
from blockwatch.collector.store import Store
from blockwatch.collector.validation import Limits, validate_batch
from blockwatch.probe.observation import ExtendedError, Failure, Measurement, Record, Response
from blockwatch.probe.wire import encode_columnar_submit_request, encode_measurement
from blockwatch.v1 import probe_pb2 as pb
from tests.integration.collector_harness import chdb_dsn, measurement


def _measurements() -> list[Measurement]:
    injected = measurement(2, domain="x.example", responses=3,
                           ede=(ExtendedError(16, "Censored"), ExtendedError(17, "")))
    injected.responses[1] = Response(arrival_us=7, rcode=3, flags=0x8183, size=30,
                                     wire=b"\x00\x01", cname_chain=("a.example",))
    garbled = measurement(3)
    garbled.responses = [Response(arrival_us=3, rcode=0, flags=0, parse_error="truncated",
                                  size=5, nsid=b"n")]
    many = measurement(4)
    many.responses = [Response(arrival_us=9, rcode=0, flags=0x8180, answers=tuple(
        Record("y.example", 28, 60, f"2001:db8::{k}") for k in range(5)))]
    return [measurement(0), measurement(1, responses=0, failure=Failure.TIMEOUT), injected,
            garbled, many, measurement(5, responses=0, failure=Failure.TLS_CERTIFICATE)]


def _batch(batch_id: str, payloads: list[bytes]) -> Batch:
    wire = pb.SubmitRequest.FromString(encode_columnar_submit_request(batch_id, payloads)).batch
    assert wire.HasField("columns")
    columns = batch_columns(wire, Limits())
    validate_batch(batch_id, columns, Limits(), time.time_ns() // 1000)
    return Batch(batch_id, storage_table(columns))


def _expected(m: Measurement) -> tuple[object, ...]:
    """What the stored row must say of `m`: its own fields, the first response
    flattened, the later ones' rcodes and EDE texts."""
    first = m.responses[0] if m.responses else None
    later = m.responses[1:]
    def hexed(data: bytes) -> str:
        return data.hex().upper()

    return (hexed(m.measurement_id), m.domain, m.resolver.name, m.resolver.address,
            m.failure.label,
            len(m.responses), first.rcode if first else None,
            [a.data for a in first.answers] if first else [],
            list(first.cname_chain) if first else [],
            [e.text for e in first.extended_errors] if first else [],
            hexed(first.nsid) if first else "", first.parse_error if first else "",
            hexed(first.wire) if first else "", first.size if first else 0,
            [x.rcode for x in later], [[e.text for e in x.extended_errors] for x in later],
            [[a.data for a in x.answers] for x in later], [hexed(x.wire) for x in later])


def test_columnar_batches_store_what_the_probe_measured(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    store = Store(chdb_dsn(tmp_path_factory), database=f"columnar{time.monotonic_ns()}")
    try:
        store.migrate()
        measurements = _measurements()
        store.insert([(_batch("cols-1", [encode_measurement(m) for m in measurements]),
                       Origin("p-cols", "DE", 1, False))], 1_760_000_000_000_000)
        stored = store.rows(
            "SELECT hex(measurement_id) AS id, domain, resolver_name, resolver_address, "
            "toString(failure), response_count, rcode, answers.data, cname_chain, ede_texts, "
            "hex(nsid), parse_error, hex(wire), response_size, later_rcode, later_ede_texts, "
            "later_answer_data, arrayMap(w -> hex(w), later_wire) FROM measurements ORDER BY id")
        expected = sorted((_expected(m) for m in measurements), key=lambda row: str(row[0]))
        assert [tuple(row) for row in stored] == expected
        assert len(stored) == 6
        assert store.rows("SELECT later_rcode, later_ede_texts, ede_texts FROM measurements "
                          "WHERE response_count = 3") == [
            ([3, 0], [[], ["Censored", ""]], ["Censored", ""])]
    finally:
        store.close()
