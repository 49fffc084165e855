"""A count column whose sum overflows 32 bits (a hostile or broken probe) is
rejected like any other count that does not match its level: a Rejection
naming the column, on a stream that goes on taking batches. (The sum was cast
to Arrow's int32 list offsets before it was compared: pyarrow raised, the
batch got no answer at all and the stream ended under the probe.)"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import grpc.aio
import pytest

from blockwatch.collector.registry import Registry
from blockwatch.probe.wire import SUBMIT_METHOD
from blockwatch.v1 import probe_pb2 as pb
from tests.integration.collector_harness import chdb_dsn, count, running, settings_for
from tests.reliability.test_hostile_batches import base_columns


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


def _request(batch_id: str, **counts: int) -> bytes:
    cols = base_columns(random.Random(batch_id))
    for field, value in counts.items():
        cols.setdefault(field, [0, 0])[0] = value   # stray_kept_count: absent in base_columns
    return pb.SubmitRequest(batch=pb.Batch(
        batch_id=batch_id, columns=pb.MeasurementColumns(**cols))).SerializeToString()


def _identity(data: bytes) -> bytes:
    return data


@pytest.mark.parametrize("field", ["response_count", "answer_count", "cname_count",
                                   "extended_error_count", "stray_kept_count"])
def test_a_count_past_32_bits_is_rejected_and_the_stream_goes_on(
        dsn: str, tmp_path: Path, field: str) -> None:
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            token = Registry(collector.settings.registry_path).add("probe", "p1", country="IT")
            async with grpc.aio.insecure_channel(f"unix:{collector.settings.unix}") as channel:
                stream: Any = channel.stream_stream(
                    SUBMIT_METHOD, request_serializer=_identity,
                    response_deserializer=pb.SubmitResponse.FromString)(
                    metadata=(("authorization", f"Bearer {token}"),),  # type: ignore[call-arg]
                    timeout=120)
                await stream.write(_request("hostile-1", **{field: 2**32 - 1}))
                reply = await asyncio.wait_for(stream.read(), 60)
                assert isinstance(reply, pb.SubmitResponse), "no answer: the stream ended"
                assert reply.batch_id == "hostile-1"
                assert reply.WhichOneof("result") == "rejection"
                assert reply.rejection.code == pb.Rejection.CODE_INVALID
                assert reply.rejection.field == f"columns.{field}"
                assert "counts sum to" in reply.rejection.reason
                await stream.write(_request("good-1"))
                reply = await asyncio.wait_for(stream.read(), 60)
                assert reply.WhichOneof("result") == "ack" and reply.ack.stored == 2
                await stream.done_writing()
            assert await count(collector) == 2

    asyncio.run(scenario())
