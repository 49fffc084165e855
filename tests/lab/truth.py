"""Ground truth of the multi-country lab world, as data, and the report figures
it implies.

Everything the world does is written down here once: the countries (one
network namespace each), the resolvers every country sees at the same anycast
addresses, which resolver blocks which name, how, in which country and from
which round, the orders (modelled on real cases) and the simulated date of
each probe round. The world builder (`tests/lab/countries.py`) configures real
daemons from it; the end-to-end test and the demo compute every expected report
figure from it with the functions at the bottom. No expected number is written
anywhere else.

The cases, simplified:
- Court of Milan v. Cloudflare (2024): three BitTorrent sites on 1.1.1.1 within
  30 days, later a mirror. As in reality, 1.1.1.1 keeps answering the sites
  normally everywhere: Cloudflare complies on its CDN edge instead, which
  answers HTTP 451 with a legal notice to visitors in Italy, only some weeks
  after the deadline (the policy switch), and never refuses the mirror.
- AGCOM's list for Italian ISPs: the ISP answers with AGCOM's stop page; a
  mirror is added to the list and the ISP applies it one round later.
- Sony Music v. Quad9 (Landgericht Hamburg, 2021): Quad9 blocks in Germany
  with its NXDOMAIN-without-RA style, and the block spills over to France.
- Canal+ v. Cloudflare, Google (Tribunal judiciaire de Paris, 2024): a sports
  streaming site, blocked by Google (REFUSED + EDE 16), by Cloudflare's edge in
  France (HTTP 451; 1.1.1.1 resolves it) and the French ISP (a 127.0.0.1 answer).
- Piracy Shield: Italian ISPs drop packets to the same sports site's address,
  so from Italy the name resolves through every resolver, DoH included, and
  the connection never completes.
- The web (written down beside the DNS, below): the sites' web servers on the
  addresses the zone hands out (Cloudflare-edge addresses for the Milan sites),
  AGCOM's stop page in Italy (its certificate names the stop-page host, not the
  blocked site), an old domain redirecting to its mirror, and a certificate
  that also names a mirror.
- Mirror discovery (issue 14; the collector proposes, probes measure candidates
  at a bounded share of each round): the certificate of kickasstorrents.to
  names kickasstorrents.cr, which serves the same site, and an analyst approves
  it in round 5 (`blockwatch-collector targets approve`) instead of an order
  file adding it; ilcorsaronero.link (AGCOM's list) redirects to
  ilcorsaronero.info, which Italian ISPs still resolve; footybite.cc is the
  Canal+ site under another TLD (the same page), on another edge address; and
  canna.cc is a garden shop under another TLD of canna.to: measured, never
  proposed.
- Switzerland is the control country: nothing is blocked there and its probe
  is registered with `--control`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

from tests.lab.zones import CONTROL_NAME, STOP_PAGE_AGCOM, LabZone, Rr, lab_root_zone

UTC = dt.UTC

# -- time: one probe round per simulated date ----------------------------------------


@dataclass(frozen=True)
class Round:
    number: int
    at: dt.datetime          # the probes' (faked) clock when the round starts, UTC

    @property
    def day(self) -> dt.date:
        return self.at.date()


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=10, tzinfo=UTC)


ROUNDS: tuple[Round, ...] = (
    Round(1, _at("2024-08-01")),   # before the Milan deadline (2024-08-14)
    Round(2, _at("2024-08-20")),   # after it: Cloudflare still resolves in IT
    Round(3, _at("2024-09-03")),   # policy switch: Cloudflare complies in IT
    Round(4, _at("2024-09-17")),   # AGCOM adds a mirror to its list
    Round(5, _at("2024-10-01")),   # the ISP applies it; Milan's mirror reported
)


def round_by_number(number: int) -> Round:
    return next(r for r in ROUNDS if r.number == number)


# -- places and resolvers --------------------------------------------------------------


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    probe: str               # the probe's registered name
    asn: int
    control: bool = False    # registered with --control: the unfiltered reference


COUNTRIES: tuple[Country, ...] = (
    Country("IT", "Italy", "it-milano-1", 3269),
    Country("DE", "Germany", "de-frankfurt-1", 3320),
    Country("FR", "France", "fr-paris-1", 3215),
    Country("CH", "Switzerland", "ch-zurich-1", 3303, control=True),
)
CONTROL_COUNTRY = next(c.code for c in COUNTRIES if c.control)


class Software(StrEnum):
    UNBOUND = "unbound"
    KRESD = "kresd"


class Style(StrEnum):
    """How a resolver answers a blocked name, and the daemon feature that does it."""

    STOP_PAGE = "stop-page"            # unbound RPZ: A 83.224.65.74 (AGCOM's stop page)
    LOCALHOST = "localhost"            # unbound RPZ: A 127.0.0.1
    NXDOMAIN = "nxdomain"              # unbound RPZ: NXDOMAIN, RA set (an ISP)
    DROP = "drop"                      # unbound RPZ rpz-drop: no reply at all
    QUAD9 = "quad9-nxdomain"           # unbound RPZ NXDOMAIN, RA unset, no authority
    REFUSED_EDE16 = "refused-ede16"    # kresd: REFUSED + EDE 16 Censored (Google)
    NXDOMAIN_EDE16 = "nxdomain-ede16"  # kresd: NXDOMAIN + EDE 16 Censored (no operator here)


# What the analysis should call each style (docs/verdicts.md methods).
EXPECTED_METHOD: Mapping[Style, str] = MappingProxyType({
    Style.STOP_PAGE: "sinkhole",   # a country-scoped stop-page fingerprint
    Style.LOCALHOST: "bogon",
    Style.NXDOMAIN: "nxdomain",    # differential: the control vantage resolves
    Style.DROP: "drop",
    Style.QUAD9: "nxdomain",       # the Quad9 behaviour fingerprint
    Style.REFUSED_EDE16: "ede",
    Style.NXDOMAIN_EDE16: "ede",
})
# Styles whose measurement has no response (a failure in the probe's taxonomy).
NO_RESPONSE: frozenset[Style] = frozenset({Style.DROP})


@dataclass(frozen=True)
class Endpoint:
    """One resolver name the collector assigns: an operator over one transport."""

    name: str
    transport: str           # udp | dot | doh


@dataclass(frozen=True)
class Operator:
    """A resolver daemon present in every country at the same address (anycast)."""

    name: str
    address: str
    software: Software
    endpoints: tuple[Endpoint, ...]
    kresd_style: Style | None = None   # kresd blocks one way per daemon
    tls_name: str = ""
    quad9_like: bool = False           # unbound: rpz-signal-nxdomain-ra
    public: str = ""                   # the real address it stands in for (1.1.1.1)

    @property
    def doh_url(self) -> str:
        return f"https://{self.address}/dns-query"


NSD_ADDRESS = "127.0.0.2"
OPERATORS: tuple[Operator, ...] = (
    # The ISP is the namespace's resolv.conf: the probe's "system" resolver.
    Operator("isp", "127.0.0.3", Software.UNBOUND, (Endpoint("isp", "udp"),)),
    # 1.1.1.1 blocks nothing in DNS: Cloudflare's remedies are on its edge (EDGE_BLOCKS).
    Operator("cloudflare", "127.1.1.1", Software.KRESD,
             (Endpoint("cloudflare", "udp"), Endpoint("cloudflare-dot", "dot")),
             tls_name="one.one.one.one", public="1.1.1.1"),
    Operator("google", "127.8.8.8", Software.KRESD, (Endpoint("google", "udp"),),
             kresd_style=Style.REFUSED_EDE16, tls_name="dns.google", public="8.8.8.8"),
    # Knot Resolver 5.6's DoH fails with Python h2 clients; unbound serves DoH.
    Operator("quad9", "127.9.9.9", Software.UNBOUND,
             (Endpoint("quad9", "udp"), Endpoint("quad9-doh", "doh")),
             tls_name="dns.quad9.net", quad9_like=True, public="9.9.9.9"),
)
RESOLVER_OPERATOR: Mapping[str, str] = MappingProxyType(
    {e.name: o.name for o in OPERATORS for e in o.endpoints})
RESOLVERS: tuple[str, ...] = tuple(RESOLVER_OPERATOR)


def operator(name: str) -> Operator:
    return next(o for o in OPERATORS if o.name == name)


# -- orders (imported with `blockwatch-collector targets import`) -----------------------


@dataclass(frozen=True)
class Domain:
    name: str
    mirror: bool = False
    added_round: int = 1     # imported (and measured) from this round on
    # added by an analyst's `targets approve` (on the round's clock) before the
    # round, after discovery proposed it; never in an order file
    approved: bool = False


@dataclass(frozen=True)
class Site:
    name: str
    domains: tuple[Domain, ...]


@dataclass(frozen=True)
class Order:
    order_id: str
    authority: str
    title: str
    issued: dt.date
    deadline: dt.date
    countries: tuple[str, ...]
    intermediaries: tuple[str, ...]   # resolver names, as the collector assigns them
    sites: tuple[Site, ...]
    file_format: str                  # yaml | csv: both importers get exercised

    def domains(self) -> Iterator[tuple[Site, Domain]]:
        for site in self.sites:
            for domain in site.domains:
                yield site, domain


ORDERS: tuple[Order, ...] = (
    Order("it-milan-2024-cloudflare", "Tribunale di Milano",
          "Court of Milan v. Cloudflare: DNS block on 1.1.1.1 (BitTorrent sites)",
          dt.date(2024, 7, 15), dt.date(2024, 8, 14), ("IT",), ("cloudflare", "cloudflare-dot"),
          (Site("kickasstorrents", (Domain("kickasstorrents.to"),
                                    Domain("kickasstorrents.cr", mirror=True, added_round=5,
                                           approved=True))),
           Site("limetorrents", (Domain("limetorrents.pro"),)),
           Site("thepiratebay", (Domain("thepiratebay.org"),))), "yaml"),
    Order("agcom-2024-dda-101", "AGCOM", "AGCOM list: disable access (Italian ISPs)",
          dt.date(2024, 3, 4), dt.date(2024, 3, 6), ("IT",), ("isp",),
          (Site("streamingcommunity", (Domain("streamingcommunity.li"),
                                       Domain("streamingcommunity.ooo", mirror=True,
                                              added_round=4))),
           Site("ilcorsaronero", (Domain("ilcorsaronero.link"),))), "csv"),
    Order("de-hamburg-2021-quad9", "Landgericht Hamburg",
          "Sony Music v. Quad9: DNS block of a music piracy site",
          dt.date(2021, 5, 12), dt.date(2021, 6, 1), ("DE",), ("quad9", "quad9-doh"),
          (Site("canna", (Domain("canna.to"), Domain("canna-power.to", mirror=True))),),
          "yaml"),
    Order("fr-paris-2024-canal", "Tribunal judiciaire de Paris",
          "Canal+ v. Cloudflare, Google: sports streaming",
          dt.date(2024, 5, 16), dt.date(2024, 5, 19), ("FR",),
          ("google", "cloudflare", "cloudflare-dot"),
          (Site("footybite", (Domain("footybite.to"),)),), "yaml"),
)
CONTROL_DOMAINS: tuple[str, ...] = (CONTROL_NAME, "www." + CONTROL_NAME)

# Answers of the names the standard lab zone lacks (public-looking on purpose:
# documentation ranges would read as bogons).
EXTRA_RECORDS: tuple[Rr, ...] = (
    Rr("streamingcommunity.li.", "A", "185.15.59.40"),
    Rr("streamingcommunity.ooo.", "A", "185.15.58.41"),
    Rr("ilcorsaronero.link.", "A", "104.26.4.50"),
    Rr("canna.to.", "A", "81.169.145.70"),
    Rr("canna-power.to.", "A", "81.169.146.71"),
    Rr("footybite.to.", "A", "172.67.190.80"),
    # names in no order, for mirror discovery to find (or, canna.cc, not)
    Rr("ilcorsaronero.info.", "A", "5.61.42.90"),
    Rr("footybite.cc.", "A", "172.67.191.81"),
    Rr("canna.cc.", "A", "81.169.147.72"),
)
QTYPES: tuple[str, ...] = ("A",)   # the stop page has no AAAA: A keeps one verdict per name


# -- who blocks what -------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    country: str
    operator: str
    domains: tuple[str, ...]
    style: Style
    from_round: int = 1
    why: str = ""


_MILAN = ("kickasstorrents.to", "limetorrents.pro", "thepiratebay.org")
_AGCOM = ("streamingcommunity.li", "ilcorsaronero.link")

BLOCKS: tuple[Block, ...] = (
    Block("IT", "isp", _AGCOM, Style.STOP_PAGE, 1, "AGCOM list: the ISP's stop page"),
    Block("IT", "isp", ("streamingcommunity.ooo",), Style.STOP_PAGE, 5,
          "mirror added to the AGCOM list in round 4, applied one round later"),
    Block("IT", "isp", ("thepiratebay.org",), Style.DROP, 1,
          "blocked by Italian ISPs for years; this one drops the query"),
    Block("IT", "google", _MILAN + _AGCOM, Style.REFUSED_EDE16, 1,
          "Google applies Italian orders to 8.8.8.8"),
    Block("DE", "isp", ("canna.to",), Style.NXDOMAIN, 1, "CUII: German ISPs' DNS blocks"),
    Block("DE", "quad9", ("canna.to", "canna-power.to"), Style.QUAD9, 1, "Sony v. Quad9"),
    Block("FR", "quad9", ("canna.to",), Style.QUAD9, 1,
          "spillover: Quad9 applies the German order in France too"),
    Block("FR", "google", ("footybite.to",), Style.REFUSED_EDE16, 1, "Canal+ v. Google"),
    Block("FR", "isp", ("footybite.to",), Style.LOCALHOST, 1, "French ISP: 127.0.0.1"),
)



# -- the web layer: who serves the sites, who refuses them where ------------------------
#
# Every country reaches the same web servers at the addresses the zone hands out
# (each country's namespace holds them on its loopback, served by that country's
# nginx), except where this section says otherwise. The probes follow every
# target's answers on these ports (docs/web.md); controls are never followed.

WEB_PORTS: tuple[int, ...] = (443, 80)      # the probe's defaults: TLS + HTTP, plain HTTP
EDGE = "cloudflare"                         # the CDN whose edge serves the Milan sites


@dataclass(frozen=True)
class WebHost:
    """One web server on one address: the names it serves (its certificate's SANs)."""

    address: str
    names: tuple[str, ...]          # Host names served; () = any Host (a default server)
    title: str                      # the page's <title>
    operator: str                   # who runs the address: EDGE or a hosting provider
    redirect_to: str = ""           # answers 301 with Location https://<redirect_to>/
    cert_names: tuple[str, ...] = ()  # the certificate's names, when not `names`
    countries: tuple[str, ...] = ()   # () = reachable in every country

    @property
    def sans(self) -> tuple[str, ...]:
        return self.cert_names or self.names

    @property
    def location(self) -> str:
        return f"https://{self.redirect_to}/" if self.redirect_to else ""

    def serves_in(self, country: str) -> bool:
        return not self.countries or country in self.countries


STOP_PAGE_HOST = "stop.agcom.lab"          # the name on the stop page's own certificate
STOP_PAGE_TITLE = "AGCOM Stop Page"
NOTICE_TITLE = "Unavailable For Legal Reasons"   # the edge's 451 page (RFC 7725)
_KICKASS = ("kickasstorrents.to", "kickasstorrents.cr")   # one certificate names both

WEB_HOSTS: tuple[WebHost, ...] = (
    WebHost("104.21.32.10", _KICKASS, "Kickass Torrents", EDGE),
    WebHost("172.67.161.20", _KICKASS, "Kickass Torrents", EDGE),     # the mirror
    WebHost("172.67.170.30", ("limetorrents.pro",), "LimeTorrents", EDGE),
    WebHost("162.159.136.6", ("thepiratebay.org",), "The Pirate Bay", EDGE),
    WebHost("172.67.190.80", ("footybite.to",), "Footybite: live football", EDGE),
    # the same site under another TLD, on another edge address (its own certificate)
    WebHost("172.67.191.81", ("footybite.cc",), "Footybite: live football", EDGE),
    # canna.to's label under another TLD, an unrelated site: never a mirror
    WebHost("81.169.147.72", ("canna.cc",), "Canna Garden Supplies", "hoster-de"),
    WebHost("185.15.59.40", ("streamingcommunity.li",), "StreamingCommunity", "hoster-nl"),
    WebHost("185.15.58.41", ("streamingcommunity.ooo",), "StreamingCommunity", "hoster-nl"),
    # the old domain moved: AGCOM's list names it, the ISPs' resolvers do not
    # know the new one (ilcorsaronero.info: the redirect is discovery's evidence)
    WebHost("104.26.4.50", ("ilcorsaronero.link",), "", "hoster-us",
            redirect_to="ilcorsaronero.info"),
    WebHost("5.61.42.90", ("ilcorsaronero.info",), "Il Corsaro Nero", "hoster-ru"),
    # the old domain moved to its mirror: the server says so with a Location
    WebHost("81.169.145.70", ("canna.to",), "", "hoster-de", redirect_to="canna-power.to"),
    WebHost("81.169.146.71", ("canna-power.to",), "Canna Power", "hoster-de"),
    # what Italian ISPs' stop-page answer leads to; its certificate is its own
    WebHost(STOP_PAGE_AGCOM, (), STOP_PAGE_TITLE, "agcom", cert_names=(STOP_PAGE_HOST,),
            countries=("IT",)),
)


def web_host(address: str, country: str) -> WebHost | None:
    return next((h for h in WEB_HOSTS if h.address == address and h.serves_in(country)), None)


@dataclass(frozen=True)
class EdgeBlock:
    """The edge answers HTTP 451 with a legal notice for `domains` to clients in
    `country` from a round on (a geo-block: elsewhere it serves them normally)."""

    country: str
    operator: str
    order_id: str
    domains: tuple[str, ...]
    from_round: int = 1
    why: str = ""


@dataclass(frozen=True)
class IpBlock:
    """The network (the ISP) drops packets to an address: connections time out
    whichever resolver named it, while every resolver answers the name normally."""

    country: str
    operator: str
    address: str
    ports: tuple[int, ...] = WEB_PORTS
    from_round: int = 1
    why: str = ""


EDGE_BLOCKS: tuple[EdgeBlock, ...] = (
    EdgeBlock("IT", EDGE, "it-milan-2024-cloudflare", _MILAN, 3,
              "Cloudflare complies with the Milan order on its edge, late: 1.1.1.1 still "
              "resolves the sites, Italian visitors get HTTP 451; the mirror is never refused"),
    EdgeBlock("FR", EDGE, "fr-paris-2024-canal", ("footybite.to",), 1,
              "Canal+ v. Cloudflare: the edge refuses the site in France"),
)
IP_BLOCKS: tuple[IpBlock, ...] = (
    IpBlock("IT", "isp", "172.67.190.80", WEB_PORTS, 1,
            "Piracy Shield: the Italian ISP drops packets to the sports site's address"),
)


def notice(block: EdgeBlock) -> str:
    """The legal notice's text on the edge's 451 page."""
    order = next(o for o in ORDERS if o.order_id == block.order_id)
    return (f"This site is not available in your country ({block.country}) by order of "
            f"{order.authority} ({order.order_id}).")


def edge_blocks(country: str, round_number: int) -> dict[str, EdgeBlock]:
    """Domain -> the edge block in force for it in `country` during a round."""
    return {d: b for b in EDGE_BLOCKS if b.country == country and b.from_round <= round_number
            for d in b.domains}


def ip_blocked(country: str, address: str, port: int, round_number: int) -> IpBlock | None:
    return next((b for b in IP_BLOCKS if (b.country, b.address) == (country, address)
                 and port in b.ports and b.from_round <= round_number), None)


def web_changes(round_number: int) -> list[str]:
    """Countries whose web layer (edge policy, IP blocks) differs from the previous round's."""
    blocks: list[EdgeBlock | IpBlock] = [*EDGE_BLOCKS, *IP_BLOCKS]
    return sorted({b.country for b in blocks
                   if b.from_round == round_number and round_number > 1})

def consistency_problems() -> list[str]:
    """What would make this ground truth unusable (tests assert the list is empty)."""
    problems = []
    zone = lab_root_zone(NSD_ADDRESS, extra=EXTRA_RECORDS)
    listed = {d.name for o in ORDERS for _, d in o.domains()}
    for b in BLOCKS:
        op = operator(b.operator)
        if b.country == CONTROL_COUNTRY:
            # The classifier takes the control vantage's answers as the reference.
            problems.append(f"{b}: the control country must block nothing")
        if op.software is Software.KRESD and b.style is not op.kresd_style:
            problems.append(f"{b}: kresd {op.name} blocks only as {op.kresd_style}")
        if op.software is Software.UNBOUND and b.style in (Style.REFUSED_EDE16,
                                                            Style.NXDOMAIN_EDE16):
            problems.append(f"{b}: unbound 1.17 attaches no EDE to RPZ answers")
        if (b.style is Style.QUAD9) != op.quad9_like and b.style in (Style.QUAD9,
                                                                     Style.NXDOMAIN):
            problems.append(f"{b}: RA-unset NXDOMAIN is a per-daemon unbound setting")
        problems += [f"{b}: {d} is in no order" for d in b.domains if d not in listed]
    problems += [f"{d}: no A record in the lab zone" for d in sorted(listed)
                 if not zone.expected(d)]
    for o in ORDERS:
        problems += [f"{o.order_id}: {r} is no resolver name" for r in o.intermediaries
                     if r not in RESOLVER_OPERATOR]
    return problems + _web_problems(zone, listed)


def _web_problems(zone: LabZone, listed: set[str]) -> list[str]:
    problems = []
    served = {n for h in WEB_HOSTS for n in h.names}   # mirrors' names too (in no order)
    problems += [f"{n}: served on the web, but not in the lab zone" for n in sorted(served)
                 if not zone.expected(n)]
    for c in COUNTRIES:
        for d in sorted(listed | served):
            problems += [f"{c.code}: {d}'s address {a} has no web server" for a in
                         zone.expected(d) if web_host(a, c.code) is None]
        redirects = any(b.style is Style.STOP_PAGE for b in BLOCKS if b.country == c.code)
        if redirects and web_host(STOP_PAGE_AGCOM, c.code) is None:
            problems.append(f"{c.code}: the ISP answers the stop page, nobody serves it")
    problems += [f"{b}: the edge blocks in DNS" for b in BLOCKS if b.operator == EDGE]
    for e in EDGE_BLOCKS:
        problems += [f"{e}: {d} is not on {e.operator}'s edge" for d in e.domains
                     for a in zone.expected(d) if (h := web_host(a, e.country)) is None
                     or h.operator != e.operator]
    for ip in IP_BLOCKS:
        names = [d for d in sorted(listed) if ip.address in zone.expected(d)]
        if not names:
            problems.append(f"{ip}: no order's domain resolves to {ip.address}")
        problems += [f"{ip}: {d} does not resolve normally through {b.operator}, so not "
                     f"every path reaches the dropped address"
                     for b in BLOCKS if b.country == ip.country for d in names
                     if d in b.domains]
    return problems


def policy(country: str, operator_name: str, round_number: int) -> dict[str, Style]:
    """Names the operator's daemon in `country` blocks during a round, and how."""
    out: dict[str, Style] = {}
    for b in BLOCKS:
        if b.country == country and b.operator == operator_name and b.from_round <= round_number:
            out.update(dict.fromkeys(b.domains, b.style))
    return out


def policy_changes(round_number: int) -> list[tuple[str, str]]:
    """(country, operator) whose policy differs from the previous round's."""
    return sorted({(b.country, b.operator) for b in BLOCKS
                   if b.from_round == round_number and round_number > 1})


def imports_before(round_number: int) -> bool:
    """True if an order file gains a domain in this round (the orders are re-imported)."""
    return round_number == 1 or any(d.added_round == round_number and not d.approved
                                    for o in ORDERS for _, d in o.domains())


def approvals(round_number: int) -> list[tuple[Order, Site, Domain]]:
    """Candidates an analyst approves before this round (`targets approve`)."""
    return [(o, s, d) for o in ORDERS for s, d in o.domains()
            if d.approved and d.added_round == round_number]


# -- mirror candidates: what probes measure beyond the orders -----------------------------
#
# Which candidates a round measures is the collector's schedule (a window that
# moves each check-in, derived candidates first: docs/mirrors.md), not a fact of
# the world: the campaign reads it from what the probes measured and passes it
# in as a CandidatePlan. What those measurements show is the world's, below;
# tests/lab/truthmirrors.py says which candidates discovery should propose.

CANDIDATE_SHARE = 0.3          # the collector's assignment.candidate_share
DISCOVERY_INTERVAL_S = 1.0     # assignment.discovery_interval_s: a pass a second
CandidatePlan = Mapping[int, frozenset[str]]   # round -> candidates every probe measured
NO_CANDIDATES: CandidatePlan = MappingProxyType({})


def candidate_budget(round_number: int) -> int:
    """The most candidates a round may hold: at most CANDIDATE_SHARE of the round's
    names (targets, controls and candidates), at least one."""
    others = len(order_domains(round_number)) + len(CONTROL_DOMAINS)
    share = Fraction(CANDIDATE_SHARE).limit_denominator(1000)
    return max(1, math.floor(share * others / (1 - share)))


# -- the measurements and verdicts the world implies ------------------------------------


@dataclass(frozen=True)
class Expected:
    """One expected measurement (qtype A) and the verdict the analysis should give."""

    round: Round
    country: Country
    resolver: str
    domain: str
    site: str                # "" for control domains and candidates
    blocked: bool
    method: str              # "" unless blocked
    style: Style | None
    purpose: str = "target"  # target | control | candidate

    @property
    def failed(self) -> bool:
        """No response at all (the probe records a failure)."""
        return self.style in NO_RESPONSE


def order_domains(round_number: int) -> list[tuple[Order, Site, Domain]]:
    return [(o, s, d) for o in ORDERS for s, d in o.domains() if d.added_round <= round_number]


def round_names(round_number: int, candidates: CandidatePlan = NO_CANDIDATES
                ) -> dict[str, tuple[str, str]]:
    """Every name a probe measures in a round: name -> (site, purpose)."""
    names = {d.name: (s.name, "target") for _, s, d in order_domains(round_number)}
    names.update(dict.fromkeys(CONTROL_DOMAINS, ("", "control")))
    for name in sorted(candidates.get(round_number, ())):
        names.setdefault(name, ("", "candidate"))
    return names


def expected_measurements(candidates: CandidatePlan = NO_CANDIDATES) -> list[Expected]:
    """Every measurement the probes should record, with its verdict: targets,
    controls and the candidates each round measured."""
    out: list[Expected] = []
    for rnd in ROUNDS:
        names = round_names(rnd.number, candidates)
        for country in COUNTRIES:
            for resolver in RESOLVERS:
                rules = policy(country.code, RESOLVER_OPERATOR[resolver], rnd.number)
                for domain, (site, purpose) in sorted(names.items()):
                    style = rules.get(domain)
                    out.append(Expected(rnd, country, resolver, domain, site, style is not None,
                                        EXPECTED_METHOD[style] if style else "", style,
                                        purpose))
    return out



LOCALHOST_ANSWER = "127.0.0.1"   # Style.LOCALHOST: never followed (not a global address)


def site_address(domain: str, zone: LabZone | None = None) -> str | None:
    """The site's own (first) A address, as a faithful resolver answers it."""
    zone = zone or lab_root_zone(NSD_ADDRESS, extra=EXTRA_RECORDS)
    found = sorted(zone.expected(domain))
    return found[0] if found else None


def answer_address(domain: str, style: Style | None, zone: LabZone) -> str | None:
    """The first A address a resolver's reply gives (None: no address, or one the
    probe never follows)."""
    if style is None:
        return site_address(domain, zone)
    return STOP_PAGE_AGCOM if style is Style.STOP_PAGE else None


@dataclass(frozen=True)
class ExpectedWeb:
    """One expected web observation: a (name, address, port) a probe follows in a
    round, which resolver paths led there, and what the server (or network) does."""

    round: Round
    country: Country
    name: str
    address: str
    port: int
    resolvers: frozenset[str]
    connect_failure: str            # "" or the taxonomy's label ("timeout")
    status: int | None              # None: no HTTP exchange
    title: str | None               # None: not asserted (nginx's own 301 page)
    location: str
    name_matches: bool | None       # TLS only (port 443)
    sans: tuple[str, ...]           # TLS only: the certificate's, as the probe writes them
    why: str


def expected_web(zone: LabZone | None = None, candidates: CandidatePlan = NO_CANDIDATES
                 ) -> list[ExpectedWeb]:
    """Every web follow-up the probes should record: per round, country and target
    (or candidate), one per distinct answer address and port (shared by the
    resolvers that named it). A candidate that does not exist leads nowhere."""
    zone = zone or lab_root_zone(NSD_ADDRESS, extra=EXTRA_RECORDS)
    out: list[ExpectedWeb] = []
    for rnd in ROUNDS:
        domains = sorted(n for n, (_, purpose) in round_names(rnd.number, candidates).items()
                         if purpose != "control")
        for country in COUNTRIES:
            edge = edge_blocks(country.code, rnd.number)
            for domain in domains:
                led: dict[str, set[str]] = defaultdict(set)
                for resolver in RESOLVERS:
                    style = policy(country.code, RESOLVER_OPERATOR[resolver],
                                   rnd.number).get(domain)
                    if (address := answer_address(domain, style, zone)) is not None:
                        led[address].add(resolver)
                for address, resolvers in sorted(led.items()):
                    host = web_host(address, country.code)
                    assert host is not None, (country.code, address)
                    for port in WEB_PORTS:
                        out.append(_outcome(rnd, country, domain=domain, address=address,
                                            port=port, resolvers=frozenset(resolvers),
                                            host=host, edge=edge.get(domain)))
    return out


def _outcome(rnd: Round, country: Country, *, domain: str, address: str, port: int,
             resolvers: frozenset[str], host: WebHost, edge: EdgeBlock | None) -> ExpectedWeb:
    tls = port == 443
    if (drop := ip_blocked(country.code, address, port, rnd.number)) is not None:
        return ExpectedWeb(rnd, country, domain, address, port, resolvers, "timeout", None,
                           None, "", None, (), drop.why)
    if edge is not None and host.operator == edge.operator:
        status, title, location, why = 451, NOTICE_TITLE, "", edge.why
    elif host.redirect_to:
        status, title, location, why = 301, None, host.location, "moved to its mirror"
    else:
        status, title, location = 200, host.title, ""
        why = "the stop page" if address == STOP_PAGE_AGCOM else "served normally"
    return ExpectedWeb(rnd, country, domain, address, port, resolvers, "", status, title,
                       location, (domain in host.sans) if tls else None,
                       tuple(f"DNS:{n}" for n in host.sans) if tls else (), why)

# -- expected report figures (the analysts' JSON keys) ---------------------------------


def _dominant(methods: dict[str, int]) -> str | None:
    """The report's rule: most blocked measurements; ties go to the later name."""
    if not methods:
        return None
    return max(methods.items(), key=lambda kv: (kv[1], kv[0]))[0]


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass
class _Tally:
    blocked: int = 0
    total: int = 0
    methods: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, e: Expected) -> None:
        self.total += 1
        if e.blocked:
            self.blocked += 1
            self.methods[e.method] += 1


