"""Run the reliability suite at full size and rewrite docs/reliability.md.

    python -m tests.reliability.report            (as root, from the repository root)

Full size: 50 kill -9 cycles and 10,000 hostile batches (the issue's numbers);
plain `pytest` runs the same tests smaller (see tests/reliability/conftest.py).
Exit status is pytest's; the document is written from whatever figures the run
produced, with the outcome of every test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reliability.md"
FIGURES = REPO / "docs" / "reliability.json"   # the same figures, for tools
COMMAND = "python -m tests.reliability.report"
FULL = {"BLOCKWATCH_RELIABILITY_CYCLES": "50", "BLOCKWATCH_RELIABILITY_HOSTILE": "10000"}


FINDINGS = """\
## Findings of this suite

Fixed (small changes, each covered by a test here):

1. **collector — malformed request ended the stream with OK.** Bytes that are not a
   `SubmitRequest` (random bytes, truncation, invalid UTF-8 in a string field) made
   the servicer's reader task die with `DecodeError`; the stream then ended with
   status OK and no answer, so a probe could only time out and resend forever.
   Now: answers to the batches before it, then `INVALID_ARGUMENT "malformed
   SubmitRequest, stream ended: <protobuf error>"`, a `rejections{reason="malformed"}`
   metric and the probe's last error (`servicer.py`).
2. **collector — certificate/key mismatch reported as a bind failure.** `serve --cert
   C --key K` with a key of another certificate failed with `cannot listen on
   …: Failed to bind to address`. Now `ConfigError: the private key K does not match
   the certificate C` at start; an unreadable certificate or client CA is named too
   (`settings.check_tls_files`, stdlib `ssl`).
3. **probe — the uploader died on a reset during a write.** grpc.aio raises
   `asyncio.InvalidStateError` (not `AioRpcError`) when `write()` meets an RPC that has
   just ended; it escaped `Uploader.run`, and under `blockwatch-probe run` the upload
   task (which only catches `UploadError`) ended silently: the probe kept measuring
   into its spool and never uploaded again until restarted. Repro: the reset phase of
   `test_network_faults.py` without the fix. Now a lost stream → reconnect (`upload.py`).
4. **probe — reconnecting reused a dead connection.** gRPC channels share the
   process-wide subchannel pool, so the channel opened after the ack watchdog gave up
   rode the same silently dead (half-open) TCP connection; with a black-holed
   connection the probe did not recover within 90 s (only keepalive, 60 + 20 s, could
   notice). Now `grpc.use_local_subchannel_pool = 1`: a reconnect is a new connection
   (half-open recovery ~6 s; the loss phase went from 21 s to ~6 s).
5. **probe — wrong message id accepted over TCP/DoT/DoH.** A stream reply whose id
   differs from the query's was recorded as the answer. Now it is kept with
   `parse_error = "response id X does not match the query's id Y"` and the
   measurement fails `malformed_response` (`runner.py`), as over UDP (where it is a
   stray reply, then a timeout).

6. **No limit on concurrent Submit streams per probe.** 32 of 32 concurrent streams
   of one token were admitted, each able to queue 64 batches of up to 16 MiB. Now
   `MAX_STREAMS_PER_PROBE` (4) streams are admitted per probe and the next gets
   `RESOURCE_EXHAUSTED` (`servicer.py`); `test_security.py` holds 5 open.
7. **One hostile reply withheld a whole batch.** A 4,000-record reply was recorded
   whole; the collector then rejected the batch holding it and the probe moved up to
   500 good measurements to its rejected table. Now the probe records at most the
   collector's limits (`bounds.py`: 256 answers, 16 replies, …) and keeps the raw
   bytes of any reply it cut, so the evidence survives and the batch is accepted.
8. **Reconnect backoff never reset.** The retry counter grew for the life of the
   process. Now the backoff counts failures since the last ack (`upload.py`).

Fixed in the second pass (issue 10: tried as an attacker and an unlucky operator would),
each with a test here that failed before:

