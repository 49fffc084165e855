"""DNS over TCP, TLS (DoT, RFC 7858) and HTTPS (DoH, RFC 8484).

Every query opens its own connection, so a reset, a closed connection or a
failed TLS handshake is recorded against the query it hit and no other.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any

from blockwatch.probe.errors import ProbeError
from blockwatch.probe.failures import describe, failure_of
from blockwatch.probe.observation import Failure

_LENGTH = struct.Struct("!H")
MAX_MESSAGE = 65535


@dataclass(slots=True)
class StreamOutcome:
    elapsed_us: int
    reply: bytes = b""
    failure: Failure = Failure.NONE
    failure_text: str = ""


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificate-verifying client context; `ca_file` replaces the system store."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def query_stream(
    query: bytes,
    address: str,
    port: int,
    timeout: float,
    *,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> StreamOutcome:
    """One query over a fresh TCP connection (TLS when `tls` is given). The time
    ends when the reply has arrived: the connection is closed in the background,
    since a TLS close may wait for the server's close_notify (up to a second)."""
    started = time.monotonic_ns()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                address, port, ssl=tls, server_hostname=server_hostname if tls else None
            )
            writer.write(_LENGTH.pack(len(query)) + query)
            await writer.drain()
            (length,) = _LENGTH.unpack(await reader.readexactly(2))
            reply = await reader.readexactly(length)
    except TimeoutError:
        return StreamOutcome(_since(started), failure=Failure.TIMEOUT,
                             failure_text=f"no response within {timeout:g}s")
    except asyncio.IncompleteReadError as exc:
        return StreamOutcome(_since(started), failure=Failure.CONNECTION_RESET,
                             failure_text=f"connection closed after {len(exc.partial)} bytes")
    except (OSError, ssl.SSLError) as exc:
        return StreamOutcome(_since(started), failure=failure_of(exc), failure_text=describe(exc))
    finally:
        if writer is not None:
            _close_in_background(writer)
    return StreamOutcome(_since(started), reply=reply)


_CLOSING: set[asyncio.Task[None]] = set()  # referenced until done, or the loop drops them


def _close_in_background(writer: asyncio.StreamWriter) -> None:
    writer.close()
    task = asyncio.get_running_loop().create_task(_wait_closed(writer))
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)


async def _wait_closed(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 1.0)


class BodyTooLarge(ProbeError):
    """A DoH body over the bound: reading stopped there."""


class DohClient:
    """RFC 8484 POST queries to one DoH URL, each on its own HTTP/2 connection.

    Why not one shared connection: a resolver that drops a blocked query may
    close the connection (unbound does), and every query multiplexed on it would
    then record a reset it did not cause."""

    def __init__(self, url: str, ca_file: str | None, timeout: float) -> None:
        import httpx  # imported here: only probes that measure DoH pay for it

        self.url = url
        self.timeout = timeout
        self._httpx = httpx
        self._tls = tls_context(ca_file)

    async def query(self, query: bytes) -> StreamOutcome:
        httpx = self._httpx
        started = time.monotonic_ns()
        headers = {"accept": "application/dns-message",
                   "content-type": "application/dns-message", "user-agent": "blockwatch-probe"}
        try:
            async with asyncio.timeout(self.timeout), httpx.AsyncClient(
                    http2=True, verify=self._tls, timeout=self.timeout) as client:
                client.headers.pop("accept-encoding", None)  # DNS is not worth compressing
                async with client.stream("POST", self.url, content=query,
                                         headers=headers) as response:
                    # an error page is shown in part; a reply is read up to the bound
                    limit = MAX_MESSAGE if response.status_code == 200 else 200
                    body = await _read_bounded(response, limit)
                    elapsed = _since(started)
        except TimeoutError:
            return StreamOutcome(_since(started), failure=Failure.TIMEOUT,
                                 failure_text=f"no response within {self.timeout:g}s")
        except BodyTooLarge as exc:
            return StreamOutcome(_since(started), failure=Failure.MALFORMED_RESPONSE,
                                 failure_text=str(exc))
        except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
            return StreamOutcome(_since(started), failure=failure_of(exc),
                                 failure_text=describe(exc))
        if response.status_code != 200:
            return StreamOutcome(
                elapsed, failure=Failure.HTTP_ERROR,
                failure_text=f"HTTP {response.status_code}: {body[:200]!r}",
            )
        return StreamOutcome(elapsed, reply=body)

    async def close(self) -> None:
        """Nothing is kept open between queries."""


async def _read_bounded(response: Any, limit: int) -> bytes:
    """At most `limit` bytes of the body (an error page: its first bytes); a DNS
    reply longer than `limit` raises BodyTooLarge without reading further, so a
    hostile server cannot fill the probe's memory."""
    declared = response.headers.get("content-length", "")
    if limit == MAX_MESSAGE and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"response body of {int(declared)} bytes (Content-Length) "
                           f"exceeds {limit}")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            if limit < MAX_MESSAGE:
                return bytes(body[:limit])
            raise BodyTooLarge(f"response body exceeds {limit} bytes: stopped reading "
                               f"after {len(body)}")
    return bytes(body)


def _since(started_ns: int) -> int:
    return (time.monotonic_ns() - started_ns) // 1000
