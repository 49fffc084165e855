"""A long collector outage during probe work: everything is delivered once the
collector is back, and the spool bound behaves as documented: `on_full =
"pause"` starts no new round (and says so), "drop-oldest" drops the oldest
measurements loudly and counts them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.lab.world import Lab
from tests.reliability.conftest import Figures
from tests.reliability.harness import Collector, Probe, count_stored
from tests.reliability.test_crash_cycles import DOMAINS, RESOLVERS

MAX_MB = 0.02
PAUSED = "no new round until the collector takes some"
DROPPED = "SPOOL FULL: dropped"


def test_long_outage_then_everything_is_delivered_and_the_bound_holds(
        lab: Lab, tmp_path: Path, figures: Figures) -> None:
    outage_s = float(os.environ.get("BLOCKWATCH_RELIABILITY_OUTAGE_S", "12"))
    collector = Collector(tmp_path / "collector")
    address = f"unix:{collector.socket}"
    bound = int(MAX_MB * 1024 * 1024)
    probes = {
        "plain": Probe(tmp_path / "plain", "out-plain", collector.add_probe("out-plain", "IT"),
                       address, resolvers=RESOLVERS, domains=DOMAINS),
        "pause": Probe(tmp_path / "pause", "out-pause", collector.add_probe("out-pause", "IT"),
                       address, resolvers=RESOLVERS, domains=DOMAINS, spool={"max_mb": MAX_MB,
                                                           "on_full": "pause"}),
        "drop": Probe(tmp_path / "drop", "out-drop", collector.add_probe("out-drop", "DE"),
                      address, resolvers=RESOLVERS, domains=DOMAINS, spool={"max_mb": MAX_MB,
                                                          "on_full": "drop-oldest"}),
    }
    try:
        for probe in probes.values():
            probe.start()
        time.sleep(outage_s)     # the collector is down all this time
        during = {k: p.counts() for k, p in probes.items()}
        logs = {k: p.log.read_text() for k, p in probes.items()}
        rounds_during = {k: log.count("measurements in") for k, log in logs.items()}
        assert PAUSED in logs["pause"] and during["pause"].dropped == 0
        round_bytes = during["plain"].bytes / max(1, rounds_during["plain"])
        assert during["pause"].bytes <= bound + round_bytes   # one round may cross it
        assert rounds_during["pause"] < rounds_during["plain"]
        assert DROPPED in logs["drop"] and during["drop"].dropped > 0
        assert during["drop"].bytes <= bound
        assert during["plain"].pending == during["plain"].recorded  # nothing went anywhere

        back = time.monotonic()
        collector.start()
        # the running probes deliver the backlog on their own (reconnect backoff)
        recovered: dict[str, float] = {}
        deadline = back + 60
        while len(recovered) < len(probes) and time.monotonic() < deadline:
            for key, probe in probes.items():
                c = probe.counts()
                if key not in recovered and (c.pending == 0 or c.oldest > during[key].recorded):
                    recovered[key] = round(time.monotonic() - back, 1)
            time.sleep(0.1)
        assert len(recovered) == len(probes), f"backlog not delivered within 60s: {recovered}"
        # the paused probe measures again once there is room
        resumed = time.monotonic() + 10
        while probes["pause"].log.read_text().count("measurements in") <= rounds_during["pause"]:
            assert time.monotonic() < resumed, "the paused probe did not resume its rounds"
            time.sleep(0.1)
        for probe in probes.values():
            probe.stop()
        for probe in probes.values():
            result = probe.drain(60)
            assert result.returncode == 0 and "0 left in the spool" in result.stderr, \
                result.stderr[-2000:]
    finally:
        for probe in probes.values():
            probe.kill()
        collector.stop()
    stored = count_stored(collector)
    final = {k: p.counts() for k, p in probes.items()}
    recorded = sum(c.recorded for c in final.values())
    dropped = sum(c.dropped for c in final.values())
    figures.record(
        "outage", outage_s=outage_s, spool_bound_bytes=bound,
        rounds_during_outage=rounds_during,
        spool_bytes_at_end_of_outage={k: c.bytes for k, c in during.items()},
        paused_round_log_lines=logs["pause"].count(PAUSED),
        dropped_log_lines=logs["drop"].count(DROPPED), dropped=dropped,
        backlog_delivered_after_s=recovered, recorded=recorded, stored_rows=stored["rows"],
        stored_unique=stored["unique"], duplicated=stored["rows"] - stored["unique"],
        lost=recorded - dropped - stored["unique"])
    assert all(c.pending == 0 and c.rejected == 0 for c in final.values())
    assert final["plain"].dropped == final["pause"].dropped == 0
    assert stored["rows"] == stored["unique"] == recorded - dropped
