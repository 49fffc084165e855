"""The columnar wire form stores exactly what the row form stores: the same
measurements, sent both ways, give identical rows in chDB."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from blockwatch.collector.columns import Batch, Origin, storage_table
from blockwatch.collector.servicer import batch_columns
from blockwatch.collector.store import Store
from blockwatch.collector.validation import Limits, validate_batch
from blockwatch.probe.observation import ExtendedError, Failure, Record, Response
from blockwatch.probe.wire import encode_columnar_submit_request, encode_measurement
from blockwatch.v1 import probe_pb2 as pb
from tests.integration.collector_harness import chdb_dsn, measurement


def _payloads() -> list[bytes]:
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
    return [encode_measurement(m) for m in (
        measurement(0), measurement(1, responses=0, failure=Failure.TIMEOUT), injected,
        garbled, many, measurement(5, responses=0, failure=Failure.TLS_CERTIFICATE))]


def _batch(batch_id: str, payloads: list[bytes], columnar: bool) -> Batch:
    if columnar:
        wire = pb.SubmitRequest.FromString(
            encode_columnar_submit_request(batch_id, payloads)).batch
        assert wire.HasField("columns") and not wire.measurements
    else:
        wire = pb.Batch(batch_id=batch_id,
                        measurements=[pb.Measurement.FromString(p) for p in payloads])
    columns = batch_columns(wire, Limits())
    validate_batch(batch_id, columns, Limits(), time.time_ns() // 1000)
    return Batch(batch_id, storage_table(columns))


def test_columnar_and_row_batches_store_identical_rows(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    store = Store(chdb_dsn(tmp_path_factory), database=f"columnar{time.monotonic_ns()}")
    try:
        store.migrate()
        payloads = _payloads()
        # Two probes (countries) so ReplacingMergeTree keeps both copies apart.
        store.insert([(_batch("rows-1", payloads, columnar=False),
                       Origin("p-rows", "IT", 1, False))], 1_760_000_000_000_000)
        store.insert([(_batch("cols-1", payloads, columnar=True),
                       Origin("p-cols", "DE", 1, False))], 1_760_000_000_000_000)

        def rows(probe: str) -> list[tuple[object, ...]]:
            return store.rows(
                "SELECT * EXCEPT (batch_id, probe_name, probe_country) FROM measurements "
                "WHERE probe_name = {p:String} ORDER BY measurement_id", {"p": probe})

        by_rows, by_columns = rows("p-rows"), rows("p-cols")
        assert len(by_rows) == len(payloads)
        assert by_rows == by_columns
        assert store.rows("SELECT later_rcode, later_ede_texts, ede_texts FROM measurements "
                          "WHERE probe_name = 'p-cols' AND response_count = 3") == [
            ([3, 0], [[], ["Censored", ""]], ["Censored", ""])]
    finally:
        store.close()
