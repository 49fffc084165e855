"""Reduce transport exceptions to the closed failure taxonomy (docs/failures.md).

The raw text is always kept beside the class: the taxonomy is for counting,
the text is for the analyst who wants to know exactly what happened.
"""

from __future__ import annotations

import errno
import ssl

from blockwatch.probe.observation import Failure

_ERRNO = {
    errno.ECONNREFUSED: Failure.CONNECTION_REFUSED,
    errno.ECONNRESET: Failure.CONNECTION_RESET,
    errno.EPIPE: Failure.CONNECTION_RESET,
    errno.ECONNABORTED: Failure.CONNECTION_RESET,
    errno.ENETUNREACH: Failure.NETWORK_UNREACHABLE,
    errno.ENETDOWN: Failure.NETWORK_UNREACHABLE,
    errno.EHOSTUNREACH: Failure.HOST_UNREACHABLE,
    errno.EHOSTDOWN: Failure.HOST_UNREACHABLE,
    errno.EADDRNOTAVAIL: Failure.NETWORK_UNREACHABLE,
    errno.ETIMEDOUT: Failure.TIMEOUT,
}


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failure_of(exc: BaseException) -> Failure:
    """The failure class of one exception: its own, else its cause's (wrappers
    such as httpx's ConnectError say nothing themselves)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _own_failure(current)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    return Failure.UNKNOWN


def _own_failure(exc: BaseException) -> Failure | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Failure.TLS_CERTIFICATE
    if isinstance(exc, ssl.SSLError):
        return Failure.TLS_ERROR
    if isinstance(exc, TimeoutError):
        return Failure.TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return Failure.CONNECTION_REFUSED
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError | EOFError):
        return Failure.CONNECTION_RESET
    if isinstance(exc, OSError) and exc.errno is not None:
        return _ERRNO.get(exc.errno, Failure.OS_ERROR)
    return _http_failure(exc)


def _http_failure(exc: BaseException) -> Failure | None:
    # httpx is an optional import path (DoH); match by name to avoid importing it here.
    name = type(exc).__name__
    if name in {"ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout"}:
        return Failure.TIMEOUT
    if name == "ConnectError":
        return None  # its cause (an OSError or SSL error) decides
    if name in {"RemoteProtocolError", "ReadError", "WriteError"}:
        return Failure.CONNECTION_RESET
    if name == "HTTPStatusError":
        return Failure.HTTP_ERROR
    return None
