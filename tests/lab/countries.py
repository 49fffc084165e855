"""The multi-country lab world: one network namespace per country, built from
the ground truth in `tests/lab/truth.py`.

Each country is a namespace made with `ip netns add <prefix>-<cc>` whose only
interface is loopback. Inside: NSD serving the lab root (every lab name), the
country's ISP resolver (unbound + RPZ, named in the namespace's resolv.conf),
and the public resolvers at the same 127.x addresses in every country (anycast:
each country's instance has that country's policy). Daemons run with
`ip netns exec` and are started and stopped by pid; namespaces and their
/etc/netns/<name> directories are deleted on exit. The prefix carries the pid
and a random part, so parallel runs never share a name.

The web layer (truth.WEB_HOSTS): every web server's address is added to the
namespace's loopback and one nginx per country serves them all, with
certificates from the lab CA: the sites (the Milan ones on Cloudflare-edge
addresses), AGCOM's stop page in Italy, an old domain redirecting to its
mirror. The edge's geo-block (truth.EDGE_BLOCKS: HTTP 451 with a legal notice)
is that country's nginx config, proxying the refused names to the edge origin
(tests/lab/edge.py) so the 451 carries Cloudflare's own `Server: cloudflare`
and `CF-RAY` headers, as the real edge's does; an IP block (truth.IP_BLOCKS, Piracy Shield) is
an nftables table in the country's namespace dropping packets to the address
on input, so a connection attempt leaves and is never answered.

Policies change between rounds (`World.enter_round`): unbound rereads its RPZ
file on SIGHUP (checked: the running daemon applies the new zone and flushes
its cache); kresd is restarted with the new policy; nginx reloads its config
on SIGHUP and nftables' table is replaced. Every change is confirmed by asking
the daemon from inside its namespace (DNS queries, HTTP requests) before the
round.

Queries from Python into a namespace go through `NamedNetns.call` (a worker
thread that setns(2)s), never through the caller's own namespace.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from tests.lab import truth
from tests.lab.edge import COLO, EdgeOrigin
from tests.lab.kresd import BlockRcode, EdeBlock, Kresd
from tests.lab.netns import NamedNetns
from tests.lab.nginx import Nginx, Site
from tests.lab.nsd import Nsd
from tests.lab.process import DnsDaemon, LabServerError, log_tail
from tests.lab.tlsca import LabCA, ServerCert
from tests.lab.unbound import RpzAction, Unbound
from tests.lab.zones import STOP_PAGE_AGCOM, LabZone, lab_root_zone

LOCALHOST = "127.0.0.1"
EDE_TEXT: Mapping[truth.Style, str] = MappingProxyType({
    truth.Style.REFUSED_EDE16: "blocked by a court order (lab)",
    truth.Style.NXDOMAIN_EDE16: "lab: blocked per legal order",
})
_RPZ: Mapping[truth.Style, RpzAction] = MappingProxyType({
    truth.Style.STOP_PAGE: RpzAction.REDIRECT,
    truth.Style.LOCALHOST: RpzAction.REDIRECT,
    truth.Style.NXDOMAIN: RpzAction.NXDOMAIN,
    truth.Style.QUAD9: RpzAction.NXDOMAIN,
    truth.Style.DROP: RpzAction.DROP,
})
_REDIRECT_TO: Mapping[truth.Style, str] = MappingProxyType(
    {truth.Style.STOP_PAGE: STOP_PAGE_AGCOM, truth.Style.LOCALHOST: LOCALHOST})


@dataclass
class CountryLab:
    country: truth.Country
    netns: NamedNetns
    nsd: Nsd
    resolvers: dict[str, DnsDaemon] = field(default_factory=dict)   # operator -> daemon
    web: Nginx | None = None

    def daemons(self) -> list[DnsDaemon]:
        return [self.nsd, *self.resolvers.values()]


@dataclass
class World:
    root: Path
    prefix: str
    ca: LabCA
    zone: LabZone
    countries: dict[str, CountryLab]
    certs: dict[str, ServerCert] = field(default_factory=dict)   # web address -> cert
    round: int = 1
    edge_origin: Path | None = None       # the edge's origin socket (edge.py)

    def enter_round(self, number: int) -> list[str]:
        """Apply every policy that changes in round `number`; returns what changed."""
        changed = []
        for code, name in truth.policy_changes(number):
            lab = self.countries[code]
            daemon = lab.resolvers[name]
            rules = truth.policy(code, name, number)
            if isinstance(daemon, Unbound):
                daemon.blocklist = {f"{d}.": _RPZ[s] for d, s in rules.items()}
                daemon.rpz_path.write_text(daemon.rpz_text())
                daemon.send_signal(signal.SIGHUP)   # unbound rereads config and zones
                how = "RPZ rewritten, SIGHUP"
            else:
                assert isinstance(daemon, Kresd)
                daemon.stop()
                daemon.blocked = tuple(sorted(f"{d}." for d in rules))
                daemon.start()
                how = "restarted"
            wait_for_policy(lab, name, rules, self.zone)
            changed.append(f"{code} {name}: {len(rules)} names blocked ({how})")
        for code in truth.web_changes(number):
            lab = self.countries[code]
            assert lab.web is not None
            lab.web.reload(web_sites(code, number, self.certs, self.edge_origin))
            apply_ip_blocks(lab, number)
            wait_for_web(lab, number, self.zone)
            refused = truth.edge_blocks(code, number)
            dropped = {b.address for b in truth.IP_BLOCKS
                       if b.country == code and b.from_round <= number}
            changed.append(f"{code} web: {truth.EDGE} edge answers 451 for {len(refused)} "
                           f"names, {len(dropped)} dropped address"
                           f"{'' if len(dropped) == 1 else 'es'} (nginx reloaded, nftables "
                           "replaced)")
        self.round = number
        return changed

    def check_policies(self, number: int) -> None:
        """Query every resolver in every country for every name: matches the truth."""
        for code, lab in self.countries.items():
            for name in lab.resolvers:
                wait_for_policy(lab, name, truth.policy(code, name, number), self.zone,
                                timeout=0.0)


def _daemon(op: truth.Operator, code: str, workdir: Path, nsd: Nsd, *, ca: LabCA,
            netns: NamedNetns) -> DnsDaemon:
    rules = truth.policy(code, op.name, 1)
    transports = {e.transport for e in op.endpoints}
    cert = ca.issue(f"{op.name}-{code.lower()}", op.tls_name, op.address) \
        if transports & {"dot", "doh"} else None
    if op.software is truth.Software.UNBOUND:
        # One redirect address per daemon, fixed at start: take it from every block
        # this daemon applies in any round, so a later RPZ reload needs no restart.
        redirect = sorted({_REDIRECT_TO[b.style] for b in truth.BLOCKS
                           if b.country == code and b.operator == op.name
                           and b.style in _REDIRECT_TO})
        if len(redirect) > 1:
            raise ValueError(f"{code} {op.name}: unbound redirects to one address only")
        return Unbound(workdir, op.address, nsd.upstream,
                       blocklist={d: _RPZ[s] for d, s in rules.items()},
                       redirect_a=tuple(redirect) or (STOP_PAGE_AGCOM,),
                       quad9_like=op.quad9_like, nsid=f"{op.name}-{code.lower()}", tls=cert,
                       tls_port=853 if "dot" in transports else None,
                       https_port=443 if "doh" in transports else None, netns=netns)
    style = op.kresd_style
    # No style: a kresd that blocks nothing in DNS (Cloudflare's 1.1.1.1).
    block = EdeBlock() if style is None else EdeBlock(
        BlockRcode.REFUSED if style is truth.Style.REFUSED_EDE16 else BlockRcode.NXDOMAIN,
        16, EDE_TEXT[style])
    return Kresd(workdir, op.address, nsd.upstream, blocked=rules,
                 block=block, nsid=f"{op.name}-{code.lower()}",
                 tls=cert, tls_port=853 if "dot" in transports else None, https_port=None,
                 netns=netns)


def unique_prefix() -> str:
    """`bw<pid>-<hex>`: short (interface names and paths stay short) and unique per run."""
    import os

    return f"bw{os.getpid()}-{secrets.token_hex(2)}"


def _parallel(jobs: list[Callable[[], None]]) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


@contextmanager
def multi_country(root: Path, prefix: str | None = None) -> Iterator[World]:
    """Start the whole world under `root`; stop every daemon and delete every
    namespace on exit, whatever happened."""
    prefix = prefix or unique_prefix()
    ca = LabCA(root / "ca")
    zone = lab_root_zone(truth.NSD_ADDRESS, extra=truth.EXTRA_RECORDS)
    labs: dict[str, CountryLab] = {}
    isp = truth.operator("isp")
    origin = EdgeOrigin(root / "edge.sock")
    try:
        origin.start()
        for c in truth.COUNTRIES:
            ns = NamedNetns(f"{prefix}-{c.code.lower()}", resolv_conf=f"nameserver {isp.address}\n")
            ns.create()
            base = root / c.code.lower()
            nsd = Nsd(base / "nsd", truth.NSD_ADDRESS, zone=zone, nsid=f"root-{c.code.lower()}",
                      netns=ns)
            lab = CountryLab(c, ns, nsd)
            labs[c.code] = lab
            for op in truth.OPERATORS:
                lab.resolvers[op.name] = _daemon(op, c.code, base / op.name, nsd, ca=ca, netns=ns)
        # NSD first everywhere (the resolvers' readiness queries do not recurse, but
        # the first probe round should not race NSD), then every resolver at once.
        _parallel([lab.nsd.start for lab in labs.values()])
        _parallel([d.start for lab in labs.values() for d in lab.resolvers.values()])
        certs = web_certificates(ca)
        for lab in labs.values():
            code = lab.country.code
            for host in truth.WEB_HOSTS:
                if host.serves_in(code):
                    _ip(lab.netns, "addr", "add", f"{host.address}/32", "dev", "lo")
            lab.web = Nginx(root / code.lower() / "nginx",
                            web_sites(code, 1, certs, origin.socket_path), netns=lab.netns)
        _parallel([lab.web.start for lab in labs.values() if lab.web is not None])
        for lab in labs.values():
            # after nginx's start, which waits until every listener accepts
            apply_ip_blocks(lab, 1)
            wait_for_web(lab, 1, zone)
        yield World(root, prefix, ca, zone, labs, certs, edge_origin=origin.socket_path)
    finally:
        with contextlib.suppress(Exception):
            _parallel([d.stop for lab in labs.values() for d in lab.daemons()])
        for lab in labs.values():
            for d in lab.daemons():   # any a failed parallel stop left behind
                d.stop()
            if lab.web is not None:
                lab.web.stop()
            lab.netns.delete()    # its addresses and nftables table go with it
        origin.stop()


# -- the web layer ------------------------------------------------------------------------

_NFT_TABLE = "blockwatch_lab"
_STOP_PAGE_TEXT = "Il sito richiesto non e' raggiungibile: inibito su ordine dell'AGCOM."


def _ip(netns: NamedNetns, *args: str) -> None:
    done = subprocess.run(["ip", "-n", netns.name, *args], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise LabServerError(f"ip -n {netns.name} {' '.join(args)}: {done.stderr.strip()}")


def web_certificates(ca: LabCA) -> dict[str, ServerCert]:
    """One certificate per web server, naming what truth says (SANs in order)."""
    return {h.address: ca.issue(f"web-{h.address}", *h.sans) for h in truth.WEB_HOSTS}


def web_sites(code: str, round_number: int, certs: dict[str, ServerCert],
              origin: Path | None = None) -> list[Site]:
    """nginx server blocks of one country in one round: names the edge refuses there
    get the 451 notice (through the edge's origin, when given, for the edge's
    response head), the rest their page (or their redirect)."""
    refused = truth.edge_blocks(code, round_number)
    sites = []
    for host in truth.WEB_HOSTS:
        if not host.serves_in(code):
            continue
        cert = certs[host.address]
        if host.redirect_to:
            sites.append(Site(host.address, host.names, cert, status=301,
                              location=host.location))
            continue
        blocked = {n: refused[n] for n in host.names
                   if n in refused and refused[n].operator == host.operator}
        for block in dict.fromkeys(blocked.values()):
            sites.append(Site(host.address, tuple(n for n in host.names if blocked.get(n) is block),
                              cert, status=451, title=truth.NOTICE_TITLE,
                              text=truth.notice(block), origin=str(origin or ""),
                              colo=COLO.get(code, "")))
        served = tuple(n for n in host.names if n not in blocked)
        if served or not host.names:
            text = _STOP_PAGE_TEXT if host.address == STOP_PAGE_AGCOM else host.title
            sites.append(Site(host.address, served, cert, title=host.title, text=text))
    return sites


def apply_ip_blocks(lab: CountryLab, round_number: int) -> None:
    """Replace the namespace's nftables table with the IP blocks in force."""
    rules = [f"    ip daddr {b.address} tcp dport {{ {', '.join(map(str, b.ports))} }} drop"
             for b in truth.IP_BLOCKS
             if b.country == lab.country.code and b.from_round <= round_number]
    # declaring the table first makes the delete safe when it does not exist yet
    text = (f"table inet {_NFT_TABLE}\ndelete table inet {_NFT_TABLE}\n"
            f"table inet {_NFT_TABLE} {{\n  chain input {{\n"
            "    type filter hook input priority 0; policy accept;\n"
            + "".join(r + "\n" for r in rules) + "  }\n}\n")
    done = subprocess.run(lab.netns.exec_argv(["nft", "-f", "-"]), input=text, text=True,
                          capture_output=True, check=False)
    if done.returncode:
        raise LabServerError(f"{lab.country.code}: nft failed: {done.stderr.strip()}")


