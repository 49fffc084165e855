"""The offline demo: a four-country lab world (DNS and web servers), the
collector on embedded chDB, one probe per country with web follow-up, five
rounds on simulated dates with policy switches and mirror candidates measured
beside the orders (one proposed mirror approved in round 5), then the analysts'
reports (the site layer by default: the first layer that blocks; the Milan
story told from the DNS and site layers), the mirror candidates, a chart and
the HTML report.

    python -m tests.lab.demo            (as root; scripts/demo.sh sets it all up)

Seals itself in a private network namespace (the collector and the report
commands run there), builds one more namespace per country (tests/lab/
countries.py) from the ground truth in tests/lab/truth.py, and runs the same
campaign as the end-to-end test (tests/lab/campaign.py). The collector's data
directory (its embedded chDB in db/) is kept in ./blockwatch-demo-data/, the
chart and the HTML report in ./blockwatch-demo-report/, and the demo ends with
the `blockwatch report … --db` commands to run on that database next;
everything else (daemons, probes, namespaces) is torn down.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.lab import truth
from tests.lab.campaign import (
    SETTLE_S,
    Campaign,
    CampaignError,
    RoundResult,
    campaign,
    faketime_library,
)
from tests.lab.netns import enter_private_netns
from tests.lab.process import LabServerError, missing_programs

REPORT_DIR = Path("blockwatch-demo-report")   # relative to where the demo was started
DATA_DIR = Path("blockwatch-demo-data")       # the collector's data directory, kept


def _fresh_data_dir(path: Path) -> None:
    """Start from an empty data directory; only a previous demo's is replaced."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        sys.exit(f"{path} exists and is not a directory; move it away")
    if path.exists() and any(path.iterdir()):
        if not (path / "db" / "metadata" / "blockwatch.sql").exists():
            sys.exit(f"{path} exists and holds no previous demo's database; move it away")
        shutil.rmtree(path)
    path.mkdir(exist_ok=True)


def _next_commands(db: Path, last_day: str) -> None:
    """What a newcomer can run on the kept database (no collector holds it now)."""
    exe = Path(sys.executable).parent / "blockwatch"
    cli = str(exe) if exe.exists() else "blockwatch"
    dsn = f"--db chdb://{db}"
    step("next: the database is kept; try")
    for args in (f"report compliance --until {last_day}",
                 "report compliance --order it-milan-2024-cloudflare --by domain "
                 f"--until {last_day}",
                 "report effectiveness --country Italy --by domain",
                 "report leakage --order agcom-2024-dda-101 --format csv",
                 "report timeline --country IT --png timeline.png",
                 "report probes --format json"):
        say(f"  {cli} {args} {dsn}")


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def say(text: str) -> None:
    print(text, flush=True)


def _round_line(result: RoundResult) -> None:
    rnd = result.round
    news = [b for b in truth.BLOCKS if b.from_round == rnd.number and rnd.number > 1]
    added = [d.name for o in truth.ORDERS for _, d in o.domains()
             if d.added_round == rnd.number and rnd.number > 1 and not d.approved]
    step(f"round {rnd.number}: {rnd.at:%Y-%m-%d %H:%M} UTC on the probes' clocks (libfaketime)")
    for name in added:
        say(f"  order update: mirror {name} imported (blockwatch-collector targets import)")
    for line in result.changes:
        if ": mirror of " in line:
            say(f"  analyst approves a proposed mirror (blockwatch-collector targets approve, "
                f"on the round's clock): {line}")
    for b in news:
        say(f"  policy switch: {b.country} {b.operator} now blocks {', '.join(b.domains)} "
            f"({b.style}): {b.why}")
    for e in truth.EDGE_BLOCKS:
        if e.from_round == rnd.number and rnd.number > 1:
            say(f"  policy switch: {e.country} {e.operator}'s edge now answers HTTP 451 for "
                f"{', '.join(e.domains)}: {e.why}")
            say("  (1.1.1.1 still resolves the sites: the DNS layer sees nothing; the probes' "
                "web follow-up records the 451s, which the site layer counts as the edge's)")
    for ip in truth.IP_BLOCKS:
        if ip.from_round == rnd.number and rnd.number > 1:
            say(f"  policy switch: {ip.country} {ip.operator} now drops packets to "
                f"{ip.address}: {ip.why}")
    for line in result.changes:
        if not line.startswith("orders:") and ": mirror of " not in line:
            say(f"  lab: {line}")
    counts = ", ".join(f"{probe} {len(rows)}" for probe, rows in result.measurements.items())
    failures = sum(1 for rows in result.measurements.values() for r in rows if r["failure"])
    say(f"  measured and uploaded in {result.seconds:.1f}s: {counts} "
        f"({failures} without a reply)")
    web = [r for rows in result.web.values() for r in rows]
    refused = sum(1 for r in web if r["http"] and r["http"]["status"] == 451)
    stop = sum(1 for r in web if r["http"] and r["http"]["title"] == truth.STOP_PAGE_TITLE)
    timeouts = sum(1 for r in web if r["connect"]["failure"] == "timeout")
    say(f"  web follow-up: {len(web)} observations ({refused} HTTP 451, {stop} stop pages, "
        f"{timeouts} connect timeouts)")
    candidates = sorted({m["domain"] for rows in result.measurements.values() for m in rows
                         if m.get("purpose") == "candidate"})
    shown = ", ".join(c for c in candidates if truth.site_address(c)) or "none that exist"
    say(f"  mirror candidates measured: {len(candidates)} (of which resolving: {shown})")


