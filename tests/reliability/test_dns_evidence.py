"""Hostile resolvers against what a probe records per measurement (issue 10, items
1, 7, 8, 11a): real UDP/TCP/HTTPS servers on loopback that answer with stray
replies only (wrong id, runt), 64 KB TXT records, wrong ids over TCP, and an
endless DoH body. The probe's records stay bounded and keep the evidence; a
timeout preceded by stray replies is not judged a drop."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.rrset
import pytest

from blockwatch.analysis.observation import (
    ControlContext,
    Health,
    Outcome,
    Reference,
)
from blockwatch.analysis.verdict import Method, Status
from blockwatch.probe import bounds
from blockwatch.probe.observation import Failure, Measurement, Transport
from blockwatch.probe.resolvers import ResolverSpec
from blockwatch.probe.runner import Limits
from blockwatch.probe.wire import encode_measurement
from tests.lab.evidence import judge, measure, stored_row
from tests.lab.probe_cli import write_config
from tests.lab.tlsca import LabCA
from tests.reliability.conftest import Figures

GENUINE = "192.0.2.1"
FORGED = "6.6.6.6"
# The resolver answers the control domains: what the classifier's context says
# for a healthy resolver whose unfiltered control resolves the name.
HEALTHY = ControlContext(Reference(Outcome.ANSWERED, (GENUINE,), "ctl", 0), Health.ANSWERS,
                         (GENUINE,))


def _reply(query: bytes, *, ident: int | None = None, txt_records: int = 0) -> bytes:
    q = dns.message.from_wire(query)
    r = dns.message.make_response(q)
    question = q.question[0]
    if txt_records:
        chunk = "x" * 250
        r.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT",
                                            *(f'"{chunk}{i:05d}"' for i in range(txt_records))))
    elif question.rdtype == 1:
        address = FORGED if ident is not None else GENUINE
        r.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", address))
    wire = r.to_wire(max_size=65535)
    return wire if ident is None else struct.pack("!H", ident) + wire[2:]


class _Hostile(asyncio.DatagramProtocol):
    """UDP: `strayid.*` gets only a reply to its question under another id,
    `runt.*` only 3 bytes, `silent.*` nothing at all."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        assert self.transport is not None
        case = dns.message.from_wire(data).question[0].name.labels[0].decode()
        if case == "strayid":
            self.transport.sendto(_reply(data, ident=int.from_bytes(data[:2]) ^ 0x5A5A), addr)
        elif case == "runt":
            self.transport.sendto(data[:2] + b"\x81", addr)


