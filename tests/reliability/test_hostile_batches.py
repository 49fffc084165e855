"""Generated hostile Submit traffic against a running collector: out-of-range
values, wrong counts, huge strings, malformed structure (each answered with a
clear Rejection on a stream that stays usable), and bytes that are not a
SubmitRequest at all (invalid UTF-8 in strings, random bytes, truncations: the
stream ends with a clear status, the collector keeps serving). Nothing from a
bad batch is stored."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockwatch.collector.registry import Registry
from blockwatch.probe.wire import SUBMIT_METHOD
from blockwatch.v1 import probe_pb2 as pb
from tests.integration.collector_harness import chdb_dsn, count, running, settings_for
from tests.reliability.conftest import Figures, Sizes
from tests.rowform import row_form_batch

Columns = dict[str, list[Any]]
NOW_US = time.time_ns() // 1000


def base_columns(rnd: random.Random) -> Columns:
    """Two valid measurements: one answered (one response, answer, CNAME, EDE),
    one timed out (no response)."""
    return {
        "measurement_id": [rnd.randbytes(16), rnd.randbytes(16)],
        "round_id": ["r1", "r1"], "started_at_us": [NOW_US, NOW_US],
        "duration_us": [1500, 2000], "domain": ["thepiratebay.org", "example.org"],
        "qtype": [1, 28], "qclass": [1, 1], "purpose": [1, 2],
        "resolver_name": ["isp", "isp"], "resolver_address": ["192.0.2.53", "192.0.2.53"],
        "resolver_port": [53, 53], "resolver_transport": [1, 2],
        "resolver_tls_name": ["", ""], "resolver_url": ["", ""], "failure": [0, 1],
        "failure_text": ["", "timed out"], "response_count": [1, 0],
        "arrival_us": [1200], "rcode": [0], "flags": [0x8180], "answer_count": [1],
        "cname_count": [1], "authority_count": [0], "additional_count": [0],
        "edns": [True], "extended_error_count": [1], "nsid": [b"res1"], "wire": [b""],
        "size": [64], "parse_error": [""], "answer_name": ["thepiratebay.org"],
        "answer_rtype": [1], "answer_ttl": [300], "answer_data": ["203.0.113.7"],
        "cname_chain": ["tpb.example"], "extended_error_code": [16],
        "extended_error_text": ["Censored"],
    }


def _set(field: str, value: Any, index: int = 0) -> Callable[[Columns, random.Random], None]:
    def mutate(cols: Columns, rnd: random.Random) -> None:
        cols[field][index] = value
    return mutate


def _count_off(field: str) -> Callable[[Columns, random.Random], None]:
    def mutate(cols: Columns, rnd: random.Random) -> None:
        cols[field][0] += rnd.randint(2, 40)   # 1 could match one added item (column+1)
    return mutate


def _drop_one(cols: Columns, rnd: random.Random) -> None:
    cols[rnd.choice(sorted(cols))].pop()


def _add_one(cols: Columns, rnd: random.Random) -> None:
    field = rnd.choice(sorted(k for k in cols if k not in ("measurement_id",)))
    cols[field].append(cols[field][0])


def _huge(field: str, size: int) -> Callable[[Columns, random.Random], None]:
    def mutate(cols: Columns, rnd: random.Random) -> None:
        value = cols[field][0]
        cols[field][0] = (b"x" if isinstance(value, bytes) else "x") * (size + rnd.randint(
            1, 3 * size))
    return mutate


def _duplicate_ids(cols: Columns, rnd: random.Random) -> None:
    cols["measurement_id"][1] = cols["measurement_id"][0]


def _too_many(cols: Columns, rnd: random.Random) -> None:
    cols["measurement_id"] = [bytes(16)] * 10_001


def _long_cname_chain(cols: Columns, rnd: random.Random) -> None:
    cols["cname_chain"] = ["c.example"] * 33
    cols["cname_count"][0] = 33


def _many_responses(cols: Columns, rnd: random.Random) -> None:
    extra = 17
    cols["response_count"][0] = extra
    for field in ("arrival_us", "rcode", "flags", "answer_count", "cname_count",
                  "authority_count", "additional_count", "edns", "extended_error_count",
                  "nsid", "wire", "size", "parse_error"):
        cols[field] = cols[field] * extra
    for field in ("answer_name", "answer_rtype", "answer_ttl", "answer_data", "cname_chain",
                  "extended_error_code", "extended_error_text"):
        cols[field] = cols[field] * extra


# One past the contract's largest value: out of range however the enums grow.
_PAST_PURPOSE = max(pb.Purpose.values()) + 1
_PAST_TRANSPORT = max(pb.Transport.values()) + 1
_PAST_FAILURE = max(pb.Failure.values()) + 1

# Every mutation makes the batch invalid according to docs/collector.md.
MUTATIONS: dict[str, Callable[[Columns, random.Random], None]] = {
    "qtype=0": _set("qtype", 0), "qtype=65536": _set("qtype", 65536),
    "qtype=2^32-1": _set("qtype", 2**32 - 1), "qclass=0": _set("qclass", 0),
    "qclass=70000": _set("qclass", 70000), "purpose=0": _set("purpose", 0),
    "purpose=last+1": _set("purpose", _PAST_PURPOSE), "purpose=-1": _set("purpose", -1),
    "transport=0": _set("resolver_transport", 0),
    "transport=last+1": _set("resolver_transport", _PAST_TRANSPORT),
    "failure=last+1": _set("failure", _PAST_FAILURE), "failure=-3": _set("failure", -3, 1),
    "failure_none_without_response": _set("failure", 0, 1),
    "started_at=0": _set("started_at_us", 0), "started_at<0": _set("started_at_us", -(2**62)),
    "started_at=2019": _set("started_at_us", 1_546_300_800_000_000),
    "started_at=+2d": _set("started_at_us", NOW_US + 2 * 86_400_000_000),
    "started_at=2^62": _set("started_at_us", 2**62),
    "id=0B": _set("measurement_id", b""), "id=15B": _set("measurement_id", bytes(15)),
    "id=17B": _set("measurement_id", bytes(17)), "id=dup": _duplicate_ids,
    "domain=empty": _set("domain", ""), "domain=upper": _set("domain", "ThePirateBay.org"),
    "domain=dot": _set("domain", "thepiratebay.org."), "domain=space": _set("domain", "a b.org"),
    "domain=unicode": _set("domain", "pïrate.org"), "domain=nul": _set("domain", "a\x00.org"),
    "domain=huge": _huge("domain", 100_000),
    "round_id=65": _huge("round_id", 64), "resolver_name=64": _huge("resolver_name", 63),
    "resolver_address=46": _huge("resolver_address", 45), "url=2049": _huge("resolver_url", 2048),
    "failure_text=4097": _huge("failure_text", 4096),
    "parse_error=4097": _huge("parse_error", 4096),
    "answer_data=8193": _huge("answer_data", 8192),
    "ede_text=1025": _huge("extended_error_text", 1024), "nsid=513": _huge("nsid", 512),
    "wire=65536": _huge("wire", 65_535), "cname_chain=33": _long_cname_chain,
    "responses=17": _many_responses,
    "response_count+": _count_off("response_count"), "answer_count+": _count_off("answer_count"),
    "cname_count+": _count_off("cname_count"),
    "ede_count+": _count_off("extended_error_count"),
    "column-1": _drop_one, "column+1": _add_one, "measurements=10001": _too_many,
}
BATCH_MUTATIONS = ("batch_id=empty", "batch_id=65", "batch_id=bad", "row_form")
STRING_FIELDS = ("round_id", "domain", "resolver_name", "failure_text", "answer_data",
                 "extended_error_text", "cname_chain", "parse_error")


def hostile_request(kind: str, names: list[str], rnd: random.Random, batch_id: str
                    ) -> bytes:
    """Serialized SubmitRequest bytes for one hostile case."""
    cols = base_columns(rnd)
    if "column-1" in names and "column+1" in names:   # could cancel out on one column
        names = [n for n in names if n != "column+1"]
    for name in names:
        if name in MUTATIONS:
            # a later mutation may find an earlier one emptied its column
            with contextlib.suppress(IndexError):
                MUTATIONS[name](cols, rnd)
    batch = pb.Batch(batch_id=batch_id, columns=pb.MeasurementColumns(**cols))
    if "batch_id=empty" in names:
        batch.batch_id = ""
    if "batch_id=65" in names:
        batch.batch_id = "b" * 65
    if "batch_id=bad" in names:
        batch.batch_id = batch_id + "/../x"
    if "row_form" in names:   # a 0.1 probe's retired rows beside the columns
        batch.MergeFrom(row_form_batch("", [pb.Measurement(
            measurement_id=bytes(16), domain="example.org").SerializeToString()]))
    if kind == "invalid_utf8":
        field = rnd.choice(STRING_FIELDS)
        marker = "\x01M" + "x" * rnd.randint(0, 6)
        getattr(batch.columns, field)[0] = marker
        data = pb.SubmitRequest(batch=batch).SerializeToString()
        bad = bytes(rnd.choice((0xFF, 0xFE, 0xC0, 0x80, 0xED)) for _ in marker)
        return data.replace(marker.encode(), bad, 1)
    data = pb.SubmitRequest(batch=batch).SerializeToString()
    if kind == "truncated":
        return data[: rnd.randrange(1, len(data))]
    return data


def _parses(data: bytes) -> bool:
    try:
        pb.SubmitRequest.FromString(data)
    except DecodeError:
        return False
    return True


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


def _identity(data: bytes) -> bytes:
    return data


def test_hostile_batches_are_rejected_clearly_and_nothing_is_stored(  # noqa: PLR0915
        dsn: str, tmp_path: Path, sizes: Sizes, figures: Figures) -> None:
    loop = asyncio.new_event_loop()
    outcomes: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    ids = itertools.count()
    began = time.monotonic()

    async def open_stream(channel: grpc.aio.Channel, token: str) -> Any:
        return channel.stream_stream(SUBMIT_METHOD, request_serializer=_identity,
                                     response_deserializer=pb.SubmitResponse.FromString)(
            metadata=(("authorization", f"Bearer {token}"),), timeout=600)  # type: ignore[call-arg]

    async def scenario() -> None:  # noqa: PLR0915
        async with running(settings_for(dsn, tmp_path)) as collector:
            token = Registry(collector.settings.registry_path).add(
                "probe", "hostile-1", country="IT")
            address = f"unix:{collector.settings.unix}"
            channel = grpc.aio.insecure_channel(address)
            stream = await open_stream(channel, token)

            async def one(data: bytes, expect_rejection: bool) -> None:
                nonlocal stream
                if _parses(data):
                    await stream.write(data)
                    reply = await asyncio.wait_for(stream.read(), 30)
                    assert isinstance(reply, pb.SubmitResponse), "stream ended on a parseable batch"
                    kind = reply.WhichOneof("result")
                    if kind == "rejection":
                        code = pb.Rejection.Code.Name(reply.rejection.code)
                        assert reply.rejection.reason, "a rejection without a reason"
                        outcomes["rejection " + code] += 1
                    else:
                        assert not expect_rejection, f"accepted a hostile batch: {reply}"
                        outcomes["ack (raw input still a valid batch)"] += 1
                    return
                # Not a SubmitRequest at all: this stream ends; the next one works.
                bad = await open_stream(channel, token)
                await bad.write(data)
                await bad.done_writing()
                try:
                    while isinstance(await asyncio.wait_for(bad.read(), 30), pb.SubmitResponse):
                        pass
                except grpc.aio.AioRpcError:
                    pass
                code, details = await bad.code(), await bad.details()
                assert code is not grpc.StatusCode.OK, "an unparseable request ended OK"
                codes[f"{code.name}: {details}"] += 1
                outcomes["stream ended " + code.name] += 1

            structured = st.tuples(st.just("structured"), st.lists(
                st.sampled_from(sorted(MUTATIONS) + list(BATCH_MUTATIONS)), min_size=1,
                max_size=3, unique=True), st.randoms(use_true_random=False))
            raw = st.tuples(st.sampled_from(("invalid_utf8", "truncated")),
                            st.lists(st.sampled_from(sorted(MUTATIONS)), max_size=1),
                            st.randoms(use_true_random=False))
            noise = st.binary(min_size=0, max_size=4096)

            @settings(max_examples=sizes.hostile, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=st.one_of(structured, structured, structured, raw, noise))
            def check(case: Any) -> None:
                batch_id = f"hostile-{next(ids):08d}"
                if isinstance(case, bytes):
                    outcomes["tried random bytes"] += 1
                    asyncio.run_coroutine_threadsafe(one(case, False), loop).result(60)
                    return
                kind, names, rnd = case
                outcomes[f"tried {kind}"] += 1
                data = hostile_request(kind, names, rnd, batch_id)
                asyncio.run_coroutine_threadsafe(one(data, kind == "structured"), loop
                                                 ).result(60)

            await asyncio.get_running_loop().run_in_executor(None, check)
            # The same stream still takes a good batch.
            good = hostile_request("valid", [], random.Random(1), "good-1")
            await stream.write(good)
            reply = await asyncio.wait_for(stream.read(), 30)
            assert reply.WhichOneof("result") == "ack" and reply.ack.stored == 2
            await stream.done_writing()
            await channel.close(None)
            acked = sum(n for k, n in outcomes.items() if k.startswith("ack"))
            stored = await count(collector)
            answered = sum(n for k, n in outcomes.items() if not k.startswith("tried"))
            figures.record("hostile_batches", tried=answered,
                outcomes=dict(outcomes), unparseable_status=dict(codes),
                stored_from_rejected=stored - 2 - 2 * acked,
                raw_valid_by_chance_acked=acked, crashes=0,
                seconds=round(time.monotonic() - began, 1))
            assert stored == 2 + 2 * acked

    loop.run_until_complete(scenario())
    loop.close()
    answered = sum(n for k, n in outcomes.items() if not k.startswith("tried"))
    assert answered >= sizes.hostile
