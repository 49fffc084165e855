"""Web verdict speed: the pure web rules (webverdicts.py, the oracle) over
synthetic follow-ups, with the block-page fingerprint scan (1,738 OONI rows)
as the cost that matters. Prints name=value lines.

    python bench/webverdicts.py [--observations 20000]

A quarter of the responses are block pages (matched early or late in the
file), a quarter are 451s, a quarter are normal pages of 8 KiB, a quarter
failed to connect.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from blockwatch.analysis.httpfingerprints import load_http_fingerprints
from blockwatch.analysis.webobservation import WebContext, WebObservation
from blockwatch.analysis.webverdicts import classify_web

PAGE = (b"<html><head><title>Site</title></head><body>" + b"x" * 8000 + b"</body></html>")


def follow_ups(count: int) -> list[WebObservation]:
    base = WebObservation(observation_id="o", probe_name="p", probe_country="IT",
                          round_id="r", started_at_us=0, name="site.example",
                          address="192.0.2.1", tls_attempted=True, has_certificate=True,
                          chain_verified=True, name_matches=True, http_sent=True,
                          status=200, body_prefix=PAGE, title="Site")
    kinds = [
        replace(base, body_prefix=b"<title>AGCOM Stop Page</title>"),
        replace(base, status=451, headers=(("server", "cloudflare"),)),
        base,
        replace(base, connect_failure="timeout", tls_attempted=False, http_sent=False,
                status=0),
    ]
    return [replace(kinds[i % 4], observation_id=str(i)) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=20000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    fps = load_http_fingerprints()
    load_s = time.perf_counter() - t0
    ctx = WebContext((replace(follow_ups(3)[2], probe_control=True),),
                     probe_reaches_other_sites=True)
    items = follow_ups(args.observations)
    t0, c0 = time.perf_counter(), time.process_time()
    verdicts = [classify_web(w, ctx, fps) for w in items]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"http_fingerprints={len(fps.fingerprints)}")
    print(f"fingerprint_load_s={load_s:.3f}")
    print(f"observations={len(verdicts)}")
    print(f"classify_web_us_per_observation_cpu={cpu / len(items) * 1e6:.1f}")
    print(f"classify_web_per_s_wall={len(items) / wall:.0f}")


if __name__ == "__main__":
    main()