MILAN = "it-milan-2024-cloudflare"


def milan_story(c: Campaign) -> list[str]:
    """The Milan story as the reports tell it (not as the ground truth does): what
    1.1.1.1 answered in the ordered country at the DNS layer, and from which day
    the site layer finds the sites refused, how and by whom."""
    order = next(o for o in truth.ORDERS if o.order_id == MILAN)
    country = order.countries[0]
    lines = []
    for site in order.sites:
        domain = site.domains[0].name
        for resolver in order.intermediaries[:1]:
            dns = c.report("effectiveness", "--layer", "dns", "--order", MILAN, "--country",
                           country, "--resolver", resolver, "--site", site.name, "--by",
                           "domain")
            row = next((r for r in dns if r["domain"] == domain), None)
            days = c.report("timeline", "--layer", "site", "--order", MILAN, "--country",
                            country, "--resolver", resolver, "--site", site.name)
            first = next((r for r in days if r["blocked"]), None)
            if row is None:
                continue
            public = truth.operator(truth.RESOLVER_OPERATOR[resolver]).public
            who = f"{public} ({resolver})" if public else resolver
            said = (f"{who} resolves {domain} in {country} "
                    f"({row['total'] - row['blocked']} of {row['total']} answers normal)"
                    if not row["blocked"] else
                    f"{who} blocks {domain} in {country} ({row['method']})")
            if first is None:
                lines.append(f"  {said}; nothing refuses it at any layer")
            else:
                lines.append(f"  {said}; {first['blocked_by']} answers {first['method']} "
                             f"from {first['day']} ({first['layer']} layer)")
    return lines


def _reports(c: Campaign, out: Path, last_day: str) -> None:
    """The analysts' reports at the end of the campaign, as the demo prints them."""
    step("blockwatch report effectiveness --order it-milan-2024-cloudflare "
         "--country IT   (the site layer: the first layer that blocks)")
    say(c.analyst("report", "effectiveness", "--order", "it-milan-2024-cloudflare",
                  "--country", "IT").rstrip())
    step(f"blockwatch report compliance --until {last_day}")
    say(c.analyst("report", "compliance", "--until", last_day).rstrip())
    step("the Milan story, from the reports (effectiveness --layer dns, "
         "timeline --layer site)")
    for line in milan_story(c):
        say(line)
    step("blockwatch report mirrors: candidates with their evidence")
    say(c.analyst("report", "mirrors").rstrip())
    step("blockwatch report spillover")
    say(c.analyst("report", "spillover").rstrip())
    step(f"blockwatch report html --out {REPORT_DIR}/")
    if out.exists() and not out.is_dir():
        sys.exit(f"{out} exists and is not a directory")
    out.mkdir(exist_ok=True)
    index = Path(c.analyst("report", "html", "--out", str(out), "--until",
                           last_day).strip())
    chart = out / "timeline.png"
    if not chart.exists():   # html writes it; draw it here if that changes
        c.analyst("report", "timeline", "--png", str(chart))
    say(f"  {index}\n  {chart}")


def main() -> int:
    why = enter_private_netns()
    if why:
        sys.exit(f"the demo runs its lab in network namespaces and needs root ({why})")
    missing = missing_programs("nsd", "unbound", "kresd", "ip", "nginx", "nft")
    if missing or faketime_library() is None:
        sys.exit(f"missing: {', '.join(missing) or 'libfaketime'} (run scripts/setup.sh)")
    started = time.monotonic()
    out = REPORT_DIR.resolve()
    data = DATA_DIR.resolve()
    last_day = truth.ROUNDS[-1].day.isoformat()
    try:
        _fresh_data_dir(data)
        with tempfile.TemporaryDirectory(prefix="blockwatch-demo-") as tmp:
            step("ground truth (tests/lab/truth.py): who blocks what, how, from which round")
            for b in truth.BLOCKS:
                say(f"  {b.country} {b.operator:10} {b.style:14} from round {b.from_round}: "
                    f"{', '.join(b.domains)}")
            say("  (cloudflare's 1.1.1.1 resolves every site in every country; its remedy "
                "is its edge:)")
            for e in truth.EDGE_BLOCKS:
                say(f"  {e.country} {e.operator:10} {'edge http-451':14} from round "
                    f"{e.from_round}: {', '.join(e.domains)}")
            for ip in truth.IP_BLOCKS:
                say(f"  {ip.country} {ip.operator:10} {'ip drop':14} from round "
                    f"{ip.from_round}: {ip.address} (every name resolving to it)")
            step("setting up")
            with campaign(Path(tmp), log=say, data_dir=data) as c:
                c.run_all(_round_line)
                step("verdicts: blockwatch report probes --wait --collector …")
                say(f"  the collector classifies a measurement {SETTLE_S:g} s after it arrived (a "
                    "control measurement may still be on its way); reports until then say "
                    "how many await classification")
                waited = c.wait_classified()
                say(f"  everything classified after {waited:.0f}s")
                step("blockwatch reclassify --collector …")
                done = c.reclassify()
                say(f"  {done['measurements']} measurements classified "
                    f"(classifier {done['classifier_version']})")
                _reports(c, out, last_day)
            step("lab stopped: collector, probes, daemons and namespaces are gone; "
                 f"the database stays in {DATA_DIR}/db")
    except (CampaignError, LabServerError) as exc:
        sys.exit(f"demo failed: {exc}")
    _next_commands(data / "db", last_day)
    say(f"demo done in {time.monotonic() - started:.0f}s; open {REPORT_DIR}/index.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
