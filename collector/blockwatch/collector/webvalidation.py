"""Web observation validation: pure functions over WebColumns, as validation.py
is for measurements, with the same column checks (columnchecks.py); only on
failure the first offending item located and named by its path, e.g.
`web[3].http.title` or `web[0].certificate.sans[2]`, with `record_index` the
observation's index in the batch's web level.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from blockwatch.collector.columnchecks import ColumnChecker, binary_lengths, rollup
from blockwatch.collector.columns import Ints
from blockwatch.collector.errors import BatchTooLarge, ValidationError
from blockwatch.collector.validation import Limits
from blockwatch.collector.webcolumns import WEB_COUNTS, WEB_FIELDS, WebColumns, WebLevel
from blockwatch.contract.vocabulary import Failure, Scheme, TlsVersion

# The largest number of each contract enum (each numbered from 0 or 1 without gaps).
FAILURES = int(max(Failure))
SCHEMES = int(max(Scheme))
TLS_VERSIONS = int(max(TlsVersion))
# The path of each field below its observation (WebObservation's fields).
_PATHS = {
    "connect_failure_text": "connect_failure_text", "tls_cipher": "tls_cipher",
    "cert_subject": "certificate.subject", "cert_issuer": "certificate.issuer",
    "cert_sha256": "certificate.sha256", "verify_error": "verify_error",
    "tls_failure_text": "tls_failure_text", "http_url": "http.url",
    "http_reason": "http.reason", "body_sha256": "http.body_sha256",
    "body_prefix": "http.body_prefix", "title": "http.title",
    "http_failure_text": "http.failure_text", "http_version": "http.http_version",
    "status": "http.status", "http_failure": "http.failure", "header_count": "http.headers",
    "dns_id_count": "dns_measurement_ids", "san_count": "certificate.sans",
    "redirect_count": "redirects",
}
_LEVEL_PATHS = {
    WebLevel.DNS_ID: "dns_measurement_ids", WebLevel.SAN: "certificate.sans",
    WebLevel.HEADER: "http.headers", WebLevel.REDIRECT: "redirects",
}
_ITEM_PATHS = {
    "dns_measurement_id": "", "san": "", "header_name": ".name", "header_value": ".value",
    "redirect_url": ".url", "redirect_status": ".status", "redirect_location": ".location",
    "redirect_title": ".title", "redirect_failure": ".failure",
    "redirect_failure_text": ".failure_text",
}


@dataclass(frozen=True, slots=True)
class WebLimits:
    """Bounds on a batch's web observations, wider than the probe's own
    (probe webbounds.py; a unit test checks the probe stays within them)."""

    max_observations: int = 10_000
    max_round_id: int = 64
    max_address: int = 45
    max_text: int = 4096
    max_url: int = 2048
    max_short: int = 256          # reason, title, cipher, http version
    max_dn: int = 1024
    max_body_prefix: int = 65_536
    max_dns_ids: int = 64
    max_sans: int = 64
    max_san: int = 255
    max_headers: int = 32
    max_header_name: int = 64
    max_header_value: int = 1024
    max_redirects: int = 5
    max_observation_bytes: int = 256 * 1024


def check_web_batch_size(count: int, limits: WebLimits) -> None:
    if count > limits.max_observations:
        raise BatchTooLarge(f"{count} web observations, the limit is "
                            f"{limits.max_observations}: split the batch", field="web")


def check_web_structure(c: WebColumns) -> None:
    """Every field as long as its level; each count column summing to its level."""
    lengths = {WebLevel.OBSERVATION: len(c)}
    for level, count in WEB_COUNTS.items():
        lengths[level] = int(c.ends(count)[-1])
    for name, (level, _) in WEB_FIELDS.items():
        if len(c[name]) != lengths[level]:
            why = (f"has {len(c[name])} values, its level has {lengths[level]}"
                   if level is WebLevel.OBSERVATION else
                   f"has {len(c[name])} values but {WEB_COUNTS[level]} sums to "
                   f"{lengths[level]}")
            raise ValidationError(why, field=f"web.{name}")


class _WebChecker(ColumnChecker):
    def __init__(self, c: WebColumns) -> None:
        super().__init__(c)
        self.c = c
        self._starts: dict[str, list[int]] = {}

    def locate(self, name: str, index: int) -> tuple[int, str]:
        level = WEB_FIELDS[name][0]
        if level is WebLevel.OBSERVATION:
            return index, f"web[{index}].{_PATHS.get(name, name)}"
        count = WEB_COUNTS[level]
        if count not in self._starts:
            self._starts[count] = self.c.ends(count).tolist()
        starts = self._starts[count]
        record = bisect.bisect_right(starts, index) - 1
        k = index - starts[record]
        return record, f"web[{record}].{_LEVEL_PATHS[level]}[{k}]{_ITEM_PATHS[name]}"

    def empty_or(self, name: str, size: int) -> None:
        lengths = pc.binary_length(self.c[name])
        bad = pc.and_(pc.not_equal(lengths, 0), pc.not_equal(lengths, size))
        if len(bad) and pc.any(bad).as_py():
            self.fail(name, bad, f"must be empty or {size} bytes")


def validate_web(c: WebColumns, limits: WebLimits, now_us: int,
                 day_us: int = Limits().future_skew_us) -> None:
    """Raise ValidationError for the first problem found in a batch's web
    observations (structurally sound: `check_web_structure`)."""
    check_web_batch_size(len(c), limits)
    if not len(c):
        return
    check = _WebChecker(c)
    check.ids("observation_id", "web observation")
    check.length("round_id", limits.max_round_id)
    check.started("started_at_us", now_us + day_us)
    check.domains("name", root=False)
    addresses = c["address"]
    ip = pc.match_substring_regex(addresses, r"^[0-9A-Fa-f:.]{2,45}$")
    if not pc.all(ip).as_py():
        check.fail("address", pc.invert(ip), "is not an IP address literal")
    check.range("port", 1, 65535)
    check.range("scheme", int(min(Scheme)), SCHEMES, f"must be {Scheme.spelled()}")
    for name in ("connect_failure", "tls_failure", "http_failure", "redirect_failure"):
        check.range(name, 0, FAILURES, f"is not in the failure taxonomy (0-{FAILURES})")
    check.range("tls_version", 0, TLS_VERSIONS, f"is not a TLS version (0-{TLS_VERSIONS})")
    _lengths(check, limits)
    sizes = _observation_bytes(c)
    if int(sizes.max()) > limits.max_observation_bytes:
        index = int(np.argmax(sizes > limits.max_observation_bytes))
        raise ValidationError(f"content over {limits.max_observation_bytes} bytes",
                              record_index=index, field=f"web[{index}]")


def _lengths(check: _WebChecker, limits: WebLimits) -> None:
    for name in ("connect_failure_text", "verify_error", "tls_failure_text",
                 "http_failure_text", "redirect_failure_text"):
        check.length(name, limits.max_text)
    for name in ("http_url", "redirect_url", "redirect_location"):
        check.length(name, limits.max_url)
    for name in ("http_reason", "title", "tls_cipher", "http_version", "redirect_title"):
        check.length(name, limits.max_short)
    check.length("address", limits.max_address)
    check.length("cert_subject", limits.max_dn)
    check.length("cert_issuer", limits.max_dn)
    check.empty_or("cert_sha256", 32)
    check.empty_or("body_sha256", 32)
    check.length("body_prefix", limits.max_body_prefix)
    check.range("status", 0, 999, "must be 0 (no response) or an HTTP status 100..999")
    check.range("dns_id_count", 0, limits.max_dns_ids,
                f"more than {limits.max_dns_ids} DNS measurement ids")
    check.length("dns_measurement_id", 16, minimum=16)
    check.range("san_count", 0, limits.max_sans, f"more than {limits.max_sans} SANs")
    check.length("san", limits.max_san)
    check.range("header_count", 0, limits.max_headers,
                f"more than {limits.max_headers} headers")
    check.length("header_name", limits.max_header_name, minimum=1)
    check.length("header_value", limits.max_header_value)
    check.range("redirect_count", 0, limits.max_redirects,
                f"more than {limits.max_redirects} redirects")
    check.range("redirect_status", 0, 999)


def web_observation_bytes(c: WebColumns) -> pa.Array:
    """Each observation's content in bytes (strings and bytes of every level)."""
    return pa.array(_observation_bytes(c))


def _observation_bytes(c: WebColumns) -> Ints:
    own = binary_lengths(c, _TEXTS[WebLevel.OBSERVATION])
    for level, count in WEB_COUNTS.items():
        own += rollup(binary_lengths(c, _TEXTS[level]) + 8, c.ends(count))
    return own


# Each level's string and bytes fields.
_TEXTS = {level: [n for n, (lv, kind) in WEB_FIELDS.items()
                  if lv is level and kind in (pa.string(), pa.binary())] for level in WebLevel}