def _http_status(address: str, name: str, timeout: float) -> int | None:
    """The status a plain-HTTP GET / with Host: name gets; None if the connect times out."""
    conn = http.client.HTTPConnection(address, 80, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": name})
        return conn.getresponse().status
    except TimeoutError:
        return None
    finally:
        conn.close()


def wait_for_web(lab: CountryLab, round_number: int, zone: LabZone,
                 timeout: float = 10.0) -> None:
    """Block until every web address of the country answers as the truth says for
    this round (asked from inside the namespace, over plain HTTP)."""
    code = lab.country.code
    checks = {(e.name, e.address): e for e in truth.expected_web(zone)
              if e.country.code == code and e.round.number == round_number and e.port == 80}
    deadline = time.monotonic() + timeout

    def mismatches() -> list[str]:
        bad = []
        for (name, address), e in sorted(checks.items()):
            try:
                got = _http_status(address, name, 0.3 if e.connect_failure else 2.0)
            except OSError as exc:
                bad.append(f"{name} at {address}: {exc}")
                continue
            if got != e.status:
                bad.append(f"{name} at {address}: expected {e.status or e.connect_failure}, "
                           f"got {got or 'a timeout'}")
        return bad

    while True:
        bad = lab.netns.call(mismatches)
        if not bad:
            return
        if time.monotonic() >= deadline:
            tail = log_tail(lab.web.log_path) if lab.web is not None else ""
            raise LabServerError(f"{code} web does not follow the ground truth in round "
                                 f"{round_number}:\n" + "\n".join(bad)
                                 + f"\n--- nginx log tail ---\n{tail}")
        time.sleep(0.2)


# -- asking a daemon from inside its namespace --------------------------------------------


def _query(address: str, name: str, timeout: float) -> dns.message.Message | None:
    q = dns.message.make_query(name, dns.rdatatype.A, use_edns=0)
    try:
        return dns.query.udp(q, address, timeout=timeout)
    except dns.exception.Timeout:
        return None


def behaves(reply: dns.message.Message | None, style: truth.Style | None,
            expected: frozenset[str]) -> bool:
    """Does a reply look like `style` (None: a faithful answer of `expected`)?"""
    if style is truth.Style.DROP:
        return reply is None
    if reply is None:
        return False
    rcode = reply.rcode()
    addresses = {rr.to_text() for rrset in reply.answer for rr in rrset
                 if rr.rdtype == dns.rdatatype.A}
    edes = [int(o.code) for o in reply.options if isinstance(o, dns.edns.EDEOption)]
    ra = bool(reply.flags & dns.flags.RA)
    match style:
        case None:
            return rcode == dns.rcode.NOERROR and addresses == set(expected)
        case truth.Style.STOP_PAGE:
            return addresses == {STOP_PAGE_AGCOM}
        case truth.Style.LOCALHOST:
            return addresses == {LOCALHOST}
        case truth.Style.NXDOMAIN:
            return rcode == dns.rcode.NXDOMAIN and ra
        case truth.Style.QUAD9:
            return rcode == dns.rcode.NXDOMAIN and not ra and not reply.authority
        case truth.Style.REFUSED_EDE16:
            return rcode == dns.rcode.REFUSED and 16 in edes
        case truth.Style.NXDOMAIN_EDE16:
            return rcode == dns.rcode.NXDOMAIN and 16 in edes
    return False


def wait_for_policy(lab: CountryLab, operator_name: str, rules: dict[str, truth.Style],
                    zone: LabZone, timeout: float = 10.0) -> None:
    """Block until the operator's daemon answers every lab name as `rules` say
    (checked from inside the country's namespace); LabServerError otherwise."""
    daemon = lab.resolvers[operator_name]
    names = sorted({d.name for o in truth.ORDERS for _, d in o.domains()}
                   | set(truth.CONTROL_DOMAINS))
    deadline = time.monotonic() + timeout

    def mismatches() -> list[str]:
        bad = []
        for name in names:
            style = rules.get(name)
            wait = 0.3 if style is truth.Style.DROP else 2.0
            reply = _query(daemon.address, name, wait)
            if not behaves(reply, style, zone.expected(name)):
                seen = "no reply" if reply is None else dns.rcode.to_text(reply.rcode())
                bad.append(f"{name}: expected {style or 'an answer'}, got {seen}")
        return bad

    while True:
        bad = lab.netns.call(mismatches)
        if not bad:
            return
        if time.monotonic() >= deadline:
            raise LabServerError(f"{lab.country.code} {operator_name} does not follow the "
                                 f"ground truth:\n" + "\n".join(bad)
                                 + f"\n--- log tail ---\n{daemon.log_tail()}")
        time.sleep(0.2)
