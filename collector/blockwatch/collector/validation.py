"""Batch validation: pure functions over MeasurementColumns.

A batch is accepted or rejected as a whole. Checks run column by column with
numpy and Arrow kernels (min/max, lengths, a regular expression over the distinct
domains) so a good batch costs a few C-level passes whatever its size; only
when a check fails is the first offending item located and mapped back through
the count columns to its record, so the rejection can name it: `record_index`
and the field's path within its Measurement (`responses[0].extended_errors[1].text`).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from blockwatch.collector.columnchecks import (
    DAY_US,
    DOMAIN_PATTERN,
    MAX_DOMAIN,
    ColumnChecker,
    binary_lengths,
    rollup,
)
from blockwatch.collector.columns import COUNTS, FIELDS, Ints, Level, MeasurementColumns
from blockwatch.collector.errors import BatchTooLarge, ValidationError
from blockwatch.contract.vocabulary import Failure, Purpose, Transport

_BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_DOMAIN = re.compile(DOMAIN_PATTERN)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one batch may hold. The defaults match the probe's own
    (batch_size <= 10,000) and keep one batch well under the message size cap."""

    max_measurements: int = 10_000
    max_batch_id: int = 64
    max_round_id: int = 64
    max_name: int = 63            # resolver names, as the probe's config allows
    max_address: int = 45         # longest IPv6 literal
    max_url: int = 2048
    max_text: int = 4096          # failure_text, parse_error
    max_responses: int = 16
    max_answers: int = 256
    max_cname_chain: int = 32
    max_answer_data: int = 8192
    max_extended_errors: int = 16
    max_ede_text: int = 1024
    max_nsid: int = 512
    max_wire: int = 65_535
    max_strays: int = 16          # stray replies kept per measurement
    max_stray_reason: int = 64
    # One measurement's content (strings, bytes and items, everything): a few
    # of the largest must not make a batch too big for the wire.
    max_measurement_bytes: int = 64 * 1024
    future_skew_us: int = DAY_US


def check_batch_size(count: int, limits: Limits) -> None:
    if count > limits.max_measurements:
        raise BatchTooLarge(
            f"{count} measurements, the limit is {limits.max_measurements}: split the batch",
            field="measurements")


def valid_domain(domain: str) -> bool:
    """Lower-case presentation form without the trailing dot; labels of letters,
    digits, '-' and '_' (service labels, whoami names); DNS length limits. The
    root "." is allowed: probes ask it for NS to check a resolver answers at all."""
    return domain == "." or (len(domain) <= MAX_DOMAIN and _DOMAIN.fullmatch(domain) is not None)


# Each column's path within its item where it is not the column's own name
# (measurement level) or "." and the name (response level).
_PATHS = {
    "resolver_name": "resolver.name", "resolver_address": "resolver.address",
    "resolver_port": "resolver.port", "resolver_transport": "resolver.transport",
    "resolver_tls_name": "resolver.tls_name", "resolver_url": "resolver.url",
    "response_count": "responses", "stray_kept_count": "strays",
    "answer_count": ".answers", "cname_count": ".cname_chain",
    "extended_error_count": ".extended_errors",
    "answer_name": ".name", "answer_rtype": ".rtype", "answer_ttl": ".ttl",
    "answer_data": ".data", "cname_chain": "", "extended_error_code": ".code",
    "extended_error_text": ".text", "stray_arrival_us": ".arrival_us",
    "stray_size": ".size", "stray_reason": ".reason",
}


class _Locator:
    """Maps the index of a failing item at some level back to its record and
    the field's path within its Measurement. Built lazily: only a failing batch needs it."""

    def __init__(self, c: MeasurementColumns) -> None:
        self._c = c
        self._starts: dict[str, list[int]] = {}

    def _parent(self, count: str, index: int) -> tuple[int, int]:
        """(parent index, position within the parent) of item `index`."""
        if count not in self._starts:
            self._starts[count] = self._c.ends(count).tolist()
        starts = self._starts[count]
        parent = bisect.bisect_right(starts, index) - 1
        return parent, index - starts[parent]

    def locate(self, level: Level, index: int, item: str) -> tuple[int, str]:
        if level is Level.MEASUREMENT:
            return index, item
        if level is Level.RESPONSE:
            record, j = self._parent("response_count", index)
            return record, f"responses[{j}]{item}"
        if level is Level.STRAY:
            record, k = self._parent("stray_kept_count", index)
            return record, f"strays[{k}]{item}"
        count, _ = COUNTS[level]
        response, k = self._parent(count, index)
        record, j = self._parent("response_count", response)
        name = {Level.ANSWER: "answers", Level.CNAME: "cname_chain",
                Level.EXTENDED_ERROR: "extended_errors"}[level]
        return record, f"responses[{j}].{name}[{k}]{item}"


class _Checker(ColumnChecker):
    def __init__(self, c: MeasurementColumns) -> None:
        super().__init__(c)
        self.c = c
        self.where = _Locator(c)

    def locate(self, name: str, index: int) -> tuple[int, str]:
        level = FIELDS[name][0]
        item = _PATHS.get(name, name if level is Level.MEASUREMENT else f".{name}")
        return self.where.locate(level, index, item)


# Each level's fields, and one of them (the level's length).
_LEVEL_FIELDS = {level: [n for n, (lv, _) in FIELDS.items() if lv is level] for level in Level}
_FIRST_FIELD = {level: names[0] for level, names in _LEVEL_FIELDS.items()}


