"""Batch validation: pure functions over MeasurementColumns.

A batch is accepted or rejected as a whole. Checks run column by column with
builtins (min, max, len over a whole column) so a good batch costs a few
passes in C; only when a check fails does a Python loop find the first
offending record, so the rejection can name it: `record_index` and the wire
field path (`responses[0].extended_errors[1].text`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import dns.exception
import dns.name

from blockwatch.collector.columns import MeasurementColumns
from blockwatch.collector.errors import BatchTooLarge, ValidationError

_BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
EARLIEST_US = 1_577_836_800_000_000  # 2020-01-01T00:00:00Z: before blockwatch existed
DAY_US = 86_400_000_000


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
    future_skew_us: int = DAY_US


def check_batch_size(count: int, limits: Limits) -> None:
    if count > limits.max_measurements:
        raise BatchTooLarge(
            f"{count} measurements, the limit is {limits.max_measurements}: split the batch",
            field="measurements")


def validate_batch(batch_id: str, c: MeasurementColumns, limits: Limits, now_us: int) -> None:
    """Raise ValidationError for the first problem found; return None when clean."""
    if not 0 < len(batch_id) <= limits.max_batch_id or not _BATCH_ID.fullmatch(batch_id):
        raise ValidationError(
            f"must be 1-{limits.max_batch_id} characters of [A-Za-z0-9._:-]", field="batch_id")
    check_batch_size(len(c), limits)
    _ids(c.measurement_id)
    _bounded_len(c.round_id, limits.max_round_id, "round_id")
    _range(c.started_at_us, EARLIEST_US, now_us + limits.future_skew_us, "started_at_us",
           "must be after 2020-01-01 and at most a day ahead of the collector's clock")
    _domains(c.domain)
    _range(c.qtype, 1, 65535, "qtype")
    _range(c.qclass, 1, 65535, "qclass")
    _range(c.purpose, 1, 3, "purpose", "must be TARGET, CONTROL or IDENTITY")
    _bounded_len(c.resolver_name, limits.max_name, "resolver.name", minimum=1)
    _bounded_len(c.resolver_address, limits.max_address, "resolver.address")
    _range(c.resolver_port, 0, 65535, "resolver.port")
    _range(c.transport, 1, 4, "resolver.transport", "must be UDP, TCP, DOT or DOH")
    _bounded_len(c.resolver_tls_name, 253, "resolver.tls_name")
    _bounded_len(c.resolver_url, limits.max_url, "resolver.url")
    _range(c.failure, 0, 11, "failure", "is not in the failure taxonomy (0-11)")
    _bounded_len(c.failure_text, limits.max_text, "failure_text")
    _range(c.response_count, 0, limits.max_responses, "responses",
           f"more than {limits.max_responses} responses")
    for i, (failure, count) in enumerate(zip(c.failure, c.response_count, strict=True)):
        if failure == 0 and count == 0:
            raise ValidationError("FAILURE_NONE needs at least one response",
                                  record_index=i, field="failure")
    _first_response(c, limits)
    _later_responses(c, limits)


def _fail(values: Sequence[object], bad: Callable[[object], bool], field: str,
          message: str) -> None:
    for i, value in enumerate(values):
        if bad(value):
            raise ValidationError(message, record_index=i, field=field)
    raise AssertionError(f"{field}: a column check failed but no record did")  # pragma: no cover


def _ids(ids: list[bytes]) -> None:
    if ids and (min(map(len, ids)) != 16 or max(map(len, ids)) != 16):
        _fail(ids, lambda v: len(v) != 16, "measurement_id",  # type: ignore[arg-type]
              "must be 16 bytes (a UUID)")
    if len(set(ids)) != len(ids):
        seen: set[bytes] = set()
        for i, value in enumerate(ids):
            if value in seen:
                raise ValidationError("repeats an earlier measurement of this batch",
                                      record_index=i, field="measurement_id")
            seen.add(value)


def _range(values: list[int], low: int, high: int, field: str, message: str = "") -> None:
    if values and (min(values) < low or max(values) > high):
        _fail(values, lambda v: not low <= v <= high, field,  # type: ignore[operator]
              message or f"must be in {low}..{high}")


def _bounded_len(values: Sequence[str | bytes], limit: int, field: str, minimum: int = 0) -> None:
    if values and (min(map(len, values)) < minimum or max(map(len, values)) > limit):
        _fail(values, lambda v: not minimum <= len(v) <= limit, field,  # type: ignore[arg-type]
              f"length must be in {minimum}..{limit}")


def valid_domain(domain: str) -> bool:
    """Lower-case presentation form without the trailing dot; labels of letters,
    digits, '-' and '_' (service labels, whoami names); DNS length limits. The
    root "." is allowed: probes ask it for NS to check a resolver answers at all."""
    if domain == ".":
        return True
    if not domain or domain != domain.lower() or domain.endswith("."):
        return False
    if not all(_LABEL.fullmatch(label) for label in domain.split(".")):
        return False
    try:
        dns.name.from_text(domain)  # total length <= 255 octets on the wire
    except dns.exception.DNSException:
        return False
    return True


def _domains(domains: list[str]) -> None:
    # Probes query the same few hundred names over and over: check each once.
    bad = {d for d in set(domains) if not valid_domain(d)}
    if bad:
        _fail(domains, lambda v: v in bad, "domain",
              "is not a lower-case domain name without the trailing dot")


def _nested(rows: Sequence[Sequence[object]], limit: int, field: str, what: str) -> None:
    """A list-valued column: at most `limit` items per record."""
    if rows and max(map(len, rows)) > limit:
        _fail(rows, lambda v: len(v) > limit, field,  # type: ignore[arg-type]
              f"more than {limit} {what}")


def _nested_len(rows: Sequence[Sequence[str | bytes]], limit: int, field: str,
                item: str) -> None:
    """Each item of each record's list at most `limit` long; names `field[k].item`."""
    flat: Iterable[str | bytes] = chain.from_iterable(rows)
    if max(map(len, flat), default=0) <= limit:
        return
    for i, row in enumerate(rows):
        for k, value in enumerate(row):
            if len(value) > limit:
                raise ValidationError(f"length must be at most {limit}", record_index=i,
                                      field=f"{field}[{k}]{item}")


