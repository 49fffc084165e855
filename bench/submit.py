"""What the ingest benchmarks share (bench/ingest.py, bench/sustained.py):
measurements recorded and framed as a probe does, the collector as a
subprocess with embedded chDB (client and server do not share one interpreter
lock, as in production), and Submit streams that answer for every batch."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path

import grpc
import grpc.aio

from blockwatch.probe.ids import new_measurement_id
from blockwatch.probe.observation import Measurement, Purpose, Record, ResolverRef, Response
from blockwatch.probe.upload import CHANNEL_OPTIONS
from blockwatch.probe.wire import (
    CHECKIN_METHOD,
    SUBMIT_METHOD,
    BatchAck,
    BatchRejection,
    decode_submit_response,
    encode_checkin,
    encode_measurement,
)

Answer = BatchAck | BatchRejection


def spooled_measurement(domain: str, resolver: ResolverRef, *, round_id: str,
                        started_at_us: int, duration_us: int = 1000,
                        purpose: Purpose = Purpose.TARGET, rcode: int = 0,
                        addresses: Sequence[str] = ()) -> bytes:
    """A measurement as a probe spools it: one response after `duration_us`
    (EDNS, 90 bytes on the wire) answering `domain` with these A records."""
    return encode_measurement(Measurement(
        measurement_id=new_measurement_id(), round_id=round_id, started_at_us=started_at_us,
        duration_us=duration_us, domain=domain, qtype=1, qclass=1, purpose=purpose,
        resolver=resolver,
        responses=[Response(arrival_us=duration_us, rcode=rcode, flags=0x8180, answers=tuple(
            Record(domain, 1, 300, address) for address in addresses), edns=True, size=90)]))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the ")"
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_collector(tmp: Path, *options: str, log: Path | None = None
                    ) -> tuple[subprocess.Popen[bytes], str]:
    """`blockwatch-collector serve` on a unix socket in `tmp`, its data and
    database there too; the process and the address to reach it. With `log`:
    its log at info level goes to that file (else warnings to stderr)."""
    socket = tmp / "collector.sock"
    level = "info" if log is not None else "warning"
    sink = log.open("ab") if log is not None else None
    try:
        server = subprocess.Popen(
            [sys.executable, "-m", "blockwatch.collector", "serve", "--data-dir", str(tmp),
             "--db", f"chdb://{tmp / 'db'}", "--unix", str(socket), "--log-level", level,
             *options], env={**os.environ}, stderr=sink)
    finally:
        if sink is not None:
            sink.close()   # the child has its own descriptor
    return server, f"unix:{socket}"


async def wait_ready(address: str, token: str, deadline: float, probe: str) -> None:
    """Until the collector answers a CheckIn (monotonic `deadline`, then raise)."""
    while True:
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                await channel.unary_unary(CHECKIN_METHOD)(  # type: ignore[call-arg]
                    encode_checkin(probe, "0"),
                    metadata=(("authorization", f"Bearer {token}"),), timeout=2)
                return
        except grpc.aio.AioRpcError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def listed(batches: Iterable[tuple[str, bytes]]) -> AsyncIterator[tuple[str, bytes]]:
    for batch in batches:
        yield batch


async def submit_stream(address: str, token: str, batches: AsyncIterable[tuple[str, bytes]],
                        window: int, answered: Callable[[Answer, float | None], None]) -> None:
    """One Submit stream: each (batch id, SubmitRequest bytes) written once one
    of `window` slots is free (a slot frees at an answer); every answer passed
    to `answered` with the monotonic time its batch was written (None for an id
    this stream did not send)."""
    sent_at: dict[str, float] = {}
    async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        call = channel.stream_stream(SUBMIT_METHOD, request_serializer=lambda b: b,
                                     response_deserializer=decode_submit_response)(
            metadata=(("authorization", f"Bearer {token}"),))  # type: ignore[call-arg]
        slots = asyncio.Semaphore(window)

        async def writer() -> None:
            async for batch_id, data in batches:
                await slots.acquire()
                sent_at[batch_id] = time.monotonic()
                await call.write(data)
            await call.done_writing()

        task = asyncio.create_task(writer())
        async for answer in call:
            slots.release()
            answered(answer, sent_at.pop(answer.batch_id, None))
        await task
