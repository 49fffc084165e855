"""The web follow-up engine: TCP connect, TLS handshake (SNI = the name) and
`GET /` with `Host: name` to each planned (name, address), on every configured
port, recorded step by step (webobservation.py).

Bounded everywhere: each step has its own timeout, the response head is at most
`max_header_bytes`, the body is read to at most `max_body_bytes` and only
`body_bytes` of it are kept, follow-ups in flight are at most `concurrency`,
and each address gets at most `destination_concurrency` connections at a time,
started no faster than `destination_rate` per second.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import hashlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import h11

from blockwatch.probe.failures import describe, failure_of
from blockwatch.probe.ids import new_measurement_id
from blockwatch.probe.observation import Failure
from blockwatch.probe.webcert import from_der, from_peercert
from blockwatch.probe.webconfig import WebConfig
from blockwatch.probe.webobservation import (
    ConnectStep,
    FollowUp,
    HttpStep,
    TlsStep,
    WebObservation,
)
from blockwatch.probe.webparse import extract_title, name_matches, select_headers

log = logging.getLogger(__name__)

# X509_V_ERR_HOSTNAME_MISMATCH: the chain verified, only the name did not match
_HOSTNAME_MISMATCH = 62
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_READ_CHUNK = 65_536
# asyncio allocates (and, as the allocation comes from the heap, touches) a read
# buffer of SSLProtocol.max_size, 256 KiB, per TLS connection: 8 MB of RSS at 32
# follow-ups in flight. A TLS record holds at most 16 KiB, so two fit in 32 KiB.
_TLS_BUFFER = 32 * 1024

Resolve = Callable[[str], Awaitable[str]]
Sink = Callable[[WebObservation], None]


def _now_us() -> int:
    return time.time_ns() // 1000


def _since_us(started_ns: int) -> int:
    return (time.monotonic_ns() - started_ns) // 1000


async def system_resolve(host: str) -> str:
    """The first address the system resolver gives for `host` (redirect following)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=1)
    return str(infos[0][4][0])


@dataclass(slots=True)
class _Destination:
    """Per address: connections in flight and the earliest next start."""

    slots: asyncio.Semaphore
    next_at: float = 0.0


@dataclass(slots=True)
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def abort(self) -> None:
        self.writer.transport.abort()


@dataclass(slots=True)
class _Body:
    """A body read incrementally: hashed, counted, prefix kept, nothing else."""

    keep: int
    limit: int
    digest: Any = field(default_factory=hashlib.sha256)
    length: int = 0
    prefix: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    def add(self, data: bytes) -> bool:
        """Take `data`; False once `limit` bytes were read (stop reading)."""
        room = self.limit - self.length
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self.digest.update(data)
        self.length += len(data)
        if len(self.prefix) < self.keep:
            self.prefix += data[: self.keep - len(self.prefix)]
        # a body of exactly `limit` bytes is complete: truncated only if more arrives
        return not self.truncated


