"""Exceptions become the closed failure taxonomy (docs/failures.md), from the
exception itself or from what caused it, with the raw text kept beside."""

from __future__ import annotations

import errno
import ssl

import httpx
import pytest

from blockwatch.probe.failures import describe, failure_of
from blockwatch.probe.observation import Failure


def _caused_by(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(("exc", "failure"), [
    (TimeoutError(), Failure.TIMEOUT),
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
     Failure.CONNECTION_REFUSED),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
     Failure.CONNECTION_RESET),
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), Failure.CONNECTION_RESET),
    (EOFError(), Failure.CONNECTION_RESET),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), Failure.NETWORK_UNREACHABLE),
    (OSError(errno.EHOSTUNREACH, "No route to host"), Failure.HOST_UNREACHABLE),
    (OSError(errno.EACCES, "Permission denied"), Failure.OS_ERROR),
    (ssl.SSLCertVerificationError(1, "certificate verify failed"), Failure.TLS_CERTIFICATE),
    (ssl.SSLError(1, "wrong version number"), Failure.TLS_ERROR),
    (httpx.ReadTimeout("timed out"), Failure.TIMEOUT),
    (httpx.RemoteProtocolError("peer closed connection"), Failure.CONNECTION_RESET),
    (ValueError("something else"), Failure.UNKNOWN),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.label)
def test_each_exception_has_its_failure(exc: BaseException, failure: Failure) -> None:
    assert failure_of(exc) is failure


def test_a_wrapper_is_judged_by_its_cause() -> None:
    """httpx's ConnectError says nothing itself: the refused connection under it does."""
    wrapped = _caused_by(httpx.ConnectError("connect failed"),
                         ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
    assert failure_of(wrapped) is Failure.CONNECTION_REFUSED
    certificate = _caused_by(RuntimeError("handshake"),
                             ssl.SSLCertVerificationError(1, "hostname mismatch"))
    assert failure_of(certificate) is Failure.TLS_CERTIFICATE


def test_a_cause_cycle_ends() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__cause__, b.__cause__ = b, a
    assert failure_of(a) is Failure.UNKNOWN


def test_the_raw_text_names_the_exception() -> None:
    assert describe(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")) == (
        "ConnectionRefusedError: [Errno 111] Connection refused")
    assert describe(TimeoutError()) == "TimeoutError"
