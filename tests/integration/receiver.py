"""A minimal receiving side of the wire contract, for probe delivery tests.

It does what the contract asks of a collector and nothing more: reads either
batch form (rows or columns), checks the
bearer token, stores each batch in SQLite in one transaction keyed by batch id
(a replayed batch is recognised and not stored twice), and acks only after
the commit. `--ack-delay` slows acks so a test can kill the probe mid-upload.

Run: python -m tests.integration.receiver --unix PATH --db FILE --token T
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator

import grpc
import grpc.aio

from blockwatch.v1 import probe_pb2 as pb
from blockwatch.v1 import probe_pb2_grpc as pb_grpc


class Receiver(pb_grpc.ProbeServiceServicer):
    def __init__(self, db: sqlite3.Connection, token: str, ack_delay: float) -> None:
        self.db, self.token, self.ack_delay = db, token, ack_delay

    async def _authorize(self, context: grpc.aio.ServicerContext) -> None:  # type: ignore[type-arg]
        metadata = dict(context.invocation_metadata() or ())
        if metadata.get("authorization") != f"Bearer {self.token}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad token")

    async def CheckIn(self, request: pb.CheckInRequest, context: grpc.aio.ServicerContext  # type: ignore[type-arg]
                      ) -> pb.CheckInResponse:
        await self._authorize(context)
        return pb.CheckInResponse(probe_name=request.probe_name, country="IT", asn=64500)

    async def Submit(self, request_iterator: AsyncIterator[pb.SubmitRequest],
                     context: grpc.aio.ServicerContext  # type: ignore[type-arg]
                     ) -> AsyncIterator[pb.SubmitResponse]:
        await self._authorize(context)
        async for request in request_iterator:
            batch = request.batch
            # Either wire form: rows, or the same content column by column.
            if batch.HasField("columns"):
                rows = list(zip(batch.columns.measurement_id, batch.columns.domain, strict=True))
            else:
                rows = [(m.measurement_id, m.domain) for m in batch.measurements]
            with self.db:
                seen = self.db.execute("SELECT 1 FROM batches WHERE batch_id = ?",
                                       (batch.batch_id,)).fetchone()
                stored = 0
                if not seen:
                    self.db.execute("INSERT INTO batches VALUES (?, ?)",
                                    (batch.batch_id, len(rows)))
                    self.db.executemany(
                        "INSERT INTO measurements(measurement_id, batch_id, domain) VALUES (?,?,?)",
                        [(mid, batch.batch_id, domain) for mid, domain in rows])
                    stored = len(rows)
            await asyncio.sleep(self.ack_delay)
            yield pb.SubmitResponse(batch_id=batch.batch_id, ack=pb.Ack(
                stored=stored, duplicates=len(rows) - stored))


def open_db(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, size INTEGER)")
    # no uniqueness on measurement_id: a duplicate must be visible to the test
    db.execute("CREATE TABLE IF NOT EXISTS measurements (measurement_id BLOB, batch_id TEXT, "
               "domain TEXT)")
    return db


async def serve(args: argparse.Namespace) -> None:
    server = grpc.aio.server()
    pb_grpc.add_ProbeServiceServicer_to_server(
        Receiver(open_db(args.db), args.token, args.ack_delay), server)
    server.add_insecure_port(f"unix:{args.unix}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--unix", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--ack-delay", type=float, default=0.0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
