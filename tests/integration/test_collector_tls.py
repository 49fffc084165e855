"""TLS and mutual TLS between the probe's uploader and the collector, and what a
misconfiguration looks like to the operator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import trustme

from blockwatch.collector.registry import Registry
from blockwatch.probe.config import CollectorConfig
from blockwatch.probe.errors import UploadError
from blockwatch.probe.spool import Spool
from blockwatch.probe.upload import Uploader
from blockwatch.probe.wire import encode_measurement
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


def _uploader(tmp_path: Path, port: int, token: str, **tls: str) -> Uploader:
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