def _targets(rounds: tuple[Round, ...] = ROUNDS) -> list[Expected]:
    keep = {r.number for r in rounds}
    return [e for e in expected_measurements()
            if e.purpose == "target" and not e.country.control and e.round.number in keep]


def expected_effectiveness() -> list[dict[str, object]]:
    tallies: dict[tuple[str, str, str], _Tally] = defaultdict(_Tally)
    for e in _targets():
        tallies[(e.country.code, e.resolver, e.site)].add(e)
    return [{"country": c, "resolver": r, "site": s, "blocked": t.blocked, "total": t.total,
             "share_blocked_pct": _pct(t.blocked, t.total), "method": _dominant(t.methods),
             "filtered": 0, "inconclusive": 0}
            for (c, r, s), t in sorted(tallies.items())]


def _order_of(domain: str) -> Order:
    return next(o for o in ORDERS for _, d in o.domains() if d.name == domain)


def expected_spillover() -> list[dict[str, object]]:
    tallies: dict[tuple[str, str, str, str], _Tally] = defaultdict(_Tally)
    for e in _targets():
        order = _order_of(e.domain)
        if e.country.code not in order.countries:
            tallies[(order.order_id, e.country.code, e.resolver, e.site)].add(e)
    return [{"order": o, "country": c, "resolver": r, "site": s, "blocked": t.blocked,
             "total": t.total, "share_blocked_pct": _pct(t.blocked, t.total),
             "method": _dominant(t.methods)}
            for (o, c, r, s), t in sorted(tallies.items()) if t.blocked]