11. **probe — upload wedge.** A batch refused as too large (collector `max_measurements`
    below the batch size, or a backlog over the 16 MiB message limit) was resent forever
    and every later batch waited behind it. Now batches are bounded by bytes too
    (`[collector] max_batch_bytes`), a refused batch is split (never stored, so its rows
    take new ids), and one measurement too big for any message goes to `rejected`, logged
    `TOO LARGE` and counted (`spool.py`, `upload.py`).
12. **probe — disk full.** On a 2 MB tmpfs rounds reported measurements never committed,
    the sink retried a growing buffer every 20 ms on the event loop, the upload task died
    on `SpoolError`, and ~6,700 measurements were lost at SIGTERM. Now a reserve file keeps
    room for acks and checkpoints, one `DISK FULL` line names the path, rounds stop (or
    drop per `on_full`), the sink backs off, upload goes on, and rounds resume when space
    returns; anything lost at exit is counted (`spool.py`, `sink.py`, `spoolfiles.py`).
13. **probe and collector — silent task death.** The upload task, the collector's
    classification pass and housekeeping could die for good with health green. Now each
    runs under a supervisor: logged with its traceback, restarted with backoff, counted
    (`blockwatch_task_failures_total{task}`), and the failing service's health turns
    NOT_SERVING; `stop()` always stops the writer (`blockwatch.runtime.supervise`, shared by both).
14. **probe — WAL damage was silent.** A truncated or zeroed WAL tail dropped committed
    measurements without a word. Now a durable high-water mark beside the spool makes the
    loss counted and logged (`SPOOL DAMAGE`); `[spool] fsync` is a documented setting.
15. **collector — duplicates counted twice.** A measurement stored twice was classified
    twice and the daily rollup counted both. Now each measurement id is classified once.
16. **probe — floods pushed the genuine reply out.** Only the first 16 UDP replies were
    kept. Now every reply and distinct answer set is counted, the first and the newest
    distinct replies are kept, and the flood's size is recorded.
17. **probe — stray replies thrown away.** Wrong-id and runt replies were only counted per
    round; a timeout after them became `blocked/drop`. Now they are kept with the query
    they raced and a timeout after them is `injected` or `suspect`, never a drop.
18. **probe — TCP and DoT queries used id 0.** Now random and checked.
19. **collector — connection exhaustion.** 1,100 idle connections took every descriptor.
    Now the soft RLIMIT_NOFILE is raised, connections are capped below it, and
    connections with no call are closed after an idle timeout.
20. **collector — mTLS role confusion.** A probe certificate named like an analyst was
    that analyst. Now `analyst:NAME` certificates are analysts and nothing else is.
21. **Smaller items.** DoH bodies are streamed and cut at their bound (a 300 MB body took
    the probe to 663 MB RSS); `--insecure`/`--metrics` beyond loopback warn at every start;
    `report html --out` never follows a symlink; reclassify's catch-up honours the settle
    time; DoT durations end with the answer (the TLS close cost up to 1 s per query).

Reported, not changed:

22. **mTLS refusals look like network trouble to the probe.** No client certificate,
   one from another CA, or plaintext to the TLS port all read `UNAVAILABLE: failed to
   connect to all addresses; … Socket closed` (gRPC does not surface the TLS alert); a
   wrong CA is clear (`CERTIFICATE_VERIFY_FAILED`).
23. Bytes that are not a `SubmitRequest` end their stream (gRPC parses before the
    servicer sees them): the stream stays usable after every *parseable* bad batch,
    and a fresh stream works after an unparseable one.