class WebEngine:
    """Follows up (name, address) pairs; one engine per probe, reused across rounds."""

    def __init__(self, config: WebConfig, *, resolve: Resolve = system_resolve) -> None:
        self.config = config
        self._resolve = resolve
        self._kept = config.kept_headers()
        self._verifying = ssl.create_default_context(cafile=config.ca_file or None)
        self._verifying.set_alpn_protocols(["http/1.1"])
        # to see the certificate of a handshake that did not verify
        self._unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no CA store to load
        self._unverified.check_hostname = False
        self._unverified.verify_mode = ssl.CERT_NONE
        self._unverified.set_alpn_protocols(["http/1.1"])
        self._destinations: dict[str, _Destination] = {}
        # loop.start_tls takes no buffer size: the class attribute is its only knob
        # (process-wide; DoT/DoH replies are far smaller too)
        protocol = asyncio.sslproto.SSLProtocol
        protocol.max_size = min(protocol.max_size, _TLS_BUFFER)

    # -- rounds -----------------------------------------------------------------

    async def run(self, followups: Iterable[FollowUp], round_id: str, sink: Sink) -> int:
        """Follow every pair; each observation goes to `sink` as soon as it is complete.
        Returns the number of observations made."""
        pending = iter(followups)
        made = 0

        async def worker() -> None:
            nonlocal made
            for followup in pending:  # shared iterator: at most `concurrency` in flight
                for observation in await self.follow(followup, round_id):
                    sink(observation)
                    made += 1

        self._destinations.clear()
        async with asyncio.TaskGroup() as group:
            for _ in range(self.config.concurrency):
                group.create_task(worker())
        self._destinations.clear()
        return made

    async def follow(self, followup: FollowUp, round_id: str) -> list[WebObservation]:
        """One (name, address): every https port, then every http port."""
        ports = [(p, True) for p in self.config.https_ports]
        ports += [(p, False) for p in self.config.http_ports]
        return [await self.observe(followup, port, tls, round_id) for port, tls in ports]

    async def observe(self, followup: FollowUp, port: int, tls: bool,
                      round_id: str) -> WebObservation:
        started_at, started = _now_us(), time.monotonic_ns()
        name, address = followup.name, followup.address
        scheme = "https" if tls else "http"
        tls_step: TlsStep | None = None
        http: HttpStep | None = None
        hops: tuple[HttpStep, ...] = ()
        async with self._slot(address):
            connect, conn = await self._connect(address, port)
            if conn is not None and tls:
                tls_step, conn = await self._handshake(conn, name, address, port)
            if conn is not None:
                url = _url(scheme, name, port, "/")
                http = await self._get(conn, name, "/", url)
        if http is not None and self.config.follow_redirects:
            hops = await self._follow_redirects(http, name, address)
        return WebObservation(
            observation_id=new_measurement_id(), round_id=round_id, started_at_us=started_at,
            duration_us=_since_us(started), name=name, address=address, port=port,
            scheme=scheme, dns_measurement_ids=followup.dns_measurement_ids, connect=connect,
            tls=tls_step, http=http, redirects=hops)

    # -- steps ------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _slot(self, address: str) -> Any:
        destination = self._destinations.get(address)
        if destination is None:
            destination = _Destination(asyncio.Semaphore(self.config.destination_concurrency))
            self._destinations[address] = destination
        async with destination.slots:
            await self._pace(destination)
            yield

    async def _pace(self, destination: _Destination) -> None:
        now = asyncio.get_running_loop().time()
        at = max(now, destination.next_at)
        destination.next_at = at + 1.0 / self.config.destination_rate
        if at > now:
            await asyncio.sleep(at - now)

    async def _connect(self, address: str, port: int) -> tuple[ConnectStep, _Conn | None]:
        started = time.monotonic_ns()
        timeout = self.config.connect_timeout_s
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(address, port,
                                                               limit=_READ_CHUNK)
        except TimeoutError:
            return ConnectStep(_since_us(started), Failure.TIMEOUT,
                               f"no connection within {timeout:g}s"), None
        except OSError as exc:
            return ConnectStep(_since_us(started), failure_of(exc), describe(exc)), None
        return ConnectStep(_since_us(started)), _Conn(reader, writer)

    async def _handshake(self, conn: _Conn, name: str, address: str,
                         port: int) -> tuple[TlsStep, _Conn | None]:
        """TLS with SNI = name. A certificate that does not verify is fetched again over
        an unverified handshake, so it is recorded and the request still goes out."""
        started = time.monotonic_ns()
        try:
            ssl_object = await self._start_tls(conn, self._verifying, name)
        except ssl.SSLCertVerificationError as exc:
            conn.abort()
            _drop_traceback(exc)
            return await self._unverified_handshake(exc, name, address, port, started)
        except (OSError, TimeoutError, ssl.SSLError, EOFError) as exc:
            conn.abort()
            _drop_traceback(exc)
            return self._tls_failure(exc, started), None
        certificate = from_peercert(ssl_object.getpeercert() or {},
                                    ssl_object.getpeercert(binary_form=True) or b"")
        return TlsStep(_since_us(started), version=ssl_object.version() or "",
                       cipher=_cipher(ssl_object), certificate=certificate,
                       chain_verified=True, name_matches=True), conn

    async def _unverified_handshake(self, verify: ssl.SSLCertVerificationError, name: str,
                                    address: str, port: int,
                                    started: int) -> tuple[TlsStep, _Conn | None]:
        code = verify.verify_code
        reason = f"{verify.verify_message} (X509 error {code})"
        chain_ok = code == _HOSTNAME_MISMATCH
        text = describe(verify)
        step = TlsStep(0, chain_verified=chain_ok, verify_error=reason,
                       failure=Failure.TLS_CERTIFICATE, failure_text=text)
        await self._pace(self._destinations[address])
        connect, conn = await self._connect(address, port)
        if conn is None:
            return _replace_tls(step, started, failure_text=f"{text}; reconnecting to see the "
                                f"certificate: {connect.failure_text}"), None
        try:
            ssl_object = await self._start_tls(conn, self._unverified, name)
            der = ssl_object.getpeercert(binary_form=True) or b""
            certificate = from_der(der)
        except (OSError, TimeoutError, ssl.SSLError, EOFError, ValueError) as exc:
            conn.abort()
            _drop_traceback(exc)
            return _replace_tls(step, started, failure_text=f"{text}; unverified handshake: "
                                f"{describe(exc)}"), None
        return TlsStep(_since_us(started), version=ssl_object.version() or "",
                       cipher=_cipher(ssl_object), certificate=certificate,
                       chain_verified=chain_ok,
                       name_matches=not chain_ok and name_matches(name, certificate.sans),
                       verify_error=reason, failure=Failure.TLS_CERTIFICATE,
                       failure_text=text), conn

    async def _start_tls(self, conn: _Conn, context: ssl.SSLContext,
                         name: str) -> ssl.SSLObject:
        timeout = self.config.tls_timeout_s
        async with asyncio.timeout(timeout):
            await conn.writer.start_tls(context, server_hostname=name,
                                        ssl_handshake_timeout=timeout)
        ssl_object = conn.writer.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject):
            raise ssl.SSLError("no TLS session after the handshake")
        return ssl_object

    def _tls_failure(self, exc: BaseException, started: int) -> TlsStep:
        if isinstance(exc, TimeoutError):
            return TlsStep(_since_us(started), failure=Failure.TIMEOUT,
                           failure_text=f"no handshake within {self.config.tls_timeout_s:g}s")
        failure = failure_of(exc)
        if failure is Failure.UNKNOWN and isinstance(exc, EOFError):
            failure = Failure.CONNECTION_RESET
        return TlsStep(_since_us(started), failure=failure, failure_text=describe(exc))

    async def _get(self, conn: _Conn, host: str, target: str, url: str) -> HttpStep:
        """`GET target` with `Host: host`; the connection is closed afterwards."""
        config = self.config
        started = time.monotonic_ns()
        parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=config.max_header_bytes)
        body = _Body(config.body_bytes, config.max_body_bytes)
        head: h11.Response | None = None
        first_byte = 0
        try:
            async with asyncio.timeout(config.http_timeout_s):
                request = h11.Request(method="GET", target=target, headers=[
                    ("Host", host), ("User-Agent", config.user_agent), ("Accept", "*/*"),
                    ("Connection", "close")])
                conn.writer.write(parser.send(request) + (parser.send(h11.EndOfMessage()) or b""))
                await conn.writer.drain()
                while True:
                    event = parser.next_event()
                    if event is h11.NEED_DATA:
                        data = await conn.reader.read(_READ_CHUNK)
                        if not data and head is None:
                            # h11 would call this a protocol error; it is a close
                            raise ConnectionResetError("connection closed before a response")
                        if not first_byte:
                            first_byte = _since_us(started)
                        parser.receive_data(data)
                    elif isinstance(event, h11.Response):
                        head = event
                    elif isinstance(event, h11.InformationalResponse):
                        continue
                    elif isinstance(event, h11.Data):
                        if not body.add(bytes(event.data)):
                            break
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:  # ConnectionClosed before a response
                        raise ConnectionResetError("connection closed before a response")
        except TimeoutError:
            failure, text = Failure.TIMEOUT, _timeout_text(head, body, config.http_timeout_s)
        except h11.RemoteProtocolError as exc:
            failure, text = _protocol_failure(exc, head)
        except (OSError, ssl.SSLError, EOFError) as exc:
            failure, text = failure_of(exc), describe(exc)
            if failure is Failure.UNKNOWN and isinstance(exc, EOFError):
                failure = Failure.CONNECTION_RESET
        else:
            failure, text = Failure.NONE, ""
        finally:
            # abort, even after a complete response: we sent "Connection: close" and
            # read to the end, and a TLS close_notify exchange would cost a round trip
            # and a task per connection for nothing the record needs
            conn.abort()
        return self._http_step(url, started, first_byte, head, body, failure=failure, text=text)

    def _http_step(self, url: str, started: int, first_byte: int, head: h11.Response | None,
                   body: _Body, *, failure: Failure, text: str) -> HttpStep:
        if head is None:
            return HttpStep(url, _since_us(started), first_byte, failure=failure,
                            failure_text=text)
        headers = select_headers(head.headers.raw_items(), self._kept)
        content_type = next((v for k, v in headers if k == "content-type"), "")
        prefix = bytes(body.prefix)
        return HttpStep(
            url, _since_us(started), first_byte, status=head.status_code,
            reason=head.reason.decode("latin-1")[:256],
            http_version=head.http_version.decode("ascii", "replace"), headers=headers,
            body_length=body.length, body_truncated=body.truncated,
            body_sha256=body.digest.digest(), body_prefix=prefix,
            title=extract_title(prefix, content_type), failure=failure, failure_text=text)

    # -- redirects (opt-in) -------------------------------------------------------

    async def _follow_redirects(self, http: HttpStep, name: str,
                                address: str) -> tuple[HttpStep, ...]:
        hops: list[HttpStep] = []
        current, host, where = http, name, address
        for _ in range(self.config.follow_redirects):
            location = current.header("location")
            if current.status not in _REDIRECTS or not location:
                break
            url = urljoin(current.url, location)
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                break
            if parts.hostname != host:
                host = parts.hostname
                try:
                    where = await asyncio.wait_for(self._resolve(host),
                                                   self.config.connect_timeout_s)
                except (OSError, TimeoutError, IndexError) as exc:
                    hops.append(HttpStep(url, 0, failure=failure_of(exc),
                                         failure_text=f"resolving {host}: {describe(exc)}"))
                    break
            current = await self._hop(url, host, where)
            hops.append(current)
        return tuple(hops)

    async def _hop(self, url: str, host: str, address: str) -> HttpStep:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        async with self._slot(address):
            connect, conn = await self._connect(address, port)
            if conn is None:
                return HttpStep(url, connect.duration_us, failure=connect.failure,
                                failure_text=connect.failure_text)
            if tls:
                try:
                    await self._start_tls(conn, self._verifying, host)
                except (OSError, TimeoutError, ssl.SSLError, EOFError) as exc:
                    conn.abort()
                    _drop_traceback(exc)
                    step = self._tls_failure(exc, time.monotonic_ns())
                    return HttpStep(url, 0, failure=step.failure, failure_text=step.failure_text)
            return await self._get(conn, host, target, url)


