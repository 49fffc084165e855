"""A hostile DNS server on real loopback UDP and TCP sockets against the probe's
CLI: compression-pointer loops, bad RDLENGTH, wrong id, a changed question,
garbage, lying counts, oversized and truncated (TC) replies, and a forged reply
racing the real one. The probe records a clear failure or parse_error (or, for
TC and the forged race, exactly what arrived) and never crashes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import struct
import sys
import time
from pathlib import Path
from typing import Any

from blockwatch.collector.errors import ValidationError
from blockwatch.collector.servicer import batch_columns
from blockwatch.collector.validation import Limits, validate_batch
from blockwatch.probe.bounds import MAX_ANSWERS, bound_measurement
from blockwatch.probe.dnsmessage import encode_query, parse_response
from blockwatch.probe.wire import encode_columnar_submit_request, encode_measurement
from blockwatch.v1 import probe_pb2 as pb
from tests.lab.probe_cli import write_config
from tests.reliability.conftest import Figures

CASES = ("ok", "loop", "rdlen", "wrongid", "question", "garbage", "short", "counts", "label",
         "notqr", "tc", "forged", "oversized")
# must not pass as an answer: a failure, or every response flagged with parse_error
UNUSABLE = {"loop", "rdlen", "wrongid", "question", "garbage", "short", "counts", "label",
            "notqr"}


def _question_end(query: bytes) -> int:
    at = 12
    while query[at]:
        at += 1 + query[at]
    return at + 5


def _a(owner: bytes, address: str, rdlength: int = 4) -> bytes:
    return owner + struct.pack("!HHIH", 1, 1, 60, rdlength) + bytes(
        int(x) for x in address.split("."))


def replies_for(query: bytes) -> list[bytes]:
    """The hostile server's answer(s) to one query, chosen by the name's first label."""
    qid = query[:2]
    question = query[12:_question_end(query)]
    case = question[1:1 + question[0]].decode()

    def header(flags: int = 0x8180, an: int = 1, ident: bytes = qid) -> bytes:
        return ident + struct.pack("!HHHHH", flags, 1, an, 0, 0)

    here = b"\xc0\x0c"   # pointer to the question's name
    if case == "loop":
        at = 12 + len(question)
        return [header() + question + bytes((0xC0 | at >> 8, at & 0xFF)) + _a(b"", "1.2.3.4")]
    if case == "rdlen":
        return [header() + question + _a(here, "192.0.2.1", rdlength=200)]
    if case == "wrongid":
        bad = bytes((query[0] ^ 0xFF, query[1] ^ 0xFF))
        return [header(ident=bad) + question + _a(here, "192.0.2.1")]
    if case == "question":
        other = b"\x05other\x07example\x00" + question[-4:]
        return [header() + other + _a(here, "192.0.2.1")]
    if case == "garbage":
        return [qid + random.Random(query).randbytes(40)]
    if case == "short":
        return [qid + b"\x81"]
    if case == "counts":
        return [header(an=50) + question]
    if case == "label":
        return [header() + question + b"\x45" + b"x" * 69 + b"\x00" + _a(b"", "1.2.3.4")]
    if case == "notqr":
        return [query]
    if case == "tc":
        return [header(flags=0x8380, an=0) + question]
    if case == "forged":
        return [header() + question + _a(here, "6.6.6.6"),
                header() + question + _a(here, "192.0.2.1")]
    if case == "oversized":
        return [header(an=4000) + question + _a(here, "192.0.2.1") * 4000]
    return [header() + question + _a(here, "192.0.2.1")]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        loop = asyncio.get_running_loop()
        for i, reply in enumerate(replies_for(data)):
            assert self.transport is not None
            loop.call_later(0.02 * i, self.transport.sendto, reply, addr)


async def _tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        for reply in replies_for(await reader.readexactly(length)):
            writer.write(struct.pack("!H", len(reply)) + reply)
        await writer.drain()
        await asyncio.sleep(0.05)
    except (asyncio.IncompleteReadError, OSError):
        pass
    finally:
        writer.close()


def collector_verdict_on_oversized() -> str:
    """What the collector's validation says about a batch holding the probe's record
    of the oversized reply (4,000 answers, parsed fine) next to a good measurement."""
    from tests.integration.collector_harness import measurement

    query = encode_query("oversized.hostile.test", 1)
    wire = replies_for(query)[0]
    response = parse_response(wire, "oversized.hostile.test", 1, 900)
    hostile = bound_measurement(dataclasses.replace(
        measurement(0, domain="oversized.hostile.test"), responses=[response]), [wire])
    request = pb.SubmitRequest.FromString(encode_columnar_submit_request(
        "b1", [encode_measurement(measurement(1)), encode_measurement(hostile)]))
    try:
        columns = batch_columns(request.batch, Limits())
        validate_batch("b1", columns, Limits(), time.time_ns() // 1000)
    except ValidationError as exc:
        return f"whole batch rejected: {exc}"
    return "accepted"


def test_hostile_dns_responses_are_recorded_as_failures_and_never_crash_the_probe(
        tmp_path: Path, figures: Figures) -> None:
    async def scenario() -> tuple[int, str, str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        server = await asyncio.start_server(_tcp, "127.0.0.1", port)
        config = write_config(
            tmp_path / "probe.toml",
            [{"name": "hostile-udp", "transport": "udp", "address": "127.0.0.1", "port": port},
             {"name": "hostile-tcp", "transport": "tcp", "address": "127.0.0.1", "port": port}],
            identity_checks=False, qtypes=["A"],
            limits={"timeout_s": 1.0, "listen_window_s": 0.2, "qps": 1000},
            targets={"domains": [f"{case}.hostile.test" for case in CASES]})
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "blockwatch.probe", "once", "-c", str(config),
                "--format", "json", stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            server.close()
            transport.close()
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode(), port

    code, out, err, _ = asyncio.run(scenario())
    assert code == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    seen: dict[str, dict[str, Any]] = {}
    for line in lines:
        case = line["domain"].split(".")[0]
        transport = line["resolver"]["transport"]
        responses = line["responses"]
        seen[f"{case}/{transport}"] = {
            "failure": line["failure"], "failure_text": (line["failure_text"] or "")[:80],
            "responses": len(responses),
            "parse_errors": [(r["parse_error"] or "")[:60] for r in responses],
            "flags": [r["flags"] for r in responses],
            "answers": [len(r["answers"]) for r in responses]}
    assert len(seen) == 2 * len(CASES), sorted(seen)
    for key, what in seen.items():
        case, transport = key.split("/")
        if case in UNUSABLE:
            assert what["failure"] is not None or (
                what["responses"] and all(what["parse_errors"])), (key, what)
        elif case == "ok":
            assert what["failure"] is None and not any(what["parse_errors"]), (key, what)
        elif case == "tc":
            assert what["failure"] is None and "TC" in what["flags"][0], (key, what)
        elif case == "oversized":
            # recorded within the collector's limits; the raw bytes keep the rest
            assert what["answers"] == [MAX_ANSWERS], (key, what)
        elif case == "forged":
            # UDP keeps listening: the forged reply and the real one are both evidence
            assert what["responses"] == (2 if transport == "udp" else 1), (key, what)
    verdict = collector_verdict_on_oversized()
    assert verdict == "accepted", verdict
    figures.record("hostile_dns", cases=len(CASES), measurements=len(lines), crashes=0,
                   outcomes=seen, oversized_batch_at_collector=verdict)