def expected_leakage() -> list[dict[str, object]]:
    """Rows that resolved since the deadline; `last_resolved` as a round."""
    resolved: dict[tuple[str, str, str, str], list[Expected]] = defaultdict(list)
    totals: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for e in _targets():
        order = _order_of(e.domain)
        if e.country.code not in order.countries or e.round.day < due(order, e.domain):
            continue
        key = (order.order_id, e.country.code, e.resolver, e.site)
        totals[key] += 1
        if not e.blocked:
            resolved[key].append(e)
    return [{"order": o, "country": c, "resolver": r,
             "intermediary": "yes" if r in _order(o).intermediaries else "no", "site": s,
             "resolved": len(resolved[(o, c, r, s)]), "total": n,
             "share_resolved_pct": _pct(len(resolved[(o, c, r, s)]), n),
             "last_resolved_round": max(e.round.number for e in resolved[(o, c, r, s)])}
            for (o, c, r, s), n in sorted(totals.items()) if resolved[(o, c, r, s)]]


def _order(order_id: str) -> Order:
    return next(o for o in ORDERS if o.order_id == order_id)


def due(order: Order, domain: str) -> dt.date:
    """The day a domain is due: the day it joined the order (its import round's
    date; the issue date for the first import) plus the order's grace (issue to
    deadline). A mirror added later is not due from the order's deadline."""
    d = next(d for _, d in order.domains() if d.name == domain)
    added = order.issued if d.added_round == 1 else round_by_number(d.added_round).day
    return max(order.deadline, added + (order.deadline - order.issued))


