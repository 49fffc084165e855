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

import pyarrow as pa

from blockwatch.collector.columns import offsets


class WebLevel(Enum):
    OBSERVATION = "observation"
    DNS_ID = "dns_id"
    SAN = "san"
    HEADER = "header"
    REDIRECT = "redirect"


_O = WebLevel.OBSERVATION
_S, _B = pa.string(), pa.binary()
_U32, _I64, _I32, _BOOL = pa.uint32(), pa.int64(), pa.int32(), pa.bool_()

# Field name (as in the proto's WebObservationColumns) -> (level, wide Arrow type).
WEB_FIELDS: dict[str, tuple[WebLevel, pa.DataType]] = {
    "observation_id": (_O, _B), "round_id": (_O, _S), "name": (_O, _S), "address": (_O, _S),
    "connect_failure_text": (_O, _S), "tls_cipher": (_O, _S), "cert_subject": (_O, _S),
    "cert_issuer": (_O, _S), "cert_sha256": (_O, _B), "verify_error": (_O, _S),
    "tls_failure_text": (_O, _S), "http_url": (_O, _S), "http_reason": (_O, _S),
    "body_sha256": (_O, _B), "body_prefix": (_O, _B), "title": (_O, _S),
    "http_failure_text": (_O, _S), "http_version": (_O, _S),
    "started_at_us": (_O, _I64), "duration_us": (_O, _U32), "port": (_O, _U32),
    "scheme": (_O, _I32), "dns_id_count": (_O, _U32), "connect_duration_us": (_O, _U32),
    "connect_failure": (_O, _I32), "tls_attempted": (_O, _BOOL),
    "tls_duration_us": (_O, _U32), "tls_version": (_O, _I32), "has_certificate": (_O, _BOOL),
    "cert_not_before_s": (_O, _I64), "cert_not_after_s": (_O, _I64),
    "san_count": (_O, _U32), "chain_verified": (_O, _BOOL), "name_matches": (_O, _BOOL),
    "tls_failure": (_O, _I32), "http_sent": (_O, _BOOL), "http_duration_us": (_O, _U32),
    "first_byte_us": (_O, _U32), "status": (_O, _U32), "header_count": (_O, _U32),
    "body_length": (_O, pa.uint64()), "body_truncated": (_O, _BOOL),
    "http_failure": (_O, _I32), "redirect_count": (_O, _U32), "truncated": (_O, _BOOL),
    "dns_measurement_id": (WebLevel.DNS_ID, _B),
    "san": (WebLevel.SAN, _S),
    "header_name": (WebLevel.HEADER, _S), "header_value": (WebLevel.HEADER, _S),
    "redirect_url": (WebLevel.REDIRECT, _S), "redirect_duration_us": (WebLevel.REDIRECT, _U32),
    "redirect_status": (WebLevel.REDIRECT, _U32), "redirect_location": (WebLevel.REDIRECT, _S),
    "redirect_title": (WebLevel.REDIRECT, _S), "redirect_failure": (WebLevel.REDIRECT, _I32),
    "redirect_failure_text": (WebLevel.REDIRECT, _S),
}

# Which count field splits a level among the observations.
WEB_COUNTS: dict[WebLevel, str] = {
    WebLevel.DNS_ID: "dns_id_count",
    WebLevel.SAN: "san_count",
    WebLevel.HEADER: "header_count",
    WebLevel.REDIRECT: "redirect_count",
}


@dataclass(frozen=True, slots=True)
class WebColumns:
    """One Arrow array per name in WEB_FIELDS."""

    arrays: Mapping[str, pa.Array]

    def __len__(self) -> int:
        return len(self.arrays["observation_id"])

    def __getitem__(self, name: str) -> pa.Array:
        return self.arrays[name]

    @classmethod
    def from_lists(cls, values: Mapping[str, list[object]]) -> WebColumns:
        return cls({name: pa.array(values[name], type=kind)
                    for name, (_, kind) in WEB_FIELDS.items()})

    @classmethod
    def empty(cls) -> WebColumns:
        return cls.from_lists({name: [] for name in WEB_FIELDS})


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
