"""The offline demo: a lab world, the collector on embedded chDB, one probe.

    python -m tests.lab.demo            (as root; scripts/demo.sh sets it all up)

Seals itself in a private network namespace, starts the seed lab (NSD root,
an Italian-ISP unbound with an RPZ blocklist, Quad9- and Google-style public
resolver stand-ins), imports the example orders, registers a probe, serves the
collector on a unix socket, runs one probe round that uploads, and shows what
was stored. Everything is torn down at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.lab.netns import enter_private_netns
from tests.lab.probe_cli import write_config
from tests.lab.world import GOOGLE_ADDR, ISP_ADDR, QUAD9_ADDR, single_country

EXAMPLES = Path(__file__).resolve().parents[2] / "collector/blockwatch/collector/examples"
COLLECTOR = [sys.executable, "-m", "blockwatch.collector"]
PROBE = [sys.executable, "-m", "blockwatch.probe"]


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run(argv: list[str], **kwargs: object) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv[2:4])} failed ({result.returncode}):\n{result.stderr}")
    return str(result.stdout)


def main() -> int:
    why = enter_private_netns()
    if why:
        sys.exit(f"the demo runs its lab in a private network namespace and needs root ({why})")
    with tempfile.TemporaryDirectory(prefix="blockwatch-demo-") as tmp:
        root = Path(tmp)
        step("starting the lab: NSD root, ISP unbound (RPZ), Quad9- and Google-style resolvers")
        with single_country(root / "lab") as lab:
            data = root / "collector"
            data.mkdir()
            base = [*COLLECTOR]
            step("importing the example orders (Court of Milan v. Cloudflare, AGCOM list)")
            for example in ("milan-cloudflare.yaml", "agcom-isp-list.csv"):
                print(run([*base, "targets", "import", str(EXAMPLES / example),
                           "--data-dir", str(data)]).strip())
            step("registering probe it-lab-1 (IT, AS64500)")
            token = run([*base, "probes", "add", "it-lab-1", "--country", "IT", "--asn", "64500",
                         "--data-dir", str(data)]).strip().splitlines()[-1].split()[-1]
            token_file = root / "probe.token"
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
            sock = data / "collector.sock"
            step("starting the collector on embedded chDB")
            collector = subprocess.Popen([*base, "serve", "--data-dir", str(data), "--unix",
                                          str(sock)], stderr=(root / "collector.log").open("w"))
            try:
                deadline = time.monotonic() + 60
                while not sock.exists():
                    if collector.poll() is not None or time.monotonic() > deadline:
                        sys.exit("collector did not start:\n"
                                 + (root / "collector.log").read_text()[-3000:])
                    time.sleep(0.1)
                resolv = root / "resolv.conf"
                resolv.write_text(f"nameserver {ISP_ADDR}\n")
                config = write_config(
                    root / "probe.toml",
                    [{"name": "isp", "address": "system"},
                     {"name": "isp-dot", "transport": "dot", "address": ISP_ADDR,
                      "tls_name": "dns.lab.test", "ca_file": str(lab.ca.ca_path)},
                     {"name": "quad9", "address": QUAD9_ADDR},
                     {"name": "google", "address": GOOGLE_ADDR}],
                    name="it-lab-1", credentials_file=str(token_file), resolv_conf=str(resolv),
                    identity_checks=False,
                    collector={"addresses": [f"unix:{sock}"], "tls": False},
                    spool={"path": str(root / "spool.db")},
                    limits={"timeout_s": 1.0, "listen_window_s": 0.2},
                )
                step("one probe round: targets come from the collector's assignment")
                env = {**os.environ, "COLUMNS": "150"}
                result = subprocess.run([*PROBE, "once", "-c", str(config)], text=True,
                                        capture_output=True, env=env, check=False)
                print(result.stdout)
                print(result.stderr.strip().splitlines()[-2:] and
                      "\n".join(result.stderr.strip().splitlines()[-2:]))
            finally:
                collector.send_signal(signal.SIGTERM)
                collector.wait(60)
            step("the collector's view of its probes")
            listing = json.loads(run([*base, "probes", "list", "--format", "json",
                                      "--data-dir", str(data)]))
            for probe in listing:
                print(f"{probe['name']}: country {probe['country']}, "
                      f"{probe['measurements']} measurements, last seen {probe['last_seen']}")
            step("stored in ClickHouse (chDB), per resolver")
            import clickhouse_connect

            db = clickhouse_connect.get_client(dsn=f"chdb://{data / 'db'}")
            rows = db.query(
                "SELECT resolver_name, count(), countIf(failure = 'none') AS answered, "
                "groupUniqArray(if(failure = 'none', toString(rcode), toString(failure))) "
                "FROM blockwatch.measurements FINAL GROUP BY resolver_name ORDER BY resolver_name"
            ).result_rows
            for name, total, answered, outcomes in rows:
                print(f"{name:10} {total:4} measurements, {answered:4} answered: "
                      f"{', '.join(sorted(map(str, outcomes)))}")
            if not rows:
                sys.exit("nothing was stored")
    print("\nlab stopped; demo done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