def _lateness(order: Order, mine: list[Expected], as_of: dt.date
              ) -> tuple[str, dt.date | None, Round | None, int | None]:
    """(status, monitoring since, first blocked round, days late) of one intermediary:
    days late only where the measurements show it (docs/reports.md)."""
    if not mine:
        return "not measured", None, None, None
    began = min(e.round.day for e in mine)
    blocked = [e for e in mine if e.blocked]
    first = min((e.round for e in blocked), key=lambda r: r.at, default=None)
    open_after = [e for e in mine if not e.blocked and e.round.day >= due(order, e.domain)]
    if first is None:
        if as_of <= order.deadline:
            return "never blocked", began, None, 0
        return "never blocked", began, None, \
            (as_of - order.deadline).days if open_after else None
    gap = (first.day - began).days
    status = "blocked when monitoring began" if gap == 0 else \
        f"first seen blocked after {gap} day{'' if gap == 1 else 's'} of monitoring"
    late = (first.day - order.deadline).days
    if late <= 0:
        return status, began, first, 0
    evidenced = began <= order.deadline or any(e.round.at < first.at for e in open_after)
    return status, began, first, late if evidenced else None


def expected_compliance(as_of: dt.date) -> list[dict[str, object]]:
    """Per order and intermediary; `first_blocked_round` instead of a timestamp."""
    out: list[dict[str, object]] = []
    targets = _targets()
    for order in ORDERS:
        for resolver in order.intermediaries:
            mine = [e for e in targets if e.resolver == resolver
                    and e.country.code in order.countries and _order_of(e.domain) is order]
            status, began, first, late = _lateness(order, mine, as_of)
            since = [e for e in mine if e.round.day >= due(order, e.domain)]
            mirrors = {d.name for _, d in order.domains() if d.mirror}
            latest: dict[str, Expected] = {}
            for e in sorted(mine, key=lambda e: e.round.at):
                if e.domain in mirrors:
                    latest[e.domain] = e
            n_blocked = sum(e.blocked for e in since)
            out.append({
                "order": order.order_id, "intermediary": resolver,
                "deadline": order.deadline.isoformat(), "status": status,
                "monitoring_since": began.isoformat() if began else None,
                "first_blocked_round": first.number if first else None,
                "days_late": late, "blocked_since_deadline": n_blocked,
                "total_since_deadline": len(since),
                "share_blocked_pct": _pct(n_blocked, len(since)),
                "mirrors": len(latest),
                "mirrors_resolving": sum(not e.blocked for e in latest.values()),
                "mirrors_overdue": sum(not e.blocked and e.round.day >= due(order, d)
                                       for d, e in latest.items())})
    return sorted(out, key=lambda r: (str(r["order"]), str(r["intermediary"])))


def expected_timeline() -> list[dict[str, object]]:
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    for e in _targets():
        tallies[(e.round.day.isoformat(), e.resolver)].add(e)
    return [{"day": d, "resolver": r, "blocked": t.blocked, "total": t.total,
             "share_blocked_pct": _pct(t.blocked, t.total)}
            for (d, r), t in sorted(tallies.items())]


def expected_probes(candidates: CandidatePlan = NO_CANDIDATES) -> list[dict[str, object]]:
    """Per probe: measurements (candidates too), failures, blocked targets; never a
    blocked control."""
    rows = []
    every = expected_measurements(candidates)
    for c in sorted(COUNTRIES, key=lambda c: c.probe):
        mine = [e for e in every if e.country is c]
        rows.append({"probe": c.probe, "country": c.code, "asn": c.asn,
                     "control": "yes" if c.control else "no", "measurements": len(mine),
                     "failures": sum(e.failed for e in mine), "errors": 0,
                     "blocked": sum(e.blocked and e.purpose == "target" for e in mine),
                     "blocked_controls": 0})
    return rows
