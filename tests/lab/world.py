"""The lab's single-country seed: one NSD root, an ISP resolver and stand-ins for
the public resolvers, each with the policy a real operator uses.

The lab-world issue grows this into several countries (one namespace each);
tests import the addresses and policies from here so the ground truth is one
place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.lab.kresd import BlockRcode, EdeBlock, Kresd
from tests.lab.nsd import Nsd
from tests.lab.tlsca import LabCA
from tests.lab.unbound import RpzAction, Unbound
from tests.lab.zones import LabZone

NSD_ADDR = "127.0.0.2"
ISP_ADDR = "127.0.0.3"  # unbound, Italian-ISP style RPZ, plus DoT/DoH
QUAD9_ADDR = "127.0.0.4"  # unbound, rpz-signal-nxdomain-ra
GOOGLE_ADDR = "127.0.0.5"  # kresd, REFUSED + EDE 16, plus DoT/DoH
KRES_NX_ADDR = "127.0.0.6"  # kresd, NXDOMAIN + EDE 16
TLS_NAME = "dns.lab.test"
GOOGLE_TEXT = "blocked by a court order (lab)"
NX_TEXT = "lab: NXDOMAIN by legal order"
ISP_NSID = "isp-it-1"
GOOGLE_NSID = "google-lab"

ISP_BLOCKS = {
    "kickasstorrents.to": RpzAction.REDIRECT,
    "kickasstorrents.cr": RpzAction.REDIRECT,
    "limetorrents.pro": RpzAction.NXDOMAIN,
    "thepiratebay.org": RpzAction.DROP,
}
KRES_BLOCKS = ("kickasstorrents.to", "kickasstorrents.cr", "thepiratebay.org")


@dataclass(frozen=True)
class Lab:
    root: Path
    zone: LabZone
    ca: LabCA
    nsd: Nsd
    isp: Unbound
    quad9: Unbound
    google: Kresd
    kres_nx: Kresd


@contextmanager
def single_country(root: Path) -> Iterator[Lab]:
    """Start every server of the seed world under `root`; stop them on exit."""
    ca = LabCA(root / "ca")
    isp_cert = ca.issue("isp", TLS_NAME, ISP_ADDR)
    google_cert = ca.issue("google", TLS_NAME, GOOGLE_ADDR)
    with (
        Nsd(root / "nsd", NSD_ADDR) as nsd,
        Unbound(root / "isp", ISP_ADDR, nsd.upstream, blocklist=ISP_BLOCKS, nsid=ISP_NSID,
                tls=isp_cert) as isp,
        Unbound(root / "quad9", QUAD9_ADDR, nsd.upstream,
                blocklist=dict.fromkeys(ISP_BLOCKS, RpzAction.NXDOMAIN), quad9_like=True) as quad9,
        Kresd(root / "google", GOOGLE_ADDR, nsd.upstream, blocked=KRES_BLOCKS,
              block=EdeBlock(BlockRcode.REFUSED, 16, GOOGLE_TEXT), nsid=GOOGLE_NSID,
              tls=google_cert) as google,
        Kresd(root / "kresnx", KRES_NX_ADDR, nsd.upstream, blocked=KRES_BLOCKS,
              block=EdeBlock(BlockRcode.NXDOMAIN, 16, NX_TEXT)) as kres_nx,
    ):
        yield Lab(root, nsd.zone, ca, nsd, isp, quad9, google, kres_nx)
