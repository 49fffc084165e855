"""Lab world: real DNS daemons (NSD, unbound, kresd) on loopback for tests.

Everything here binds and talks to 127.0.0.0/8 only; resolvers are sealed
(no root priming, no trust-anchor fetches) and stub "." to the lab NSD that
serves a fake root zone, so nothing ever needs the Internet.
"""

from tests.lab.kresd import BlockRcode, EdeBlock, Kresd
from tests.lab.nsd import Nsd
from tests.lab.process import DnsDaemon, LabServerError, missing_programs
from tests.lab.tlsca import LabCA, ServerCert
from tests.lab.unbound import RpzAction, Unbound
from tests.lab.zones import LabZone, Rr, lab_root_zone

__all__ = [
    "BlockRcode",
    "DnsDaemon",
    "EdeBlock",
    "Kresd",
    "LabCA",
    "LabServerError",
    "LabZone",
    "Nsd",
    "RpzAction",
    "Rr",
    "ServerCert",
    "Unbound",
    "lab_root_zone",
    "missing_programs",
]
