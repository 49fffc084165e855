"""Doors: tokens (missing, wrong, revoked, also mid-stream), roles in both
directions, TLS and mTLS misconfigurations on both sides, identity (a probe
cannot claim another probe's name or country, nor shadow its batches), the
message size limit and concurrent streams per probe."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import trustme

from blockwatch.collector.errors import ConfigError
from blockwatch.collector.registry import Registry
from blockwatch.collector.server import Collector
from blockwatch.collector.servicer import MAX_STREAMS_PER_PROBE
from blockwatch.probe.config import CollectorConfig
from blockwatch.probe.errors import UploadError
from blockwatch.probe.spool import Spool
from blockwatch.probe.upload import Uploader
from blockwatch.probe.wire import SUBMIT_METHOD, encode_measurement
from blockwatch.v1 import probe_pb2 as pb
from blockwatch.v1 import reports_pb2, reports_pb2_grpc
from tests.integration.collector_harness import chdb_dsn, measurement, running, settings_for
from tests.reliability.conftest import Figures
from tests.reliability.test_hostile_batches import base_columns


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


def _identity(data: bytes) -> bytes:
    return data


def batch_bytes(batch_id: str, seed: int, *, extra: bytes = b"") -> bytes:
    """A valid two-measurement SubmitRequest, optionally with unknown fields appended."""
    batch = pb.Batch(batch_id=batch_id,
                     columns=pb.MeasurementColumns(**base_columns(random.Random(seed))))
    return pb.SubmitRequest(batch=batch).SerializeToString() + extra


async def submit(address: str, token: str | None, *requests: bytes
                 ) -> tuple[list[pb.SubmitResponse], grpc.StatusCode, str]:
    """One Submit stream: send, read every answer, return them with the final status."""
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
    async with grpc.aio.insecure_channel(address, options=[
            ("grpc.max_send_message_length", 64 << 20)]) as channel:
        call: Any = channel.stream_stream(
            SUBMIT_METHOD, request_serializer=_identity,
            response_deserializer=pb.SubmitResponse.FromString)(
            metadata=metadata, timeout=30)  # type: ignore[call-arg]
        replies: list[pb.SubmitResponse] = []
        try:
            for request in requests:
                await call.write(request)
            await call.done_writing()
            while isinstance(reply := await call.read(), pb.SubmitResponse):
                replies.append(reply)
        except grpc.aio.AioRpcError:
            pass
        return replies, await call.code(), await call.details()


async def report(address: str, token: str) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = reports_pb2_grpc.ReportServiceStub(channel)
        try:
            await stub.Report(reports_pb2.ReportRequest(name="probes"),
                              metadata=(("authorization", f"Bearer {token}"),), timeout=30)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK


def test_tokens_roles_identity_and_limits(  # noqa: PLR0915
        dsn: str, tmp_path: Path, figures: Figures) -> None:
    outcome: dict[str, Any] = {}

    async def scenario() -> None:  # noqa: PLR0915
        async with running(settings_for(dsn, tmp_path)) as collector:
            address = f"unix:{collector.settings.unix}"
            cli = Registry(collector.settings.registry_path)
            it = cli.add("probe", "sec-it-1", country="IT", asn=3269)
            de = cli.add("probe", "sec-de-1", country="DE", asn=3320)
            analyst = cli.add("analyst", "sec-ana")
            store = collector.writer.store

            # Tokens: missing, wrong, malformed header -> UNAUTHENTICATED; nothing stored.
            for label, token in (("missing", None), ("wrong", "bw_not-a-token"),
                                 ("empty", "")):
                replies, code, details = await submit(address, token, batch_bytes("t-1", 1))
                assert (replies, code) == ([], grpc.StatusCode.UNAUTHENTICATED), label
                outcome[f"submit token {label}"] = f"{code.name}: {details}"
            # Roles both ways.
            _, code, details = await submit(address, analyst, batch_bytes("t-2", 2))
            assert code is grpc.StatusCode.PERMISSION_DENIED
            outcome["submit with analyst token"] = f"{code.name}: {details}"
            assert await report(address, it) is grpc.StatusCode.PERMISSION_DENIED
            outcome["report with probe token"] = "PERMISSION_DENIED"
            assert await report(address, analyst) is grpc.StatusCode.OK

            # Identity: unknown fields claiming another name/country are ignored, the
            # registry's values are stored; CheckIn answers with the registered name.
            claim = (pb.Batch(batch_id="x").SerializeToString()[:0]
                     + b"\x7a\x08sec-de-1" + b"\x82\x01\x02US")   # fields 15 and 16
            replies, code, _ = await submit(address, it, batch_bytes("same-id", 3, extra=claim))
            assert replies[0].ack.stored == 2, replies
            # The other probe uses the same batch id: its own batch, not a replay of IT's.
            replies, code, _ = await submit(address, de, batch_bytes("same-id", 4))
            assert replies[0].ack.stored == 2 and replies[0].ack.duplicates == 0
            rows = await collector.writer.call(
                store.rows, "SELECT probe_name, probe_country, probe_asn, count() "
                "FROM measurements FINAL GROUP BY 1, 2, 3 ORDER BY 1")
            assert [tuple(r) for r in rows] == [("sec-de-1", "DE", 3320, 2),
                                                ("sec-it-1", "IT", 3269, 2)]
            outcome["identity"] = "registry's name/country/ASN stored; batch ids per probe"
            async with grpc.aio.insecure_channel(address) as channel:
                reply = await channel.unary_unary(
                    "/blockwatch.v1.ProbeService/CheckIn", request_serializer=_identity,
                    response_deserializer=pb.CheckInResponse.FromString)(
                    pb.CheckInRequest(probe_name="sec-de-1").SerializeToString(),
                    metadata=(("authorization", f"Bearer {it}"),), timeout=10)
                assert (reply.probe_name, reply.country) == ("sec-it-1", "IT")

            # Message size: over 16 MiB -> RESOURCE_EXHAUSTED; the collector still serves.
            huge = batch_bytes("huge-1", 5) + b"\x7a\x80\x80\x80\x09" + b"x" * (18 << 20)
            replies, code, details = await submit(address, it, huge)
            assert (replies, code) == ([], grpc.StatusCode.RESOURCE_EXHAUSTED)
            outcome["17+ MiB message"] = f"{code.name}: {details}"
            replies, code, _ = await submit(address, it, batch_bytes("after-huge", 6))
            assert replies[0].ack.stored == 2 and code is grpc.StatusCode.OK

            # Concurrent streams of one probe: held open, only MAX_STREAMS_PER_PROBE
            # are admitted; the next is RESOURCE_EXHAUSTED; closing one frees a slot.
            async with grpc.aio.insecure_channel(address) as channel:
                opened: list[Any] = []
                for i in range(MAX_STREAMS_PER_PROBE + 1):
                    held: Any = channel.stream_stream(
                        SUBMIT_METHOD, request_serializer=_identity,
                        response_deserializer=pb.SubmitResponse.FromString)(
                        metadata=(("authorization", f"Bearer {it}"),), timeout=30)  # type: ignore[call-arg]
                    await held.write(batch_bytes(f"held-{i}", 200 + i))
                    if i < MAX_STREAMS_PER_PROBE:
                        assert (await held.read()).HasField("ack")  # admitted, still open
                    opened.append(held)
                extra = opened[-1]
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await extra.read()
                assert await extra.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                outcome["concurrent streams of one probe"] = (
                    f"{MAX_STREAMS_PER_PROBE} admitted, the next: "
                    f"{(await extra.code()).name}: {await extra.details()}")
                await opened[0].done_writing()
                await opened[0].code()
                replies, code, _ = await submit(address, it, batch_bytes("after-free", 300))
                assert code is grpc.StatusCode.OK and replies[0].HasField("ack")
                for held in opened[1:-1]:
                    held.cancel()

            # Revocation mid-stream: the next batch ends the stream, it is not stored.
            async with grpc.aio.insecure_channel(address) as channel:
                call: Any = channel.stream_stream(
                    SUBMIT_METHOD, request_serializer=_identity,
                    response_deserializer=pb.SubmitResponse.FromString)(
                    metadata=(("authorization", f"Bearer {de}"),),  # type: ignore[call-arg]
                    timeout=30)
                await call.write(batch_bytes("before-revoke", 7))
                assert (await call.read()).ack.stored == 2
                cli.revoke("probe", "sec-de-1")
                await call.write(batch_bytes("after-revoke", 8))
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call.read()
                assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
                outcome["revoked mid-stream"] = (f"{caught.value.code().name}: "
                                                 f"{caught.value.details()}")
            replies, code, details = await submit(address, de, batch_bytes("later", 9))
            assert code is grpc.StatusCode.UNAUTHENTICATED
            outcome["revoked token"] = f"{code.name}: {details}"
            stored = await collector.writer.call(
                store.rows, "SELECT batch_id FROM measurements FINAL WHERE probe_name = "
                "'sec-de-1' GROUP BY batch_id ORDER BY batch_id")
            assert [r[0] for r in stored] == ["before-revoke", "same-id"]
            stored_total = await collector.writer.call(store.count)
            # same-id twice, after-huge, the held streams + after-free, before-revoke
            assert stored_total == 2 * (2 + 1 + MAX_STREAMS_PER_PROBE + 1 + 1)

    asyncio.run(scenario())
    figures.record("security", **outcome)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca, other_ca = trustme.CA(), trustme.CA()
    server, other = ca.issue_cert("localhost", "127.0.0.1"), ca.issue_cert("localhost")
    client = ca.issue_cert("sec-tls-1")
    stranger = other_ca.issue_cert("sec-tls-1")
    files: dict[str, Path] = {}
    for name, blob in (("ca", ca.cert_pem), ("other_ca", other_ca.cert_pem),
                       ("cert", server.cert_chain_pems[0]), ("key", server.private_key_pem),
                       ("other_key", other.private_key_pem),
                       ("client_cert", client.cert_chain_pems[0]),
                       ("client_key", client.private_key_pem),
                       ("stranger_cert", stranger.cert_chain_pems[0]),
                       ("stranger_key", stranger.private_key_pem)):
        files[name] = tmp_path / f"{name}.pem"
        blob.write_to_path(str(files[name]))
    return files


def _uploader(tmp_path: Path, port: int, token: str, **tls: str) -> Uploader:
    spool = Spool(tmp_path / f"spool-{time.monotonic_ns()}.db")
    spool.add([encode_measurement(measurement(i)) for i in range(5)])
    config = CollectorConfig(addresses=[f"127.0.0.1:{port}"], tls=True, batch_size=5,
                             window=1, timeout_s=2, ca_file=tls.get("ca_file", ""),
                             client_cert=tls.get("client_cert", ""),
                             client_key=tls.get("client_key", ""))
    return Uploader(spool, config, token, "sec-tls-1")


def test_tls_and_mtls_misconfigurations_are_refused_clearly(
        dsn: str, tmp_path: Path, pki: dict[str, Path], figures: Figures) -> None:
    outcome: dict[str, str] = {}

    async def refused(up: Uploader) -> str:
        with pytest.raises(UploadError) as caught:
            await up.run(asyncio.Event(), drain=True, give_up_after_s=2)
        assert up.spool.pending() == 5    # nothing lost, nothing half-sent
        return str(caught.value)

    async def collector_refuses(**tls: Path) -> str:
        with pytest.raises(ConfigError) as caught:
            await Collector(settings_for(dsn, tmp_path, **tls)).start()
        return str(caught.value)

    async def scenario() -> None:
        # Collector side: refused at start, before serving anything.
        outcome["collector: --client-ca without --cert"] = await collector_refuses(
            client_ca=pki["ca"])
        outcome["collector: --cert without --key"] = await collector_refuses(cert=pki["cert"])
        outcome["collector: key does not match cert"] = await collector_refuses(
            cert=pki["cert"], key=pki["other_key"])
        assert "does not match" in outcome["collector: key does not match cert"]
        settings = settings_for(dsn, tmp_path, cert=pki["cert"], key=pki["key"],
                                client_ca=pki["ca"])
        async with running(settings) as collector:
            token = Registry(collector.settings.registry_path).add("probe", "sec-tls-1",
                                                                   country="IT")
            port = collector.tcp_ports[0]
            good = _uploader(tmp_path, port, "", ca_file=str(pki["ca"]),
                             client_cert=str(pki["client_cert"]),
                             client_key=str(pki["client_key"]))
            assert (await good.run(asyncio.Event(), drain=True, give_up_after_s=20)
                    ).measurements_acked == 5
            outcome["probe: wrong CA"] = await refused(_uploader(
                tmp_path, port, token, ca_file=str(pki["other_ca"]),
                client_cert=str(pki["client_cert"]), client_key=str(pki["client_key"])))
            outcome["probe: no client certificate (mTLS)"] = await refused(_uploader(
                tmp_path, port, token, ca_file=str(pki["ca"])))
            outcome["probe: client certificate from another CA"] = await refused(_uploader(
                tmp_path, port, "", ca_file=str(pki["ca"]),
                client_cert=str(pki["stranger_cert"]), client_key=str(pki["stranger_key"])))
            outcome["probe: plaintext to a TLS port"] = await refused(
                _plain(tmp_path, port, token))

    asyncio.run(scenario())
    figures.record("tls", **outcome)


def _plain(tmp_path: Path, port: int, token: str) -> Uploader:
    spool = Spool(tmp_path / "plain.db")
    spool.add([encode_measurement(measurement(i)) for i in range(5)])
    return Uploader(spool, CollectorConfig(addresses=[f"127.0.0.1:{port}"], tls=False,
                                           timeout_s=2), token, "sec-tls-1")