def _first_response(c: MeasurementColumns, limits: Limits) -> None:
    first = "responses[0]"
    _range([r or 0 for r in c.rcode], 0, 4095, f"{first}.rcode")
    _range(c.flags, 0, 0xFFFF, f"{first}.flags")
    _nested(c.answer_data, limits.max_answers, f"{first}.answers", "answers")
    _nested_len(c.answer_name, 255, f"{first}.answers", ".name")
    _nested_len(c.answer_data, limits.max_answer_data, f"{first}.answers", ".data")
    for i, types in enumerate(c.answer_type):
        if types and (min(types) < 0 or max(types) > 65535):
            k = next(k for k, t in enumerate(types) if not 0 <= t <= 65535)
            raise ValidationError("must be in 0..65535", record_index=i,
                                  field=f"{first}.answers[{k}].rtype")
    _nested(c.cname_chain, limits.max_cname_chain, f"{first}.cname_chain", "names")
    _nested_len(c.cname_chain, 255, f"{first}.cname_chain", "")
    _range(c.authority_count, 0, 65535, f"{first}.authority_count")
    _range(c.additional_count, 0, 65535, f"{first}.additional_count")
    _nested(c.ede_code, limits.max_extended_errors, f"{first}.extended_errors",
            "extended errors")
    for i, codes in enumerate(c.ede_code):
        if codes and max(codes) > 65535:
            k = next(k for k, v in enumerate(codes) if v > 65535)
            raise ValidationError("must be in 0..65535", record_index=i,
                                  field=f"{first}.extended_errors[{k}].code")
    _nested_len(c.ede_text, limits.max_ede_text, f"{first}.extended_errors", ".text")
    _bounded_len(c.nsid, limits.max_nsid, f"{first}.nsid")
    _bounded_len(c.wire, limits.max_wire, f"{first}.wire")
    _bounded_len(c.parse_error, limits.max_text, f"{first}.parse_error")


def _later_responses(c: MeasurementColumns, limits: Limits) -> None:
    """Responses 2..n; the j-th later response is `responses[j + 1]` on the wire."""
    checks: list[tuple[list[list[list[str]]], int, str]] = [
        (c.later_answer_data, limits.max_answer_data, "answers"),
        (c.later_ede_text, limits.max_ede_text, "extended_errors"),
    ]
    counts: list[tuple[list[list[list[int]]], int, str]] = [
        (c.later_answer_type, limits.max_answers, "answers"),
        (c.later_ede_code, limits.max_extended_errors, "extended_errors"),
    ]
    for i, n in enumerate(c.response_count):
        if n < 2:
            continue
        for column, limit, name in counts:
            for j, items in enumerate(column[i]):
                if len(items) > limit:
                    raise ValidationError(f"more than {limit} {name.replace('_', ' ')}",
                                          record_index=i, field=f"responses[{j + 1}].{name}")
        for texts, text_limit, name in checks:
            for j, strings in enumerate(texts[i]):
                for k, value in enumerate(strings):
                    if len(value) > text_limit:
                        item = "data" if name == "answers" else "text"
                        raise ValidationError(
                            f"length must be at most {text_limit}", record_index=i,
                            field=f"responses[{j + 1}].{name}[{k}].{item}")
        for j, (rcode, flags) in enumerate(zip(c.later_rcode[i], c.later_flags[i], strict=True)):
            if rcode > 4095:
                raise ValidationError("must be in 0..4095", record_index=i,
                                      field=f"responses[{j + 1}].rcode")
            if flags > 0xFFFF:
                raise ValidationError("must be in 0..65535", record_index=i,
                                      field=f"responses[{j + 1}].flags")
        for j, wire in enumerate(c.later_wire[i]):
            if len(wire) > limits.max_wire:
                raise ValidationError(f"length must be at most {limits.max_wire}",
                                      record_index=i, field=f"responses[{j + 1}].wire")