def _drop_traceback(exc: BaseException) -> None:
    """Break the cycle a failed handshake leaves: asyncio keeps the exception in a
    future, its traceback holds the TLS protocol and its 256 KiB buffer, and only the
    cycle collector (counting objects, not bytes) would free them: 100+ MB of RSS
    when many handshakes fail."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        current.__traceback__ = None
        current, seen = current.__cause__ or current.__context__, seen + 1


def _cipher(ssl_object: ssl.SSLObject) -> str:
    cipher = ssl_object.cipher()
    return cipher[0] if cipher else ""


def _replace_tls(step: TlsStep, started: int, *, failure_text: str) -> TlsStep:
    return TlsStep(_since_us(started), chain_verified=step.chain_verified,
                   verify_error=step.verify_error, failure=step.failure,
                   failure_text=failure_text[:4096])


def _url(scheme: str, host: str, port: int, path: str) -> str:
    default = 443 if scheme == "https" else 80
    authority = host if port == default else f"{host}:{port}"
    return f"{scheme}://{authority}{path}"


def _timeout_text(head: h11.Response | None, body: _Body, timeout: float) -> str:
    if head is None:
        return f"no complete response head within {timeout:g}s"
    return f"body incomplete after {timeout:g}s ({body.length} bytes read)"


def _protocol_failure(exc: h11.RemoteProtocolError,
                      head: h11.Response | None) -> tuple[Failure, str]:
    text = describe(exc)
    if "peer closed connection" in str(exc):
        return Failure.CONNECTION_RESET, text
    if head is None and "buffer" in str(exc).lower():
        return Failure.MALFORMED_RESPONSE, f"{text} (response head over the limit)"
    return Failure.MALFORMED_RESPONSE, text
