"""Deliver spooled measurements to the collector over one long-lived Submit stream.

A bounded window of batches is in flight; a batch leaves the spool only when
its ack arrives (the collector acks after a durable insert). On UNAVAILABLE,
DEADLINE_EXCEEDED or a silent stream the uploader reconnects with exponential
backoff and jitter, and resends unacknowledged batches under their old ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
)

from blockwatch.probe import __version__
from blockwatch.probe.config import CollectorConfig
from blockwatch.probe.errors import ConfigError, SpoolError, TokenRefused, UploadError
from blockwatch.probe.spool import Spool, SpooledBatch
from blockwatch.probe.wire import (
    CHECKIN_METHOD,
    SUBMIT_METHOD,
    Assignment,
    BatchAck,
    BatchRejection,
    RejectionCode,
    decode_submit_response,
    encode_checkin,
    encode_columnar_submit_request,
)

log = logging.getLogger(__name__)

STREAM_LIFETIME_S = 3600.0  # a deadline on the long-lived stream too; then reconnect
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
              grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED,
              grpc.StatusCode.INTERNAL, grpc.StatusCode.CANCELLED}
# Client pings every 60 s; the collector permits pings at 30 s intervals, so
# it never answers with GOAWAY "too_many_pings".
CHANNEL_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 16 << 20),
    ("grpc.enable_retries", 0),  # retries are ours: they must go through the spool
    # Reconnecting means a new TCP connection: channels otherwise share the
    # process-wide subchannel pool, and a channel opened after the watchdog gave
    # up on a silently dead (half-open) connection would ride that same dead
    # connection until keepalive noticed, 80 s later.
    ("grpc.use_local_subchannel_pool", 1),
]
MESSAGE_LIMIT = 16 << 20   # the collector's default gRPC message limit
# What the collector's refusals say about its limits: its validation
# ("20 measurements, the limit is 4") and gRPC core ("Received message larger
# than max (2525217 vs. 524288)").
_LIMIT_IS = re.compile(r"the limit is (\d+)")
_LARGER_THAN_MAX = re.compile(r"larger than max \((\d+) vs\. (\d+)\)")


class CollectorUnavailable(UploadError):
    """Transient: the collector or its database cannot take data now."""


@dataclass(slots=True)
class UploadStats:
    batches_acked: int = 0
    measurements_acked: int = 0
    duplicates: int = 0
    batches_rejected: int = 0
    reconnects: int = 0
    batches_too_large: int = 0       # refused as too large, re-formed smaller
    measurements_too_large: int = 0  # alone over the message limit: set aside
    web_acked: int = 0               # web observations in acked batches
    web_duplicates: int = 0


@dataclass(frozen=True, slots=True)
class _InFlight:
    size: int          # rows: measurements and web observations
    sent_at: float     # monotonic
    message_bytes: int
    payload_bytes: int
    web: int = 0       # of which web observations


def _identity(data: bytes) -> bytes:
    return data


class Uploader:
    def __init__(self, spool: Spool, config: CollectorConfig, token: str, probe_name: str,
                 *, on_ack: Callable[[int], None] | None = None) -> None:
        self.spool = spool
        self.config = config
        self.probe_name = probe_name
        self.stats = UploadStats()
        # with mutual TLS the certificate names the probe and a token is optional
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._on_ack = on_ack
        self._address_index = 0
        # Batch bounds: the config's, lowered to what the collector is learnt to take.
        self._batch_size = config.batch_size
        self._max_bytes = config.max_batch_bytes
        self._limit_bytes = MESSAGE_LIMIT  # the largest message the collector takes
        self._acked_at_last_failure = 0
        self._failures_in_a_row = 0
        self._wait = _exponential_with_jitter
        self.new_data = asyncio.Event()

    def set_token(self, token: str) -> None:
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def _credentials(self) -> grpc.ChannelCredentials | None:
        if not self.config.tls:
            return None
        def read(path: str) -> bytes | None:
            if not path:
                return None
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read {path}: {exc.strerror}", field="collector") from exc
        return grpc.ssl_channel_credentials(
            root_certificates=read(self.config.ca_file),
            private_key=read(self.config.client_key),
            certificate_chain=read(self.config.client_cert),
        )

    def _open_channel(self) -> grpc.aio.Channel:
        address = self.config.addresses[self._address_index % len(self.config.addresses)]
        credentials = None if address.startswith("unix:") else self._credentials()
        if credentials is None:
            return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        return grpc.aio.secure_channel(address, credentials, options=CHANNEL_OPTIONS)

    async def check_in(self) -> Assignment:
        """Tell the collector who we are; get the assignment. Retries transient errors."""
        async for attempt in self._retrying(self.config.timeout_s * 4):
            with attempt:
                return await self.check_in_once(self.config.timeout_s)
        raise AssertionError("unreachable")

    async def check_in_once(self, timeout_s: float) -> Assignment:
        """One CheckIn, no retry: `check` must answer within seconds."""
        channel = self._open_channel()
        try:
            call = channel.unary_unary(CHECKIN_METHOD, request_serializer=_identity,
                                       response_deserializer=_identity)
            reply = await call(encode_checkin(self.probe_name, __version__),
                               metadata=self._metadata, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise self._translate(exc) from exc
        finally:
            await channel.close(None)
        return Assignment(reply)

    async def run(self, stop: asyncio.Event, *, drain: bool = False,
                  give_up_after_s: float | None = None) -> UploadStats:
        """Upload until `stop` is set (or, with drain, until the spool is empty)."""
        async for attempt in self._retrying(give_up_after_s):
            with attempt:
                # a stream the collector ended cleanly (restart, lifetime) is reopened
                while not stop.is_set():
                    await self._session(stop, drain)
                    if drain and self.spool.pending() == 0:
                        break
        return self.stats

    def _retrying(self, give_up_after_s: float | None) -> AsyncRetrying:
        return AsyncRetrying(
            # a spool error (disk full while acking) keeps the batch: it goes out
            # again under its id and the collector acks it as a duplicate
            retry=retry_if_exception_type((CollectorUnavailable, SpoolError)),
            wait=self._backoff,
            stop=stop_after_delay(give_up_after_s) if give_up_after_s else (lambda _: False),
            before_sleep=self._before_retry,
            reraise=True,
        )

    def _backoff(self, state: object) -> float:
        """Exponential backoff with jitter over the failures since the last ack: a
        collector that was taking batches a minute ago is retried quickly again."""
        if self.stats.batches_acked != self._acked_at_last_failure:
            self._acked_at_last_failure = self.stats.batches_acked
            self._failures_in_a_row = 0
        self._failures_in_a_row += 1
        return float(self._wait(self._failures_in_a_row))

    def _before_retry(self, state: object) -> None:
        self.stats.reconnects += 1
        self._address_index += 1  # try the next collector address, if there is one
        outcome = getattr(state, "outcome", None)
        error = outcome.exception() if outcome is not None else None
        log.warning("collector unavailable (%s); retrying", error)

    def _translate(self, exc: grpc.aio.AioRpcError) -> UploadError:
        code = exc.code()
        detail = exc.details() or code.name
        if code in _RETRYABLE:
            return CollectorUnavailable(f"{code.name}: {detail}")
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return TokenRefused(f"the collector REFUSED this probe's credentials ({detail}): "
                                "check credentials_file, or register the probe again")
        return UploadError(f"{code.name}: {detail}")

    async def _session(self, stop: asyncio.Event, drain: bool) -> None:
        channel = self._open_channel()
        call = channel.stream_stream(SUBMIT_METHOD, request_serializer=_identity,
                                     response_deserializer=decode_submit_response)(
            metadata=self._metadata, timeout=STREAM_LIFETIME_S)  # type: ignore[call-arg]
        session = _Session(self, call, stop, drain)
        sender, receiver, _watchdog = tasks = [
            asyncio.create_task(coro)
            for coro in (session.send(), session.receive(), session.watchdog())]
        try:
            pending: set[asyncio.Task[None]] = set(tasks)
            while receiver in pending:
                # once the sender is done, the collector has timeout_s to answer the rest
                timeout = None if sender in pending else self.config.timeout_s
                done, pending = await asyncio.wait(
                    pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    raise CollectorUnavailable("collector did not finish the stream in time")
                for task in done:
                    task.result()
        except grpc.aio.AioRpcError as exc:
            self._learn_message_limit(exc, session.in_flight)
            raise self._translate(exc) from exc
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            call.cancel()
            await channel.close(None)

    def _settle(self, response: BatchAck | BatchRejection, size: int, web: int = 0) -> None:
        """Act on one answer: forget acked batches, set aside rejected ones."""
        batch_id = response.batch_id
        if isinstance(response, BatchAck):
            self.spool.acknowledge(batch_id)
            self.stats.batches_acked += 1
            self.stats.measurements_acked += size - web
            self.stats.duplicates += response.duplicates
            self.stats.web_acked += web
            self.stats.web_duplicates += response.web_duplicates
            if web and response.web_stored + response.web_duplicates < web:
                # a collector that predates web observations ignores them: say so
                log.error("collector acknowledged batch %s but stored only %d of its %d web "
                          "observations: it does not take web follow-ups (upgrade it)",
                          batch_id, response.web_stored + response.web_duplicates, web)
            if self._on_ack is not None:
                self._on_ack(size)
            return
        detail = response.detail
        if response.code is RejectionCode.INVALID:
            moved = self.spool.reject(batch_id, detail)
            self.stats.batches_rejected += 1
            log.error("collector REJECTED batch %s (%d measurements, record %d): %s; "
                      "kept in the spool's rejected table", batch_id, moved,
                      response.record_index, detail)
        elif response.code is RejectionCode.TOO_LARGE:
            # Refused, so never stored: its rows may go out again under new ids.
            self.stats.batches_too_large += 1
            learnt = _LIMIT_IS.search(detail)
            limit = int(learnt[1]) if learnt else size // 2
            self._batch_size = max(1, min(self._batch_size, limit))
            if size == 1:
                self._set_aside(batch_id, f"too large for the collector: {detail}")
                return
            freed = self.spool.release(batch_id)
            log.warning("collector refused batch %s as TOO LARGE (%s): its %d measurements "
                        "go out again in batches of at most %d", batch_id, detail, freed,
                        self._batch_size)
        else:
            raise CollectorUnavailable(f"collector could not store batch: {detail}")

    def _set_aside(self, batch_id: str, reason: str) -> None:
        moved = self.spool.reject(batch_id, reason, too_large=True)
        self.stats.measurements_too_large += moved
        log.error("measurement TOO LARGE to deliver (%s): %d set aside in the spool's "
                  "rejected table (batch %s)", reason, moved, batch_id)

    def _oversized(self, batch_id: str, batch: _InFlight) -> None:
        """A batch whose message is over the collector's limit: it can never have
        been stored, so it is re-formed smaller (or set aside, if it is one)."""
        if batch.size <= 1:
            self._set_aside(batch_id, f"too large: {batch.message_bytes} bytes in one "
                            f"message, the collector takes at most {self._limit_bytes}")
            return
        self.stats.batches_too_large += 1
        # payload bytes are what batches are formed by; aim 10% under the limit
        scaled = batch.payload_bytes * self._limit_bytes // batch.message_bytes
        self._max_bytes = max(1, min(self._max_bytes, scaled * 9 // 10))
        self.spool.release(batch_id)
        log.warning("batch %s is TOO LARGE for the collector (%d measurements, %d bytes, "
                    "limit %d): re-formed in batches of at most %d bytes", batch_id,
                    batch.size, batch.message_bytes, self._limit_bytes, self._max_bytes)

    def _learn_message_limit(self, exc: grpc.aio.AioRpcError,
                             in_flight: dict[str, _InFlight]) -> None:
        """gRPC refuses an over-limit message by ending the whole stream; the status
        says the limit. Batches over it were never received: re-form them."""
        learnt = _LARGER_THAN_MAX.search(exc.details() or "")
        if exc.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED or learnt is None:
            return
        self._limit_bytes = min(self._limit_bytes, int(learnt[2]))
        for batch_id, batch in list(in_flight.items()):
            if batch.message_bytes > self._limit_bytes:
                self._oversized(batch_id, batch)


class _Session:
    """One Submit stream: a sender bounded by the window, a receiver of acks, and a
    watchdog for a collector that takes batches but never answers."""

    def __init__(self, uploader: Uploader, call: Any, stop: asyncio.Event, drain: bool) -> None:
        self.uploader = uploader
        self.call = call
        self.stop = stop
        self.drain = drain
        self.in_flight: dict[str, _InFlight] = {}
        self.window_open = asyncio.Event()
        self.window_open.set()

    async def send(self) -> None:
        up = self.uploader
        while not self.stop.is_set():
            if len(self.in_flight) >= up.config.window:
                self.window_open.clear()
                await _wait_any(self.window_open, self.stop, timeout=1.0)
                continue
            batch = up.spool.next_batch(up._batch_size, exclude=set(self.in_flight),
                                        max_bytes=up._max_bytes)
            if batch is None:
                if self.drain and not self.in_flight:
                    break
                up.new_data.clear()
                await _wait_any(up.new_data, self.stop, timeout=0.5 if self.drain else 5.0)
                continue
            request = encode_columnar_submit_request(batch.batch_id, batch.payloads,
                                                     batch.web_payloads)
            sent = _flight(batch, len(request))
            if sent.message_bytes > up._limit_bytes:
                up._oversized(batch.batch_id, sent)
                continue
            self.in_flight[batch.batch_id] = sent
            try:
                await self.call.write(request)
            except asyncio.InvalidStateError as exc:
                # the RPC ended (reset, GOAWAY) between two writes: grpc.aio says so
                # with InvalidStateError, not AioRpcError; it is a lost stream
                raise CollectorUnavailable("the stream ended while sending") from exc
        with contextlib.suppress(asyncio.InvalidStateError):
            await self.call.done_writing()   # the receiver reports how the RPC ended

    async def receive(self) -> None:
        async for response in self.call:
            sent = self.in_flight.pop(response.batch_id, None)
            self.window_open.set()
            self.uploader._settle(response, sent.size if sent else 0, sent.web if sent else 0)

    async def watchdog(self) -> None:
        timeout = self.uploader.config.timeout_s
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            if any(now - b.sent_at > timeout for b in self.in_flight.values()):
                raise CollectorUnavailable(f"no ack within {timeout:g}s; reconnecting")


def _flight(batch: SpooledBatch, message_bytes: int) -> _InFlight:
    return _InFlight(batch.size, time.monotonic(), message_bytes,
                     sum(len(p) for p in batch.payloads)
                     + sum(len(p) for p in batch.web_payloads), len(batch.web_payloads))


def _exponential_with_jitter(failures: int) -> float:
    return float(min(30.0, 0.2 * 2.0 ** (failures - 1)) + random.uniform(0, 1.0))


async def _wait_any(event: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
