"""The collector's column-oriented form of a batch's web observations.

`WebColumns` mirrors the wire's WebObservationColumns (proto/blockwatch/v1/
probe.proto): one Arrow array per field, levels flattened, count arrays
linking the observation level to its dns ids, SANs, headers and redirects.
`web_storage_table` reshapes it into `web_observations` (migration 0006)
with Arrow kernels only, as columns.py does for measurements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

import pyarrow as pa

from blockwatch.collector.columns import Columns, leveled, offsets
from blockwatch.contract.vocabulary import WEB_COLUMNS


class WebLevel(Enum):
    OBSERVATION = "observation"
    DNS_ID = "dns_id"
    SAN = "san"
    HEADER = "header"
    REDIRECT = "redirect"


# Field name (as in the proto's WebObservationColumns) -> (level, wide Arrow type).
WEB_FIELDS: dict[str, tuple[WebLevel, pa.DataType]] = leveled(WEB_COLUMNS, {
    WebLevel.DNS_ID: ("dns_measurement_id",),
    WebLevel.SAN: ("san",),
    WebLevel.HEADER: ("header_name", "header_value"),
    WebLevel.REDIRECT: ("redirect_url", "redirect_duration_us", "redirect_status",
                        "redirect_location", "redirect_title", "redirect_failure",
                        "redirect_failure_text"),
}, WebLevel.OBSERVATION)

# Which count field splits a level among the observations.
WEB_COUNTS: dict[WebLevel, str] = {
    WebLevel.DNS_ID: "dns_id_count",
    WebLevel.SAN: "san_count",
    WebLevel.HEADER: "header_count",
    WebLevel.REDIRECT: "redirect_count",
}


@dataclass(frozen=True, slots=True)
class WebColumns(Columns):
    """A batch's web observations: one Arrow array per name in WEB_FIELDS."""

    fields: ClassVar[Mapping[str, tuple[Enum, pa.DataType]]] = WEB_FIELDS
    root: ClassVar[str] = "observation_id"


_TS = pa.timestamp("us", tz="UTC")
_TS_S = pa.timestamp("s", tz="UTC")


def web_storage_table(c: WebColumns) -> pa.Table:
    """The columns of `web_observations` that come from the batch itself."""
    def lists(name: str, kind: pa.DataType | None = None) -> pa.ListArray:
        level = WEB_FIELDS[name][0]
        flat = c[name] if kind is None else c[name].cast(kind)
        return pa.ListArray.from_arrays(offsets(c[WEB_COUNTS[level]]), flat)

    i8 = pa.int8()
    columns: dict[str, pa.Array] = {
        "observation_id": c["observation_id"].cast(pa.binary(16)),
        "round_id": c["round_id"],
        "started_at": c["started_at_us"].cast(_TS),
        "duration_us": c["duration_us"],
        "name": c["name"],
        "address": c["address"],
        "port": c["port"].cast(pa.uint16()),
        "scheme": c["scheme"].cast(i8),
        "dns_measurement_ids": lists("dns_measurement_id", pa.binary(16)),
        "connect_duration_us": c["connect_duration_us"],
        "connect_failure": c["connect_failure"].cast(i8),
        "connect_failure_text": c["connect_failure_text"],
        "tls_attempted": c["tls_attempted"],
        "tls_duration_us": c["tls_duration_us"],
        "tls_version": c["tls_version"].cast(i8),
        "tls_cipher": c["tls_cipher"],
        "has_certificate": c["has_certificate"],
        "cert_subject": c["cert_subject"],
        "cert_issuer": c["cert_issuer"],
        "cert_sans": lists("san"),
        "cert_not_before": c["cert_not_before_s"].cast(_TS_S),
        "cert_not_after": c["cert_not_after_s"].cast(_TS_S),
        "cert_sha256": c["cert_sha256"],
        "chain_verified": c["chain_verified"],
        "name_matches": c["name_matches"],
        "verify_error": c["verify_error"],
        "tls_failure": c["tls_failure"].cast(i8),
        "tls_failure_text": c["tls_failure_text"],
        "http_sent": c["http_sent"],
        "http_url": c["http_url"],
        "http_duration_us": c["http_duration_us"],
        "first_byte_us": c["first_byte_us"],
        "status": c["status"].cast(pa.uint16()),
        "reason": c["http_reason"],
        "http_version": c["http_version"],
        "headers.name": lists("header_name"),
        "headers.value": lists("header_value"),
        "body_length": c["body_length"],
        "body_truncated": c["body_truncated"],
        "body_sha256": c["body_sha256"],
        "body_prefix": c["body_prefix"],
        "title": c["title"],
        "http_failure": c["http_failure"].cast(i8),
        "http_failure_text": c["http_failure_text"],
        "redirect_url": lists("redirect_url"),
        "redirect_duration_us": lists("redirect_duration_us"),
        "redirect_status": lists("redirect_status", pa.uint16()),
        "redirect_location": lists("redirect_location"),
        "redirect_title": lists("redirect_title"),
        "redirect_failure": lists("redirect_failure", i8),
        "redirect_failure_text": lists("redirect_failure_text"),
        "truncated": c["truncated"],
    }
    return pa.Table.from_pydict(columns)
