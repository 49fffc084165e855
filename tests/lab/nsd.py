"""NSD serving the lab's fake root zone.

Every path NSD would otherwise take from its compiled-in defaults (/etc/nsd,
/var/lib/nsd, /run/nsd) is set to the work dir, and ``-d`` keeps it in the
foreground so the pid we hold is NSD's main process.
"""

from __future__ import annotations

from pathlib import Path

from tests.lab.netns import NamedNetns
from tests.lab.process import DnsDaemon
from tests.lab.zones import LabZone, lab_root_zone


class Nsd(DnsDaemon):
    """Authoritative NSD for "." at ``address@port``.

    ``zone`` defaults to :func:`lab_root_zone` pointing its NS glue at
    ``address``; read ``self.zone`` for the ground truth answers.
    """

    program = "nsd"

    def __init__(
        self,
        workdir: Path,
        address: str,
        port: int = 53,
        *,
        zone: LabZone | None = None,
        nsid: str | None = None,
        start_timeout: float = 15.0,
        netns: NamedNetns | None = None,
    ) -> None:
        super().__init__(workdir, address, port, start_timeout=start_timeout, netns=netns)
        self.zone = zone if zone is not None else lab_root_zone(address)
        self.nsid = nsid

    @property
    def upstream(self) -> str:
        """``addr@port`` form used by resolvers' stub configuration."""
        return f"{self.address}@{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "nsd.conf"

    def write_config(self) -> None:
        w = self.workdir
        (w / "root.zone").write_text(self.zone.to_text())
        nsid = f'    nsid: "ascii_{self.nsid}"\n' if self.nsid else ""
        self.config_path.write_text(f"""\
server:
    ip-address: {self.address}@{self.port}
    port: {self.port}
    do-ip4: yes
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "{w}"
    database: ""
    zonelistfile: "{w}/zone.list"
    xfrdfile: "{w}/xfrd.state"
    xfrdir: "{w}"
    pidfile: "{w}/nsd.pid"
    logfile: "{self.log_path}"
    verbosity: 1
    hide-version: yes
    refuse-any: no
{nsid}
remote-control:
    control-enable: no

zone:
    name: "."
    zonefile: "{w}/root.zone"
""")

    def argv(self) -> list[str]:
        return ["nsd", "-d", "-c", str(self.config_path)]
