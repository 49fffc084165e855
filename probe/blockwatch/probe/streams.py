"""DNS over TCP, TLS (DoT, RFC 7858) and HTTPS (DoH, RFC 8484).

Each TCP/DoT query opens its own connection, so a reset or a failed TLS
handshake is recorded against the query it hit. DoH keeps one HTTP/2 client
per resolver, as browsers do.
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
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
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
    """RFC 8484 POST queries to one DoH URL over a shared HTTP/2 connection."""

    def __init__(self, url: str, ca_file: str | None, timeout: float) -> None:
        import httpx  # imported here: only probes that measure DoH pay for it

        self.url = url
        self.timeout = timeout
        self._httpx = httpx
        self._client = httpx.AsyncClient(
            http2=True, verify=tls_context(ca_file), timeout=timeout,
            headers={"accept": "application/dns-message",
                     "content-type": "application/dns-message",
                     "user-agent": "blockwatch-probe"},
        )
        # DNS messages are not worth compressing
        self._client.headers.pop("accept-encoding", None)

    async def query(self, query: bytes) -> StreamOutcome:
        started = time.monotonic_ns()
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._client.post(self.url, content=query)
                body = await response.aread()
        except TimeoutError:
            return StreamOutcome(_since(started), failure=Failure.TIMEOUT,
                                 failure_text=f"no response within {self.timeout:g}s")
        except self._httpx.HTTPError as exc:
            return StreamOutcome(_since(started), failure=classify(exc), failure_text=describe(exc))
        except (OSError, ssl.SSLError) as exc:
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
        await self._client.aclose()


def _since(started_ns: int) -> int:
    return (time.monotonic_ns() - started_ns) // 1000
