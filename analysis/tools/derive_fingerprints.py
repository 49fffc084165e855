"""Derive analysis/blockwatch/analysis/data/dns_fingerprints.csv from the OONI
blocking-fingerprints DNS list (../shared/data/blocking-fingerprints).

    python analysis/tools/derive_fingerprints.py ../shared/data/blocking-fingerprints

Keeps each row's name (a verdict says which fingerprint matched), source and
country scope; splits patterns into addresses and CNAMEs; `ZZ` (anywhere)
becomes an empty country list. Runs by hand when the upstream list changes,
followed by `blockwatch reclassify`.
"""

from __future__ import annotations

import csv
import ipaddress
import sys
from pathlib import Path

UPSTREAM = "ooni/blocking-fingerprints@171641e60b54231cad18753a72145da87b0d3e07"
COLUMNS = ("name", "kind", "pattern", "countries", "scope", "confidence", "source", "origin")


def main() -> int:
    src = Path(sys.argv[1]) / "fingerprints_dns.csv"
    out = (Path(__file__).resolve().parents[1] / "blockwatch" / "analysis" / "data"
           / "dns_fingerprints.csv")
    rows = []
    with src.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["location_found"] != "dns" or row["pattern_type"] != "full":
                continue
            pattern = row["pattern"].strip().lower()
            try:
                pattern = str(ipaddress.ip_address(pattern))
                kind = "address"
            except ValueError:
                kind = "cname"
            countries = " ".join(c for c in row["expected_countries"].replace(",", " ").split()
                                 if c != "ZZ")
            rows.append({"name": row["name"], "kind": kind, "pattern": pattern,
                         "countries": countries, "scope": row["scope"],
                         "confidence": row["confidence_no_fp"] or "0",
                         "source": row["source"].strip(), "origin": UPSTREAM})
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} fingerprints to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
