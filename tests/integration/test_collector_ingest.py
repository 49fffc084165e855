"""Ingest end to end: the probe's own Uploader and Spool against a real
grpc.aio collector with embedded chDB, over TCP and a unix socket."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import cast

import grpc
import grpc.aio
import pytest

from blockwatch.collector.registry import Registry
from blockwatch.probe.observation import ExtendedError, Failure
from blockwatch.probe.spool import Spool
from blockwatch.probe.wire import encode_columnar_submit_request, encode_measurement
from blockwatch.v1 import probe_pb2 as pb
from blockwatch.v1 import probe_pb2_grpc as pb_grpc
from tests.integration.collector_harness import (
    chdb_dsn,
    count,
    drain,
    measurement,
    running,
    settings_for,
    uploader,
)
from tests.rowform import row_form_request


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


def _batch(batch_id: str, measurements: list[bytes]) -> pb.SubmitRequest:
    """The batch as the probe's adapter builds it (columns)."""
    return pb.SubmitRequest.FromString(encode_columnar_submit_request(batch_id, measurements))


async def _exchange(address: str, token: str, requests: list[pb.SubmitRequest]
                    ) -> list[pb.SubmitResponse]:
    async with grpc.aio.insecure_channel(address) as channel:
        call = pb_grpc.ProbeServiceStub(channel).Submit(
            metadata=(("authorization", f"Bearer {token}"),))
        answers = []
        for request in requests:   # one at a time: each answer before the next batch
            await call.write(request)
            answers.append(await call.read())
        await call.done_writing()
        return answers


