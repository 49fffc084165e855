"""TLS and mutual TLS between the probe's uploader and the collector, and what a
misconfiguration looks like to the operator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import trustme

from blockwatch.collector.registry import Registry
from blockwatch.probe.config import CollectorConfig
from blockwatch.probe.errors import UploadError
from blockwatch.probe.spool import Spool
from blockwatch.probe.upload import Uploader
from blockwatch.probe.wire import encode_measurement
from blockwatch.v1 import probe_pb2, probe_pb2_grpc, reports_pb2, reports_pb2_grpc
from tests.integration.collector_harness import chdb_dsn, count, measurement, running, settings_for


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca, other_ca = trustme.CA(), trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("it-tls-1")  # mTLS: the certificate names the probe
    files = {
        "ca": tmp_path / "ca.pem", "other_ca": tmp_path / "other-ca.pem",
        "cert": tmp_path / "server.pem", "key": tmp_path / "server.key",
        "client_cert": tmp_path / "client.pem", "client_key": tmp_path / "client.key",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    other_ca.cert_pem.write_to_path(str(files["other_ca"]))
    server.cert_chain_pems[0].write_to_path(str(files["cert"]))
    server.private_key_pem.write_to_path(str(files["key"]))
    client.cert_chain_pems[0].write_to_path(str(files["client_cert"]))
    client.private_key_pem.write_to_path(str(files["client_key"]))
    return files


def _uploader(tmp_path: Path, port: int, token: str, **tls: Any) -> Uploader:
    spool = Spool(tmp_path / f"spool-{len(list(tmp_path.glob('spool-*')))}.db")
    spool.add([encode_measurement(measurement(i)) for i in range(25)])
    config = CollectorConfig(addresses=[f"127.0.0.1:{port}"], tls=True, batch_size=10,
                             window=2, timeout_s=2, **tls)
    return Uploader(spool, config, token, "it-tls-1")


def test_tls_upload_and_a_wrong_ca_is_refused_clearly(dsn: str, tmp_path: Path,
                                                      pki: dict[str, Path]) -> None:
    async def scenario() -> None:
        settings = settings_for(dsn, tmp_path, cert=pki["cert"], key=pki["key"])
        async with running(settings) as collector:
            token = Registry(collector.settings.registry_path).add("probe", "it-tls-1",
                                                                   country="IT")
            port = collector.tcp_ports[0]
            good = _uploader(tmp_path, port, token, ca_file=str(pki["ca"]))
            stats = await good.run(asyncio.Event(), drain=True, give_up_after_s=20)
            assert stats.measurements_acked == 25 and good.spool.pending() == 0

            wrong = _uploader(tmp_path, port, token, ca_file=str(pki["other_ca"]))
            with pytest.raises(UploadError) as caught:
                await wrong.run(asyncio.Event(), drain=True, give_up_after_s=3)
            assert "UNAVAILABLE" in str(caught.value)
            assert wrong.spool.pending() == 25  # nothing lost, nothing half-sent
            assert await count(collector) == 25

    asyncio.run(scenario())


def test_mutual_tls_names_the_probe_and_refuses_anonymous_clients(
        dsn: str, tmp_path: Path, pki: dict[str, Path]) -> None:
    async def scenario() -> None:
        settings = settings_for(dsn, tmp_path, cert=pki["cert"], key=pki["key"],
                                client_ca=pki["ca"])
        async with running(settings) as collector:
            Registry(collector.settings.registry_path).add("probe", "it-tls-1", country="IT")
            port = collector.tcp_ports[0]
            with_cert = _uploader(tmp_path, port, "", ca_file=str(pki["ca"]),
                                  client_cert=str(pki["client_cert"]),
                                  client_key=str(pki["client_key"]))
            assignment = await with_cert.check_in()
            assert (assignment.probe_name, assignment.country) == ("it-tls-1", "IT")
            stats = await with_cert.run(asyncio.Event(), drain=True, give_up_after_s=20)
            assert stats.measurements_acked == 25

            anonymous = _uploader(tmp_path, port, "", ca_file=str(pki["ca"]))
            with pytest.raises(UploadError):
                await anonymous.run(asyncio.Event(), drain=True, give_up_after_s=3)
            assert anonymous.spool.pending() == 25

    asyncio.run(scenario())


def _write_cert(cert: trustme.LeafCert, tmp_path: Path, name: str) -> tuple[bytes, bytes]:
    chain = b"".join(c.bytes() for c in cert.cert_chain_pems)
    (tmp_path / f"{name}.pem").write_bytes(chain)
    return chain, cert.private_key_pem.bytes()


async def _call_as(port: int, ca: bytes, cert: tuple[bytes, bytes], method: str
                   ) -> grpc.StatusCode:
    """One call with a client certificate and no token; its status code."""
    credentials = grpc.ssl_channel_credentials(ca, cert[1], cert[0])
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials, options=[
            ("grpc.ssl_target_name_override", "localhost")]) as channel:
        try:
            if method == "Report":
                await reports_pb2_grpc.ReportServiceStub(channel).Report(
                    reports_pb2.ReportRequest(name="probes"), timeout=30)
            elif method == "Reclassify":
                await reports_pb2_grpc.ReportServiceStub(channel).Reclassify(
                    reports_pb2.ReclassifyRequest(), timeout=30)
            else:
                await probe_pb2_grpc.ProbeServiceStub(channel).CheckIn(
                    probe_pb2.CheckInRequest(), timeout=30)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def test_a_client_certificate_is_bound_to_one_role(dsn: str, tmp_path: Path) -> None:
    """A probe certificate naming an analyst is never that analyst; an analyst
    certificate says so (`analyst:NAME`) and is never a probe."""
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    files = {n: tmp_path / f"{n}.pem" for n in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.cert_chain_pems[0].write_to_path(str(files["cert"]))
    server.private_key_pem.write_to_path(str(files["key"]))
    probe_named_alice = _write_cert(ca.issue_cert("alice"), tmp_path, "p-alice")
    probe_cn_alice = _write_cert(ca.issue_cert(common_name="alice"), tmp_path, "p-cn-alice")
    analyst_alice = _write_cert(ca.issue_cert(common_name="analyst:alice"), tmp_path, "a-alice")
    both = _write_cert(ca.issue_cert("alice", common_name="analyst:alice"), tmp_path, "both")

    async def scenario() -> None:
        settings = settings_for(dsn, tmp_path, cert=files["cert"], key=files["key"],
                                client_ca=files["ca"])
        async with running(settings) as collector:
            registry = Registry(collector.settings.registry_path)
            registry.add("analyst", "alice")
            registry.add("probe", "alice", country="IT")   # the same name in both roles
            registry.close()
            port = collector.tcp_ports[0]
            ca_pem = files["ca"].read_bytes()
            denied = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}
            for cert in (probe_named_alice, probe_cn_alice):
                assert await _call_as(port, ca_pem, cert, "Report") in denied
                assert await _call_as(port, ca_pem, cert, "Reclassify") in denied
                assert await _call_as(port, ca_pem, cert, "CheckIn") is grpc.StatusCode.OK
            assert await _call_as(port, ca_pem, analyst_alice, "Report") is \
                grpc.StatusCode.OK
            assert await _call_as(port, ca_pem, analyst_alice, "CheckIn") in denied
            # one certificate, two roles: refused for both
            assert await _call_as(port, ca_pem, both, "Report") in denied
            assert await _call_as(port, ca_pem, both, "CheckIn") in denied

    asyncio.run(scenario())
