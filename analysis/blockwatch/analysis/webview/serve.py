"""`blockwatch web`: check the flags, open the source, run uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blockwatch.analysis.errors import UsageError

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, port: int) -> None:
    """Refuse an address this machine cannot bind, in one line, before starting."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except (OSError, OverflowError) as exc:
        raise UsageError(f"cannot bind {host}:{port}: {getattr(exc, 'strerror', None) or exc}",
                         field="host") from None


def serve(*, host: str, port: int, db: str | None, database: str, collector: str | None,
          ca: Path | None, registry: Path | None, tls_cert: Path | None,
          tls_key: Path | None, open_db: Callable[[str, str], Any]) -> None:
    import uvicorn

    from blockwatch.analysis.webview.app import create_app
    from blockwatch.analysis.webview.source import LocalSource, RemoteSource, Source

    if bool(db) == bool(collector):
        raise UsageError("give exactly one of --db DSN or --collector ADDRESS", field="db")
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together", field="tls-cert")
    for path, name in ((tls_cert, "tls-cert"), (tls_key, "tls-key"), (ca, "ca-file")):
        if path is not None and not path.is_file():
            raise UsageError(f"{path}: no such file", field=name)
    check_bind(host, port)
    source: Source
    if collector:
        source = RemoteSource(collector, ca)
    else:
        if registry is None:
            raise UsageError("--db needs --registry PATH (the collector's registry.db, "
                             "which holds the analyst tokens)", field="registry")
        if not registry.is_file():
            raise UsageError(f"{registry}: no such registry file", field="registry")
        assert db is not None
        source = LocalSource(open_db(db, database), registry)
    tls = tls_cert is not None
    if not is_loopback(host) and not tls:
        print(f"WARNING: serving on {host}:{port} without TLS: analyst tokens and session "
              "cookies cross the network in clear text; use --tls-cert/--tls-key or bind "
              "127.0.0.1", file=sys.stderr, flush=True)
    scheme = "https" if tls else "http"
    print(f"blockwatch web: {scheme}://{host}:{port}/ (read-only; log in with an analyst "
          "token)", file=sys.stderr, flush=True)
    app = create_app(source, secure_cookies=tls)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None,
                server_header=False, proxy_headers=False)