def check_structure(c: MeasurementColumns) -> None:
    """Every field as long as its level, and each count column summing to the
    length of the level it splits. Levels are checked parents first, so a
    count column is only read once its own level is known to be sound."""
    lengths = {Level.MEASUREMENT: len(c)}
    for level in Level:
        if level in COUNTS:
            count, parent = COUNTS[level]
            ends = c.ends(count)
            total = int(ends[-1])
            actual = len(c[_FIRST_FIELD[level]])
            message = f"counts sum to {total} but there are {actual} items"
            if total > actual:
                # name the first parent whose items run past the end of the level
                index = int(np.argmax(ends[1:] > actual))
                record = _Locator(c).locate(parent, index, "")[0]
                raise ValidationError(message, record_index=record, field=f"columns.{count}")
            if total < actual:
                raise ValidationError(message, field=f"columns.{count}")
            lengths[level] = actual
        for name in _LEVEL_FIELDS[level]:
            if len(c[name]) != lengths[level]:
                raise ValidationError(
                    f"has {len(c[name])} values, its level has {lengths[level]}",
                    field=f"columns.{name}")



# (lowest, highest, message) of each contract enum's column.
_PURPOSES = (int(min(Purpose)), int(max(Purpose)), f"must be {Purpose.spelled()}")
_TRANSPORTS = (int(min(Transport)), int(max(Transport)), f"must be {Transport.spelled()}")
_FAILURES = (int(min(Failure)), int(max(Failure)),
             f"is not in the failure taxonomy ({int(min(Failure))}-{int(max(Failure))})")


def validate_batch(batch_id: str, c: MeasurementColumns, limits: Limits, now_us: int) -> None:
    """Raise ValidationError for the first problem found; return None when clean.
    The columns must be structurally sound (`check_structure`)."""
    if not 0 < len(batch_id) <= limits.max_batch_id or not _BATCH_ID.fullmatch(batch_id):
        raise ValidationError(
            f"must be 1-{limits.max_batch_id} characters of [A-Za-z0-9._:-]", field="batch_id")
    check_batch_size(len(c), limits)
    if not len(c):
        return
    check = _Checker(c)
    check.ids("measurement_id", "measurement")
    check.length("round_id", limits.max_round_id)
    check.started("started_at_us", now_us + limits.future_skew_us)
    check.domains("domain", root=True)
    check.range("qtype", 1, 65535)
    check.range("qclass", 1, 65535)
    check.range("purpose", *_PURPOSES)
    check.length("resolver_name", limits.max_name, minimum=1)
    check.length("resolver_address", limits.max_address)
    check.range("resolver_port", 0, 65535)
    check.range("resolver_transport", *_TRANSPORTS)
    check.length("resolver_tls_name", MAX_DOMAIN)
    check.length("resolver_url", limits.max_url)
    check.range("failure", *_FAILURES)
    check.length("failure_text", limits.max_text)
    check.range("response_count", 0, limits.max_responses,
                f"more than {limits.max_responses} responses")
    answered = (c.numbers("failure") == int(Failure.NONE)) & (c.numbers("response_count") == 0)
    if answered.any():
        check.fail("failure", answered, "FAILURE_NONE needs at least one response")
    # Every response alike, first or later: the Measurement path names it.
    check.range("rcode", 0, 4095)
    check.range("flags", 0, 0xFFFF)
    check.range("answer_count", 0, limits.max_answers, f"more than {limits.max_answers} answers")
    check.range("cname_count", 0, limits.max_cname_chain,
                f"more than {limits.max_cname_chain} names")
    check.range("authority_count", 0, 65535)
    check.range("additional_count", 0, 65535)
    check.range("extended_error_count", 0, limits.max_extended_errors,
                f"more than {limits.max_extended_errors} extended errors")
    check.length("nsid", limits.max_nsid)
    check.length("wire", limits.max_wire)
    check.length("parse_error", limits.max_text)
    check.length("answer_name", 255)
    check.range("answer_rtype", 0, 65535)
    check.length("answer_data", limits.max_answer_data)
    check.length("cname_chain", 255)
    check.range("extended_error_code", 0, 65535)
    check.length("extended_error_text", limits.max_ede_text)
    _strays_and_size(check, limits)


def _strays_and_size(check: _Checker, limits: Limits) -> None:
    check.range("stray_kept_count", 0, limits.max_strays,
                f"more than {limits.max_strays} stray replies")
    check.range("stray_size", 0, 65535)
    check.length("stray_reason", limits.max_stray_reason)
    sizes = _measurement_bytes(check.c)
    if int(sizes.max()) > limits.max_measurement_bytes:
        index = int(np.argmax(sizes > limits.max_measurement_bytes))
        raise ValidationError(f"content over {limits.max_measurement_bytes} bytes",
                              record_index=index, field="measurement")


def measurement_bytes(c: MeasurementColumns) -> pa.Array:
    """Each measurement's content in bytes (strings, bytes, a few per item):
    each level's sizes summed into its parent's through the count columns."""
    return pa.array(_measurement_bytes(c))


def _measurement_bytes(c: MeasurementColumns) -> Ints:
    def strings(*names: str) -> Ints:
        return binary_lengths(c, list(names))

    responses = strings("nsid", "wire", "parse_error") + 24
    for child, count in ((strings("answer_name", "answer_data") + 8, "answer_count"),
                         (strings("cname_chain") + 2, "cname_count"),
                         (strings("extended_error_text") + 4, "extended_error_count")):
        responses += rollup(child, c.ends(count))
    own = strings("measurement_id", "round_id", "domain", "failure_text", "resolver_name",
                  "resolver_address", "resolver_tls_name", "resolver_url")
    return (own + rollup(responses, c.ends("response_count"))
            + rollup(strings("stray_reason") + 8, c.ends("stray_kept_count")))