"""


# Sections rendered above with their own layout; every other section a test
# records is rendered as a table under the title and introduction given here.
_BESPOKE = {"crash_cycles", "outage", "network_faults", "hostile_batches", "hostile_dns",
            "security", "tls"}
SECTIONS: dict[str, tuple[str, str]] = {
    "wedge": ("Upload wedge: a collector limit below the probe's batch size",
              "The collector accepts at most `max_measurements` per batch, fewer than the "
              "probe's batch size. The probe learns the limit from the refusal, splits the "
              "refused batch (its rows get new ids: it was never stored) and keeps every "
              "other batch's id."),
    "wedge_bytes": ("Upload wedge: a backlog over the gRPC message limit",
                    "Measurements of hostile size build a backlog larger than the collector's "
                    "message limit. Batches are bounded by bytes; one measurement too big for "
                    "any message is moved to the spool's `rejected` table, logged `TOO "
                    "LARGE` and counted."),
    "disk_full": ("Disk full under the spool (a real 2 MB tmpfs)",
                  "The probe's spool lives on a 2 MB tmpfs with lab resolvers and a real "
                  "collector. A full disk stops new rounds with one `DISK FULL` line naming "
                  "the path; nothing is claimed as spooled that was not committed; upload "
                  "goes on; rounds resume when space returns."),
    "wal_damage": ("WAL damage at restart",
                   "The probe is killed with SIGKILL with committed measurements in the WAL; "
                   "the WAL tail is then truncated, zeroed or cut mid-frame. The spool "
                   "counts what was lost against its durable high-water mark and says so "
                   "(`SPOOL DAMAGE`); `silent` counts losses it did not report."),
    "task_death": ("Silent task death (probe)",
                   "An exception is injected into the probe's upload loop twice; the "
                   "supervisor logs `TASK upload FAILED`, restarts it with backoff, and "
                   "every measurement is delivered."),
    "duplicates": ("Duplicates stored and counted",
                   "The same measurements are stored twice under two batch ids through the "
                   "real Submit path (a replay that escapes the ledger). Every report counts "
                   "each measurement id once, before and after a reclassify."),
    "connection storm": ("Connection storms",
                         "1,100 idle HTTP/2 connections with no token against the collector "
                         "at two descriptor limits, while a probe checks in and submits."),
    "udp_flood": ("Floods of forged UDP replies",
                  "An on-path injector in the lab sends identical forged copies ahead of "
                  "unbound's genuine reply. Every reply is counted, the first and the last "
                  "distinct ones are kept, and the verdict is `blocked/injected`."),
    "stray_replies": ("Stray and malformed replies",
                      "Wrong-id and runt replies are kept with the query they raced (arrival "
                      "time, size, reason); a timeout after them is never judged a drop."),
    "bounded_measurement": ("Hostile resolver: 64 KB TXT over TCP",
                            "What one measurement keeps from a 64 KB reply: bounded raw bytes "
                            "with the cut recorded, within the per-measurement bound; TCP "
                            "query ids random and checked."),
    "hostile_doh_body": ("Hostile DoH server: an endless body",
                         "The body is read as it streams and refused past its bound; the "
                         "probe's peak RSS stays bounded (it was 399 MB before)."),
    "dot_timing": ("DoT timing",
                   "The duration of a DoT query ends when the answer arrives; the TLS close "
                   "happens in the background (it was ~1,000 ms before)."),
}


def _clean(value: Any) -> Any:
    """Figures without this run's temp paths and ports."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        value = re.sub(r"/tmp/pytest-of-[^ ]*/", "<tmp>/", value)
        return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", value)
    return value


def _table(rows: list[tuple[str, Any]]) -> str:
    lines = ["| | |", "|---|---|"]
    for key, value in rows:
        text = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
        lines.append(f"| {key} | {str(text).replace('|', '/')} |")
    return "\n".join(lines)


