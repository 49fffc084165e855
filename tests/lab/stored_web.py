"""Print the web observations the collector stored, as JSON, for the lab world's
checks of what the probes recorded:

    python tests/lab/stored_web.py chdb:///path/to/db

One process per database path, as tests/lab/stored.py, and only once the
collector that owned the path has stopped. No FINAL: a duplicate that
ReplacingMergeTree would collapse later is listed here. Each observation's DNS
measurement ids are resolved to the resolver names that measured them, so a
check can say which resolver paths led to the address.
"""

from __future__ import annotations

import json
import sys

import clickhouse_connect

_QUERY = """
SELECT toString(observation_id), probe_name,
       concat(replaceOne(toString(started_at), ' ', 'T'), 'Z'), name, address, port,
       arrayMap(i -> toString(i), dns_measurement_ids), toString(connect_failure),
       tls_attempted, chain_verified, name_matches, cert_sans, http_sent, status, title,
       arrayElement(headers.value, indexOf(headers.name, 'location')), body_prefix,
       arrayElement(headers.value, indexOf(headers.name, 'server'))
FROM blockwatch.web_observations
"""
_FIELDS = ("observation_id", "probe", "started_at", "name", "address", "port",
           "dns_measurement_ids", "connect_failure", "tls_attempted", "chain_verified",
           "name_matches", "sans", "http_sent", "status", "title", "location",
           "body_prefix", "server")


def main(dsn: str) -> int:
    client = clickhouse_connect.get_client(dsn=dsn)
    resolver = {str(mid): str(name) for mid, name in client.query(
        "SELECT toString(measurement_id), resolver_name FROM blockwatch.measurements"
    ).result_rows}
    rows = []
    for values in client.query(_QUERY).result_rows:
        row = dict(zip(_FIELDS, values, strict=True))
        row["resolvers"] = sorted({resolver.get(i, "?") for i in row["dns_measurement_ids"]})
        row["sans"] = list(row["sans"])
        rows.append(row)
    json.dump(rows, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
