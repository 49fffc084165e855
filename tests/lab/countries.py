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

Policies change between rounds (`World.enter_round`): unbound rereads its RPZ
file on SIGHUP (checked: the running daemon applies the new zone and flushes
its cache); kresd is restarted with the new policy. Either way the change is
confirmed by querying the daemon from inside its namespace before the round.

Queries from Python into a namespace go through `NamedNetns.call` (a worker
thread that setns(2)s), never through the caller's own namespace.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import secrets
import signal
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
from tests.lab.kresd import BlockRcode, EdeBlock, Kresd
from tests.lab.netns import NamedNetns
from tests.lab.nsd import Nsd
from tests.lab.process import DnsDaemon, LabServerError
from tests.lab.tlsca import LabCA
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

    def daemons(self) -> list[DnsDaemon]:
        return [self.nsd, *self.resolvers.values()]


@dataclass
class World:
    root: Path
    prefix: str
    ca: LabCA
    zone: LabZone
    countries: dict[str, CountryLab]
    round: int = 1

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
    assert style is not None
    rcode = BlockRcode.REFUSED if style is truth.Style.REFUSED_EDE16 else BlockRcode.NXDOMAIN
    return Kresd(workdir, op.address, nsd.upstream, blocked=rules,
                 block=EdeBlock(rcode, 16, EDE_TEXT[style]), nsid=f"{op.name}-{code.lower()}",
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
    try:
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
        yield World(root, prefix, ca, zone, labs)
    finally:
        with contextlib.suppress(Exception):
            _parallel([d.stop for lab in labs.values() for d in lab.daemons()])
        for lab in labs.values():
            for d in lab.daemons():   # any a failed parallel stop left behind
                d.stop()
            lab.netns.delete()


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