def render(figures: dict[str, Any], summary: str, seconds: float, status: int) -> str:
    f = _clean(figures)
    out = [
        "# Reliability and security figures",
        "",
        "Generated by the reliability suite (`tests/reliability/`, pytest marker "
        "`reliability`); regenerate with one command, as root from the repository root:",
        "",
        "```sh",
        f"{COMMAND}",
        "```",
        "",
        "It runs the suite at full size (50 kill -9 cycles, 10,000 hostile batches) "
        "and rewrites this file. A plain `pytest` (or `scripts/test.sh`) runs the same "
        "tests smaller — 12 cycles, 2,000 hostile batches — set "
        "`BLOCKWATCH_RELIABILITY_CYCLES` / `BLOCKWATCH_RELIABILITY_HOSTILE` to change "
        "that. Everything runs on loopback inside the test session's private network "
        "namespace; every loop is bounded in count and time.",
        "",
        f"Last run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, {seconds:.0f} s wall time, pytest: {summary} "
        f"(exit status {status}).",
        "",
    ]
    crash = f.get("crash_cycles")
    if crash:
        out += ["## Crash cycles (kill -9)", "",
                "Two probes (`blockwatch-probe run`, 1 s rounds against the lab's ISP, "
                "Quad9- and Google-style resolvers) and the collector (chDB, unix socket) "
                "are killed with SIGKILL in a random order: a random probe at a random "
                "moment (restarted at once), the collector at a random moment, and the "
                "collector right after a group insert returned but before its ack could go "
                "out (the test harness `tests/reliability/collector_shim.py` logs each "
                "returned insert and holds the ack back 0.5 s; nothing in production code). "
                "A window kill is *confirmed* when a batch of that insert was still in a "
                "probe's spool after the kill. Afterwards each probe measures one more "
                "round and drains; recorded = the spools' `sqlite_sequence`.", "",
                _table([("cycles", crash["cycles"]), ("kills by kind", crash["kills"]),
                        ("kills between insert and ack (confirmed)",
                         f"{crash['insert_ack_window_kills']} "
                         f"({crash['insert_ack_window_confirmed']})"),
                        ("probe starts / collector starts",
                         f"{crash['probe_starts']} / {crash['collector_starts']}"),
                        ("collector start, median / max s",
                         f"{crash['collector_start_s_median']} / "
                         f"{crash['collector_start_s_max']}"),
                        ("measurements recorded", crash["recorded"]),
                        ("stored rows / distinct ids",
                         f"{crash['stored_rows']} / {crash['stored_unique']}"),
                        ("duplicated / lost / rejected",
                         f"{crash['duplicated']} / {crash['lost']} / {crash['rejected']}"),
                        ("seconds (cycles / total)",
                         f"{crash['cycles_s']} / {crash['total_s']}"),
                        ("seed", crash["seed"])]), ""]
    outage = f.get("outage")
    if outage:
        out += ["## Long outage and the spool bound", "",
                f"Three probes measure for {outage['outage_s']} s with the collector down: "
                "unbounded, `max_mb` bound with `on_full = \"pause\"`, and with "
                "`\"drop-oldest\"`. Then the collector starts and the *running* probes "
                "deliver their backlog by themselves (reconnect backoff), then drain.", "",
                _table([("rounds during the outage", outage["rounds_during_outage"]),
                        ("spool bound, bytes", outage["spool_bound_bytes"]),
                        ("spool bytes at the end of the outage",
                         outage["spool_bytes_at_end_of_outage"]),
                        ("pause: 'no new round' log lines", outage["paused_round_log_lines"]),
                        ("drop-oldest: 'SPOOL FULL: dropped' log lines / counter",
                         f"{outage['dropped_log_lines']} / {outage['dropped']}"),
                        ("backlog delivered after collector start, s",
                         outage["backlog_delivered_after_s"]),
                        ("recorded / stored rows / distinct",
                         f"{outage['recorded']} / {outage['stored_rows']} / "
                         f"{outage['stored_unique']}"),
                        ("duplicated / lost (beyond the counted drops)",
                         f"{outage['duplicated']} / {outage['lost']}")]), ""]
    net = f.get("network_faults")
    if net:
        rows: list[tuple[str, Any]] = [(name, values) for name, values in net["faults"].items()]
        out += ["## Network faults (TCP proxy on loopback)", "",
                "The probe's uploader talks to the collector's TCP port through an asyncio "
                "proxy the test controls. Each phase spools 300 measurements, injects the "
                "fault for 4 s (delay: the whole phase), then heals. *half-open*: the proxy "
                "swallows every byte but keeps both sockets open, and a connection that saw "
                "it stays black-holed for good (a NAT that forgot the flow).", "",
                _table(rows), "",
                f"Spooled {net['spooled']}, stored rows {net['stored_rows']}, distinct "
                f"{net['stored_unique']}: duplicated {net['duplicated']}, lost {net['lost']}.",
                ""]
    hostile = f.get("hostile_batches")
    if hostile:
        out += ["## Hostile Submit traffic (hypothesis)", "",
                "Generated from a valid columnar batch by one to three mutations (49 kinds: "
                "out-of-range qtype/qclass/purpose/transport/failure/time, bad ids and "
                "domains, huge strings, wrong counts, missing or extra column items, "
                "10,001 measurements, the retired row form, bad batch ids), plus invalid UTF-8 "
                "in string fields, truncated messages and random bytes, on one Submit "
                "stream (a fresh stream for bytes that are not a SubmitRequest).", "",
                _table([("batches tried", hostile["tried"]), ("outcomes", hostile["outcomes"]),
                        ("status for unparseable requests", hostile["unparseable_status"]),
                        ("raw inputs that still formed a valid batch (acked, stored once)",
                         hostile["raw_valid_by_chance_acked"]),
                        ("mutated (structured) batches acked", 0),
                        ("rows stored from rejected or unparseable input",
                         hostile["stored_from_rejected"]),
                        ("collector crashes", hostile["crashes"]),
                        ("seconds", hostile["seconds"])]), ""]
    dns = f.get("hostile_dns")
    if dns:
        rows = [(k, f"{v['failure'] or 'answered'}; "
                    + (f"{v['failure_text']}; " if v["failure_text"] else "")
                    + f"responses {v['responses']}, answers {v['answers']}"
                    + (f", parse_error {v['parse_errors']}" if any(v["parse_errors"]) else ""))
                for k, v in sorted(dns["outcomes"].items())]
        out += ["## Hostile DNS responses against the probe", "",
                "A DNS server in the test answers over real UDP and TCP sockets; the probe "
                f"CLI measures each case over both ({dns['measurements']} measurements, "
                f"probe crashes: {dns['crashes']}).", "", _table(rows), "",
                "A batch holding the probe's record of the oversized reply, at the "
                f"collector: {dns['oversized_batch_at_collector']}.", ""]
    for key, title in (("security", "Tokens, roles, identity, limits"),
                       ("tls", "TLS and mutual TLS misconfigurations")):
        if f.get(key):
            out += [f"## {title}", "", _table(sorted(f[key].items())), ""]
    for key in sorted(set(f) - _BESPOKE):
        title, intro = SECTIONS.get(key, (key.replace("_", " ").capitalize(), ""))
        out += [f"## {title}", ""] + ([intro, ""] if intro else [])
        out += [_table(sorted(f[key].items())), ""]
    out.append(FINDINGS)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        figures_path = Path(tmp) / "figures.json"
        env = dict(os.environ, **FULL, BLOCKWATCH_RELIABILITY_FIGURES=str(figures_path))
        began = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p",
             "no:cacheprovider", "-o", "timeout=900"], cwd=REPO, env=env,
            capture_output=True, text=True, check=False)
        seconds = time.monotonic() - began
        sys.stdout.write(result.stdout[-5000:])
        sys.stderr.write(result.stderr[-3000:])
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        summary = lines[-1].strip("= ") if lines else "no output"
        figures = json.loads(figures_path.read_text()) if figures_path.exists() else {}
    FIGURES.write_text(json.dumps(_clean(figures), indent=2, sort_keys=True) + "\n")
    DOC.write_text(render(figures, summary, seconds, result.returncode))
    print(f"wrote {DOC.relative_to(REPO)}")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
