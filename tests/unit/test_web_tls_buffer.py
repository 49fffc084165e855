"""Each TLS connection of the web follow-up costs asyncio's per-connection read
buffer; at the default 256 KiB, `concurrency` connections cost 8 MB of RSS."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import ssl
import tracemalloc

from blockwatch.probe.web import WebEngine
from blockwatch.probe.webconfig import WebConfig


async def _connection_bytes() -> int:
    loop = asyncio.get_running_loop()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        # what loop.start_tls creates for every follow-up over TLS
        protocol = asyncio.sslproto.SSLProtocol(loop, asyncio.Protocol(), context,
                                                loop.create_future(), server_hostname="x.test")
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del protocol
    return held


def test_a_follow_up_tls_connection_holds_at_most_64_kib() -> None:
    WebEngine(WebConfig())
    assert asyncio.run(_connection_bytes()) <= 64 * 1024
