"""kill -9 of probes and of the collector, at random points and deterministically
between the database insert and the ack, while probes measure continuously
against the lab resolvers; afterwards every measurement the probes recorded is
stored exactly once."""

from __future__ import annotations

import os
import random
import statistics
import time
from pathlib import Path

from tests.lab.world import GOOGLE_ADDR, ISP_ADDR, QUAD9_ADDR, Lab
from tests.reliability.conftest import Figures, Sizes
from tests.reliability.harness import Collector, Probe, count_stored

DOMAINS = [f"n{i}.example-control.org" for i in range(4)] + [
    "kickasstorrents.to", "limetorrents.pro"]
RESOLVERS = [{"name": "isp", "address": ISP_ADDR}, {"name": "quad9", "address": QUAD9_ADDR},
             {"name": "google", "address": GOOGLE_ADDR}]
KINDS = ("probe", "collector", "collector-insert-ack")
ACK_DELAY_S = 0.5


def _wait(condition: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_kill_9_cycles_store_every_recorded_measurement_exactly_once(  # noqa: PLR0915
        lab: Lab, tmp_path: Path, sizes: Sizes, figures: Figures) -> None:
    began = time.monotonic()
    seed = int(os.environ.get("BLOCKWATCH_RELIABILITY_SEED", "20261122"))
    rng = random.Random(seed)
    # every kind at least a third of the time, in a random order
    kinds = [KINDS[i % 3] for i in range(sizes.cycles)]
    rng.shuffle(kinds)
    collector = Collector(tmp_path / "collector")
    probes = [Probe(tmp_path / name, name, collector.add_probe(name, country),
                    f"unix:{collector.socket}", resolvers=RESOLVERS, domains=DOMAINS)
              for name, country in (("crash-it-1", "IT"), ("crash-de-1", "DE"))]
    collector.start(ack_delay_s=ACK_DELAY_S if kinds and kinds[0] == KINDS[2] else 0.0)
    for probe in probes:
        probe.start()
    done = {kind: 0 for kind in KINDS}
    window_hits = window_confirmed = 0
    try:
        assert _wait(lambda: len(collector.inserts()) >= 2, 60), "nothing was ever stored"
        for i, kind in enumerate(kinds):
            if kind == "probe":
                time.sleep(rng.uniform(0.05, 1.5))
                victim = rng.choice(probes)
                victim.kill()
                victim.start()
            elif kind == "collector":
                time.sleep(rng.uniform(0.05, 1.5))
                collector.kill()
            else:
                if collector.ack_delay_s == 0:   # restarted without the delay: add it
                    collector.stop()
                    collector.start(ack_delay_s=ACK_DELAY_S)
                before = len(collector.inserts())
                # insert returned, ack held back: kill inside the window
                if _wait(lambda before=before: len(collector.inserts()) > before, 15):
                    collector.kill()
                    window_hits += 1
                    lines = collector.inserts()[before:]
                    in_window = {key.split(":", 1)[1] for line in lines for key in line.split()}
                    spooled = set().union(*(p.counts().batch_ids for p in probes))
                    # stored, yet still in a spool: the probe never saw the ack
                    window_confirmed += bool(in_window & spooled)
                else:
                    collector.kill()
            done[kind] += 1
            if collector.proc is None:
                following = kinds[i + 1] if i + 1 < len(kinds) else ""
                collector.start(ack_delay_s=ACK_DELAY_S if following == KINDS[2] else 0.0)
            time.sleep(rng.uniform(0.1, 0.6))
        cycles_s = time.monotonic() - began
        # Let them finish: measure one more round each and deliver everything.
        if collector.proc is None:
            collector.start()
        for probe in probes:
            probe.stop()
        for probe in probes:
            result = probe.drain(60)
            assert result.returncode == 0, result.stderr[-2000:]
            assert "0 left in the spool" in result.stderr
    finally:
        for probe in probes:
            probe.kill()
        collector.stop()
    stored = count_stored(collector)
    counts = [p.counts() for p in probes]
    recorded = sum(c.recorded for c in counts)
    figures.record(
        "crash_cycles", seed=seed, cycles=len(kinds), kills=done,
        insert_ack_window_kills=window_hits, insert_ack_window_confirmed=window_confirmed,
        probe_starts=sum(p.starts for p in probes), collector_starts=len(collector.starts),
        collector_start_s_median=round(statistics.median(collector.starts), 2),
        collector_start_s_max=round(max(collector.starts), 2),
        recorded=recorded, stored_rows=stored["rows"], stored_unique=stored["unique"],
        duplicated=stored["rows"] - stored["unique"], lost=recorded - stored["unique"],
        rejected=sum(c.rejected for c in counts), cycles_s=round(cycles_s, 1),
        total_s=round(time.monotonic() - began, 1))
    assert all(c.pending == 0 and c.rejected == 0 and c.dropped == 0 for c in counts)
    assert stored["rows"] == stored["unique"] == recorded
    if done[KINDS[2]]:
        assert window_confirmed >= 1, "no kill landed between the insert and the ack"
