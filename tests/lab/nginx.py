"""Debian's nginx for the lab: web sites on 127.x (or in a country namespace),
certificates from the lab CA.

Each `Site` is one server block on its address, ports 80 and (with a
certificate) 443: a page with a status and a title, or a redirect. nginx runs
in the foreground in its own session, owned by pid like the DNS daemons.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.lab.netns import NamedNetns
from tests.lab.process import LabServerError, log_tail
from tests.lab.tlsca import ServerCert


@dataclass(frozen=True)
class Site:
    """One server block. `names` empty: the address's default server (any Host)."""

    address: str
    names: tuple[str, ...] = ()
    cert: ServerCert | None = None     # TLS on https_port when set
    status: int = 200
    title: str = ""
    text: str = ""                     # the page body after the title
    location: str = ""                 # a redirect (status 301/302/307/308) to here
    headers: tuple[tuple[str, str], ...] = field(default=())
    # proxied to this unix socket (tests/lab/edge.py), which answers the page under
    # the edge's own response head; `colo` names the edge's location there
    origin: str = ""
    colo: str = ""

    def page(self) -> str:
        return (f"<!DOCTYPE html><html><head><title>{self.title}</title></head>"
                f"<body><h1>{self.title}</h1><p>{self.text}</p></body></html>\n")


class Nginx:
    """nginx serving `sites`; `start()` returns once every listener accepts."""

    program = "nginx"

    def __init__(self, workdir: Path, sites: Sequence[Site], *, http_port: int = 80,
                 https_port: int = 443, netns: NamedNetns | None = None,
                 workers: int = 1, start_timeout: float = 15.0,
                 wrapper: Sequence[str] = ()) -> None:
        if not sites:
            raise ValueError("nginx needs at least one site")
        self.workdir = Path(workdir)
        self.sites = tuple(sites)
        self.http_port = http_port
        self.https_port = https_port
        self.netns = netns
        self.workers = workers
        self.start_timeout = start_timeout
        self.wrapper = tuple(wrapper)      # e.g. ("taskset", "-c", "1") for the benchmark
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "error.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def listeners(self) -> list[tuple[str, int]]:
        found: set[tuple[str, int]] = set()
        for site in self.sites:
            found.add((site.address, self.http_port))
            if site.cert is not None:
                found.add((site.address, self.https_port))
        return sorted(found)

    def config(self) -> str:
        work = self.workdir
        user = "user root root;" if os.geteuid() == 0 else ""
        temp = "\n".join(f"    {kind}_temp_path {work}/tmp/{kind};"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        servers = "\n".join(self._server(site) for site in self.sites)
        return f"""{user}
daemon off;
worker_processes {self.workers};
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    server_tokens off;
    keepalive_timeout 5;
{temp}
    ssl_protocols TLSv1.2 TLSv1.3;  # 1.22 leaves TLS 1.3 off by default
    ssl_session_cache off;
    ssl_session_tickets off;
{servers}
}}
"""

    def _server(self, site: Site) -> str:
        addr = f"[{site.address}]" if ":" in site.address else site.address
        default = "" if site.names else " default_server"
        listen = [f"    listen {addr}:{self.http_port}{default};"]
        tls = ""
        if site.cert is not None:
            listen.append(f"    listen {addr}:{self.https_port} ssl{default};")
            tls = (f"    ssl_certificate {site.cert.cert_path};\n"
                   f"    ssl_certificate_key {site.cert.key_path};\n")
        names = " ".join(site.names) or "_"
        extra = "".join(f"    add_header {k} \"{v}\" always;\n" for k, v in site.headers)
        if site.location:
            action = f"return {site.status} {site.location};"
        elif site.origin:
            # the origin's Server header replaces nginx's own (proxy_pass_header)
            values = {"Status": str(site.status), "Title": site.title, "Text": site.text,
                      "Colo": site.colo}
            if any("$" in v or "'" in v or "\\" in v for v in values.values()):
                raise ValueError("an origin's page may not contain $, ' or \\")
            action = (f"proxy_pass http://unix:{site.origin}:/; proxy_pass_header Server; "
                      + " ".join(f"proxy_set_header X-Lab-{k} '{v}';" for k, v in values.items()))
        else:
            # `return` with text serves the page straight from the config: no files,
            # no index module, and fast enough for the benchmark
            page = site.page().replace("\\", "\\\\").replace("'", "\\'")
            if "$" in page:
                raise ValueError("a page may not contain '$' (nginx variables)")
            action = f"default_type text/html; return {site.status} '{page}';"
        return ("  server {\n" + "\n".join(listen) + f"\n    server_name {names};\n{tls}"
                f"{extra}    location / {{ {action} }}\n  }}")

    # -- process ------------------------------------------------------------------

    def start(self) -> None:
        if shutil.which(self.program) is None:
            raise LabServerError("nginx is not installed (apt-get install nginx)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "tmp").mkdir(exist_ok=True)
        conf = self.workdir / "nginx.conf"
        conf.write_text(self.config())
        argv = [self.program, "-p", str(self.workdir), "-e", str(self.log_path),
                "-c", str(conf)]
        argv = [*self.wrapper, *argv]
        if self.netns is not None:
            argv = self.netns.exec_argv(argv)
        with (self.workdir / "stdout.log").open("ab") as out:
            self._proc = subprocess.Popen(argv, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        waiting = self.listeners()
        while waiting:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()
                raise LabServerError(f"nginx exited with {code}\n--- log tail ---\n"
                                     f"{log_tail(self.log_path)}")
            if time.monotonic() > deadline:
                self.stop()
                raise LabServerError(f"nginx does not accept on {waiting} within "
                                     f"{self.start_timeout}s\n{log_tail(self.log_path)}")
            waiting = [w for w in waiting if not self._accepts(*w)]
            if waiting:
                time.sleep(0.05)

    def reload(self, sites: Sequence[Site]) -> None:
        """Serve `sites` from now on without dropping the listeners: rewrite the
        config and SIGHUP the master, which starts workers on the new config and
        retires the old ones gracefully (an invalid config is logged and ignored:
        callers confirm the change by asking the server)."""
        if self._proc is None or self._proc.poll() is not None:
            raise LabServerError("nginx is not running")
        if not sites:
            raise ValueError("nginx needs at least one site")
        self.sites = tuple(sites)
        (self.workdir / "nginx.conf").write_text(self.config())
        self._proc.send_signal(signal.SIGHUP)

    def _accepts(self, address: str, port: int) -> bool:
        def attempt() -> bool:
            try:
                with socket.create_connection((address, port), timeout=0.2):
                    return True
            except OSError:
                return False
        return attempt() if self.netns is None else self.netns.call(attempt)

    def stop(self) -> None:
        """SIGTERM (fast shutdown), then SIGKILL to our own process group. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(2)
        # workers are in our session's group (start_new_session: pgid == pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
