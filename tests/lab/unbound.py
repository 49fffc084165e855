"""Unbound recursive resolver for the lab: sealed, stubbing "." to the lab NSD.

Blocking is an RPZ zone file with one action per name, which is how ISPs
implement court orders. The same instance can serve DoT and DoH.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from tests.lab.netns import NamedNetns
from tests.lab.process import DnsDaemon
from tests.lab.tlsca import ServerCert
from tests.lab.zones import STOP_PAGE_AGCOM, fqdn


class RpzAction(StrEnum):
    """What unbound answers for a blocked name (RPZ QNAME trigger actions)."""

    REDIRECT = "redirect"  # local data: A <stop page> (Italian ISP style)
    NXDOMAIN = "nxdomain"  # CNAME .
    NODATA = "nodata"  # CNAME *.
    DROP = "drop"  # CNAME rpz-drop. : no reply at all -> client timeout
    PASSTHRU = "passthru"  # CNAME rpz-passthru. : allow-list exception


RPZ_ORIGIN = "rpz.blockwatch-lab."


class Unbound(DnsDaemon):
    """Unbound at ``address@port``, recursing only via ``upstream`` (``addr@port``).

    ``blocklist`` maps names (their subdomains too) to an :class:`RpzAction`.
    ``quad9_like`` sets ``rpz-signal-nxdomain-ra: yes`` so RPZ NXDOMAIN answers
    carry RA=0. ``tls`` enables DoT on ``tls_port`` and DoH on ``https_port``
    (path ``http_endpoint``) on the same address; pass ``None`` to either port
    to skip it.
    """

    program = "unbound"

    def __init__(
        self,
        workdir: Path,
        address: str,
        upstream: str,
        port: int = 53,
        *,
        blocklist: Mapping[str, RpzAction] | None = None,
        redirect_a: tuple[str, ...] = (STOP_PAGE_AGCOM,),
        redirect_aaaa: tuple[str, ...] = (),
        quad9_like: bool = False,
        nsid: str | None = None,
        ede: bool = True,
        tls: ServerCert | None = None,
        tls_port: int | None = 853,
        https_port: int | None = 443,
        http_endpoint: str = "/dns-query",
        start_timeout: float = 15.0,
        netns: NamedNetns | None = None,
    ) -> None:
        super().__init__(workdir, address, port, start_timeout=start_timeout, netns=netns)
        self.upstream = upstream
        self.blocklist: dict[str, RpzAction] = {
            fqdn(k): RpzAction(v) for k, v in (blocklist or {}).items()
        }
        self.redirect_a = redirect_a
        self.redirect_aaaa = redirect_aaaa
        self.quad9_like = quad9_like
        self.nsid = nsid
        self.ede = ede
        self.tls = tls
        self.tls_port = tls_port if tls is not None else None
        self.https_port = https_port if tls is not None else None
        self.http_endpoint = http_endpoint

    @property
    def config_path(self) -> Path:
        return self.workdir / "unbound.conf"

    @property
    def rpz_path(self) -> Path:
        return self.workdir / "rpz.zone"

    @property
    def doh_url(self) -> str | None:
        if self.https_port is None:
            return None
        return f"https://{self.address}:{self.https_port}{self.http_endpoint}"

    def rpz_text(self) -> str:
        """RPZ zone: each name and its wildcard (court orders cover subdomains)."""
        lines = [
            f"$ORIGIN {RPZ_ORIGIN}",
            "$TTL 60",
            "@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60",
            "@ NS localhost.",
        ]
        for name, action in sorted(self.blocklist.items()):
            owner = name.rstrip(".")
            for trigger in (owner, f"*.{owner}"):
                lines += [f"{trigger} {rr}" for rr in self._rpz_rrs(action)]
        return "\n".join(lines) + "\n"

    def _rpz_rrs(self, action: RpzAction) -> list[str]:
        match action:
            case RpzAction.REDIRECT:
                return [f"A {a}" for a in self.redirect_a] + [
                    f"AAAA {a}" for a in self.redirect_aaaa
                ]
            case RpzAction.NXDOMAIN:
                return ["CNAME ."]
            case RpzAction.NODATA:
                return ["CNAME *."]
            case RpzAction.DROP:
                return ["CNAME rpz-drop."]
            case RpzAction.PASSTHRU:
                return ["CNAME rpz-passthru."]

    def write_config(self) -> None:
        w = self.workdir
        self.rpz_path.write_text(self.rpz_text())
        ifaces = [f"    interface: {self.address}@{self.port}"]
        tls_lines: list[str] = []
        if self.tls is not None:
            tls_lines += [
                f'    tls-service-key: "{self.tls.key_path}"',
                f'    tls-service-pem: "{self.tls.cert_path}"',
            ]
            if self.tls_port is not None:
                ifaces.append(f"    interface: {self.address}@{self.tls_port}")
                tls_lines.append(f"    tls-port: {self.tls_port}")
            if self.https_port is not None:
                ifaces.append(f"    interface: {self.address}@{self.https_port}")
                tls_lines += [
                    f"    https-port: {self.https_port}",
                    f'    http-endpoint: "{self.http_endpoint}"',
                ]
        nsid = [f'    nsid: "ascii_{self.nsid}"'] if self.nsid else []
        server = "\n".join(
            [
                *ifaces,
                f"    port: {self.port}",
                "    do-ip4: yes",
                "    do-ip6: no",
                "    do-udp: yes",
                "    do-tcp: yes",
                "    num-threads: 1",
                # The probe opens one TLS connection per DoT/DoH query (up to its
                # concurrency, 32); unbound's default of 10 per thread would reset
                # the rest, which a public resolver's fleet does not.
                "    incoming-num-tcp: 256",
                "    access-control: 127.0.0.0/8 allow",
                '    chroot: ""',
                '    username: ""',
                f'    directory: "{w}"',
                f'    pidfile: "{w}/unbound.pid"',
                '    logfile: ""',  # stderr, which start() sends to the log file
                "    use-syslog: no",
                "    log-time-ascii: yes",
                "    verbosity: 1",
                # No validator and no trust anchor: nothing to fetch or prime.
                '    module-config: "respip iterator"',
                # The lab's authoritative server lives on 127.x.
                "    do-not-query-localhost: no",
                # One predictable query per name to NSD; the fake root has ENTs.
                "    qname-minimisation: no",
                f"    ede: {'yes' if self.ede else 'no'}",
                "    hide-identity: yes",
                "    hide-version: yes",
                "    prefetch: no",
                *nsid,
                *tls_lines,
                "",
                "remote-control:",
                "    control-enable: no",
                "",
                # stub-prime: no -> use stub-addr as is, never the built-in root hints.
                "stub-zone:",
                '    name: "."',
                f"    stub-addr: {self.upstream}",
                "    stub-prime: no",
                "",
                "rpz:",
                f"    name: {RPZ_ORIGIN}",
                f'    zonefile: "{self.rpz_path}"',
                "    rpz-log: yes",
                f"    rpz-signal-nxdomain-ra: {'yes' if self.quad9_like else 'no'}",
            ]
        )
        self.config_path.write_text("server:\n" + server + "\n")

    def argv(self) -> list[str]:
        return ["unbound", "-d", "-c", str(self.config_path)]