class _Tcp:
    """TCP: `txt64k.*` gets 240 TXT records (~63 KB), `tcpwrongid.*` a reply under
    another id; every other name a plain answer. Records each query id."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            query = await reader.readexactly(length)
            self.ids.append(int.from_bytes(query[:2]))
            case = dns.message.from_wire(query).question[0].name.labels[0].decode()
            if case == "txt64k":
                reply = _reply(query, txt_records=240)
            elif case == "tcpwrongid":
                reply = _reply(query, ident=int.from_bytes(query[:2]) ^ 0x5A5A)
            else:
                reply = _reply(query)
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()


def _by_name(found: list[Measurement]) -> dict[str, Measurement]:
    return {f"{m.domain.split('.')[0]}/{m.resolver.transport.label}": m for m in found}


def test_stray_replies_are_kept_with_the_query_and_are_not_a_drop(figures: Figures) -> None:
    async def scenario() -> dict[str, Measurement]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Hostile,
                                                           local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        try:
            found = await measure(
                [ResolverSpec("hostile", Transport.UDP, "127.0.0.1", port)],
                ["strayid.evidence.test", "runt.evidence.test", "silent.evidence.test"],
                limits=Limits(timeout_s=1.0, listen_window_s=0.2, concurrency=1))
        finally:
            transport.close()
        return _by_name(found)

    seen = asyncio.run(scenario())
    stray, runt, silent = seen["strayid/udp"], seen["runt/udp"], seen["silent/udp"]
    for m in (stray, runt, silent):
        assert m.failure is Failure.TIMEOUT and not m.responses
    assert stray.stray_count == 1 and [s.reason for s in stray.strays] == ["wrong_id"]
    assert stray.strays[0].size > 12 and 0 <= stray.strays[0].arrival_us < 1_000_000
    assert runt.stray_count == 1 and [(s.reason, s.size) for s in runt.strays] == [("runt", 3)]
    assert silent.stray_count == 0 and not silent.strays
    row = stored_row(stray)
    assert (row["stray_count"], row["stray_reason"]) == (1, ["wrong_id"])

    verdicts = {key: judge(m, HEALTHY) for key, m in seen.items()}
    # a reply to this very question, forged under another id, from a resolver
    # that answers the controls: injection; a runt: interference; silence: drop
    assert (verdicts["strayid/udp"].status, verdicts["strayid/udp"].method) == (
        Status.BLOCKED, Method.INJECTED)
    assert verdicts["runt/udp"].status is Status.SUSPECT
    assert (verdicts["silent/udp"].status, verdicts["silent/udp"].method) == (
        Status.BLOCKED, Method.DROP)
    unknown_health = judge(stray, ControlContext())
    assert unknown_health.status is Status.SUSPECT, unknown_health
    figures.record("stray_replies", cases=len(seen), outcomes={
        key: {"failure": m.failure.label, "strays": [s.reason for s in m.strays],
              "verdict": f"{verdicts[key].status.value}/{verdicts[key].method.value}"}
        for key, m in sorted(seen.items())})


def test_a_64k_txt_reply_is_bounded_per_measurement_and_random_tcp_ids_are_checked(
        figures: Figures) -> None:
    server = _Tcp()

    async def scenario() -> dict[str, Measurement]:
        tcp = await asyncio.start_server(server, "127.0.0.1", 0)
        port = tcp.sockets[0].getsockname()[1]
        try:
            names = ["txt64k.evidence.test", "tcpwrongid.evidence.test",
                     *(f"plain{i}.evidence.test" for i in range(8))]
            found = await measure([ResolverSpec("hostile-tcp", Transport.TCP, "127.0.0.1", port)],
                                  names, qtype=16, limits=Limits(timeout_s=2.0),
                                  keep_wire=True)
        finally:
            tcp.close()
        return _by_name(found)

    seen = asyncio.run(scenario())
    big = seen["txt64k/tcp"]
    r = big.responses[0]
    encoded = len(encode_measurement(big))
    assert r.size > 60_000 and big.reply_bytes == r.size
    assert 0 < len(r.wire) <= bounds.MAX_WIRE and r.wire_truncated
    assert big.truncated and 0 < len(r.answers) < 240
    assert encoded <= bounds.MAX_MEASUREMENT_BYTES, encoded
    stored_row(big)  # within every collector limit, or this raises
    # ids: random per query, and a reply under another id is not the answer
    assert len(set(server.ids)) >= 8, server.ids
    wrong = seen["tcpwrongid/tcp"]
    assert wrong.failure is Failure.MALFORMED_RESPONSE
    assert "does not match the query's id" in wrong.responses[0].parse_error
    assert all(seen[f"plain{i}/tcp"].failure is Failure.NONE for i in range(8))
    figures.record("bounded_measurement", reply_bytes=r.size, kept_wire=len(r.wire),
                   kept_answers=len(r.answers), encoded_bytes=encoded,
                   bound_bytes=bounds.MAX_MEASUREMENT_BYTES, distinct_tcp_ids=len(set(server.ids)),
                   tcp_queries=len(server.ids))


@pytest.fixture()
def endless_doh(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, int]]]:
    """An HTTPS server answering every DoH POST with 200 and a body that does not
    end (up to 400 MB), over HTTP/1.1 without Content-Length."""
    ca = LabCA(tmp_path / "ca")
    cert = ca.issue("doh", "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert_path, cert.key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    sent = {"bytes": 0}

    def serve_one(conn: socket.socket) -> None:
        with conn:
            try:
                tls = context.wrap_socket(conn, server_side=True)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += tls.recv(4096)
                tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/dns-message\r\n"
                            b"connection: close\r\n\r\n")
                chunk = b"\0" * 65536
                while not stop.is_set() and sent["bytes"] < 400 << 20:
                    tls.sendall(chunk)
                    sent["bytes"] += len(chunk)
            except OSError:
                pass

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    yield f"https://127.0.0.1:{port}/dns-query", str(ca.ca_path), sent
    stop.set()
    thread.join(5)
    listener.close()


def _peak_rss_mb(proc: subprocess.Popen[bytes], timeout: float) -> float:
    """The child's own peak RSS (VmHWM), sampled until it exits. Not ru_maxrss:
    Linux carries the forking parent's (pytest's) high-water mark across exec."""
    status = Path(f"/proc/{proc.pid}/status")
    deadline = time.monotonic() + timeout
    peak_kb = 0
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"probe still running after {timeout:g}s")
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass  # exiting between poll() and the read
        time.sleep(0.02)
    return peak_kb / 1024


def test_an_endless_doh_body_stops_at_the_bound_and_memory_stays_small(
        tmp_path: Path, endless_doh: tuple[str, str, dict[str, int]], figures: Figures) -> None:
    url, ca_file, sent = endless_doh
    config = write_config(tmp_path / "probe.toml",
                          [{"name": "endless-doh", "transport": "doh", "url": url,
                            "ca_file": ca_file}],
                          identity_checks=False, qtypes=["A"], limits={"timeout_s": 5.0},
                          targets={"domains": ["endless.evidence.test"]})
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "blockwatch.probe", "once", "-c", str(config),
                             "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak_mb = _peak_rss_mb(proc, timeout=120)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    line = json.loads(out.splitlines()[0])
    assert line["failure"] == "malformed_response", line
    assert "exceeds 65535 bytes" in line["failure_text"], line
    assert peak_mb < 120, (f"probe peak RSS {peak_mb:.0f} MB reading an endless DoH body "
                           f"({sent['bytes'] >> 20} MB sent, {elapsed:.1f}s)")
    figures.record("hostile_doh_body", peak_rss_mb=round(peak_mb, 1),
                   server_sent_mb=round(sent["bytes"] / (1 << 20), 1),
                   failure=line["failure"], failure_text=line["failure_text"],
                   seconds=round(elapsed, 1))