def test_probe_uploader_over_tcp_and_unix(dsn: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            # Registered from another connection while serving, as the CLI/Ansible would.
            outside = Registry(collector.settings.registry_path)
            token = outside.add("probe", "probe-it", country="IT", asn=3269)
            outside.close()
            with Spool(tmp_path / "spool.db") as spool:
                spool.add([encode_measurement(measurement(i)) for i in range(250)])
                spool.add([encode_measurement(measurement(i, responses=3, domain="x.example",
                           ede=(ExtendedError(16, "Censored"), ExtendedError(17, ""))))
                           for i in range(10)])
                spool.add([encode_measurement(measurement(i, responses=0,
                                                          failure=Failure.TIMEOUT))
                           for i in range(5)])
                stats = await drain(uploader(spool, f"127.0.0.1:{collector.tcp_ports[0]}",
                                             token))
                assert stats.measurements_acked == 265
                assert stats.duplicates == 0
                assert spool.pending() == 0
                spool.add([encode_measurement(measurement(i)) for i in range(40)])
                stats = await drain(uploader(spool, f"unix:{collector.settings.unix}", token))
                assert stats.measurements_acked == 40
            assert await count(collector) == 305
            store = collector.writer.store
            rows = await collector.writer.call(store.rows, (
                "SELECT probe_country, probe_asn, count(), countIf(rcode IS NULL), "
                "max(response_count), sum(length(later_arrival_us)), "
                "countIf(has(ede_codes, 16)) FROM measurements GROUP BY 1, 2"))
            assert rows == [("IT", 3269, 305, 5, 3, 20, 10)]
            injected = await collector.writer.call(store.rows, (
                "SELECT later_answer_data, later_ede_texts FROM measurements "
                "WHERE response_count = 3 LIMIT 1"))
            answers, texts = cast("list[tuple[list[object], list[list[str]]]]", injected)[0]
            assert len(answers) == 2 and texts[0] == ["Censored", ""]
            assert collector.metrics.measurements.labels("stored")._value.get() == 305

    asyncio.run(scenario())


def test_replayed_batch_is_stored_once(dsn: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            token = collector.registry.add("probe", "p1", country="DE")
            payloads = [encode_measurement(measurement(i)) for i in range(50)]
            address = f"127.0.0.1:{collector.tcp_ports[0]}"
            first = await _exchange(address, token, [_batch("b-1", payloads)] * 2)
            assert first[0].ack.stored == 50 and first[0].ack.duplicates == 0
            assert first[1].ack.stored == 0 and first[1].ack.duplicates == 50
            # A replay on a new stream (the probe lost the ack and reconnected).
            again = await _exchange(address, token, [_batch("b-1", payloads)])
            assert again[0].batch_id == "b-1"
            assert again[0].ack.duplicates == 50 and again[0].ack.stored == 0
            assert await count(collector) == 50
            raw = await collector.writer.call(collector.writer.store.rows,
                                              "SELECT count() FROM measurements")
            assert raw == [(50,)]   # not only hidden by FINAL: never written twice

    asyncio.run(scenario())


def test_bad_batch_is_rejected_with_the_field_and_the_stream_goes_on(dsn: str,
                                                                    tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = settings_for(dsn, tmp_path)
        settings = dataclasses.replace(
            settings, limits=dataclasses.replace(settings.limits, max_measurements=20))
        async with running(settings) as collector:
            token = collector.registry.add("probe", "p1", country="IT")
            good = [encode_measurement(measurement(i)) for i in range(5)]
            bad_ede = list(good)
            bad_ede[3] = encode_measurement(measurement(
                3, ede=(ExtendedError(16, "ok"), ExtendedError(17, "x" * 5000))))
            bad_domain = [encode_measurement(measurement(0, domain="Not A Domain"))]
            bad_enum = pb.Measurement.FromString(good[0])
            bad_enum.failure = 42  # type: ignore[assignment]
            # an old probe's batch: the retired row form, refused whole, the stream goes on
            old = row_form_request("old-1", good)
            too_many = [encode_measurement(measurement(i)) for i in range(21)]
            answers = await _exchange(f"127.0.0.1:{collector.tcp_ports[0]}", token, [
                _batch("bad-1", bad_ede), _batch("bad-2", bad_domain),
                _batch("bad-3", [bad_enum.SerializeToString()]),
                _batch("big", too_many), old, _batch("good", good)])
            rej = answers[0].rejection
            assert rej.code == pb.Rejection.CODE_INVALID
            assert (rej.record_index, rej.field) == (3, "responses[0].extended_errors[1].text")
            assert answers[1].rejection.field == "domain"
            assert answers[2].rejection.field == "failure"
            assert answers[3].rejection.code == pb.Rejection.CODE_TOO_LARGE
            old_rejection = answers[4].rejection
            assert old_rejection.code == pb.Rejection.CODE_INVALID
            assert (old_rejection.record_index, old_rejection.field) == (-1, "measurements")
            assert old_rejection.reason.startswith(
                "the row form (Batch.measurements) is no longer accepted: 5 measurements")
            assert answers[5].ack.stored == 5
            assert await count(collector) == 5
            # every refused measurement counted: 5 + 1 + 1 + 21 + 5 (the old batch's)
            assert collector.metrics.measurements.labels("rejected")._value.get() == 33

    asyncio.run(scenario())


def test_failed_insert_is_answered_unavailable_then_retry_works(dsn: str,
                                                                 tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            token = collector.registry.add("probe", "p1", country="IT")
            store = collector.writer.store
            payloads = [encode_measurement(measurement(i)) for i in range(10)]
            address = f"127.0.0.1:{collector.tcp_ports[0]}"
            await collector.writer.call(store.command,
                                        "RENAME TABLE measurements TO measurements_away")
            down = await _exchange(address, token, [_batch("b1", payloads)])
            assert down[0].rejection.code == pb.Rejection.CODE_UNAVAILABLE
            await collector.writer.call(store.command,
                                        "RENAME TABLE measurements_away TO measurements")
            up = await _exchange(address, token, [_batch("b1", payloads)])
            assert up[0].ack.stored == 10
            assert await count(collector) == 10

    asyncio.run(scenario())
