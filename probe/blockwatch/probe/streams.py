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

from blockwatch.probe.failures import classify, describe
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
    """One query over a fresh TCP connection (TLS when `tls` is given)."""
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
        return StreamOutcome(_since(started), failure=classify(exc), failure_text=describe(exc))
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
    return StreamOutcome(_since(started), reply=reply)


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
                response = await client.post(self.url, content=query, headers=headers)
                body = await response.aread()
        except TimeoutError:
            return StreamOutcome(_since(started), failure=Failure.TIMEOUT,
                                 failure_text=f"no response within {self.timeout:g}s")
        except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
            return StreamOutcome(_since(started), failure=classify(exc), failure_text=describe(exc))
        if response.status_code != 200:
            return StreamOutcome(
                _since(started), failure=Failure.HTTP_ERROR,
                failure_text=f"HTTP {response.status_code}: {body[:200]!r}",
            )
        if len(body) > MAX_MESSAGE:
            return StreamOutcome(_since(started), failure=Failure.MALFORMED_RESPONSE,
                                 failure_text=f"response of {len(body)} bytes exceeds 65535")
        return StreamOutcome(_since(started), reply=body)

    async def close(self) -> None:
        """Nothing is kept open between queries."""


def _since(started_ns: int) -> int:
    return (time.monotonic_ns() - started_ns) // 1000
