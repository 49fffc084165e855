"""Bounded observations: what a hostile or broken resolver can make a probe record.

A reply with 4,000 records is evidence, but a measurement that exceeds the
collector's limits gets its whole batch rejected, and a few 70 KB measurements
make a batch too big for the wire. So the probe records at most these many
items per response, keeps at most MAX_WIRE raw bytes of each reply (recording
the original size and that it was cut), and keeps one measurement's whole
record under MAX_MEASUREMENT_BYTES. `tests/unit/test_bounds.py` checks these
stay within the collector's validation limits.
"""

from __future__ import annotations

import dataclasses

from blockwatch.probe.observation import ExtendedError, Measurement, Response

MAX_RESPONSES = 16       # UDP replies kept per query: the first, then the last distinct ones
MAX_ANSWERS = 256
MAX_CNAME_CHAIN = 32
MAX_ANSWER_DATA = 8192   # characters of one record's presentation form
MAX_EXTENDED_ERRORS = 16
MAX_EDE_TEXT = 1024
MAX_NSID = 512
MAX_TEXT = 4096          # failure_text, parse_error
MAX_WIRE = 4096          # raw bytes kept of one reply; `size` keeps its length
MAX_STRAYS = 8           # stray replies kept per query (all are counted)
MAX_STRAY_REASON = 64
# One measurement's encoded size, everything included: 500 of them still fit
# a 16 MiB message, and the collector's own limit (validation.Limits) is wider.
MAX_MEASUREMENT_BYTES = 32 * 1024

# Upper bounds of protobuf's framing (tag + length varint; a varint number).
_STR = 5
_NUM = 11
_RESPONSE_FIXED = _STR + 9 * _NUM + 3 * _STR   # numbers, nsid/wire/parse_error framing
_ANSWER_FIXED = _STR + 2 * _STR + 2 * _NUM
_EDE_FIXED = _STR + _NUM + _STR
_MEASUREMENT_FIXED = 12 * _NUM + 12 * _STR


def answer_size(name: str, data: str) -> int:
    return _ANSWER_FIXED + len(name.encode()) + len(data.encode())


def response_size(r: Response) -> int:
    """An upper bound of the response's encoded size."""
    return (_RESPONSE_FIXED + len(r.nsid) + len(r.wire) + len(r.parse_error.encode())
            + sum(answer_size(a.name, a.data) for a in r.answers)
            + sum(_STR + len(c.encode()) for c in r.cname_chain)
            + sum(_EDE_FIXED + len(e.text.encode()) for e in r.extended_errors))


def measurement_size(m: Measurement) -> int:
    """An upper bound of the measurement's encoded size (wire.encode_measurement)."""
    r = m.resolver
    texts = (m.round_id, m.domain, m.failure_text, r.name, r.address, r.tls_name, r.url)
    return (_MEASUREMENT_FIXED + len(m.measurement_id) + sum(len(t.encode()) for t in texts)
            + sum(3 * _NUM + _STR + len(s.reason) for s in m.strays)
            + sum(response_size(x) for x in m.responses))


def bound_response(r: Response, wire: bytes = b"") -> Response:
    """`r` within the per-item limits. When items are cut, the raw reply `wire`
    is kept (its first MAX_WIRE bytes) so the evidence still reaches the collector."""
    too_much = (len(r.answers) > MAX_ANSWERS or len(r.cname_chain) > MAX_CNAME_CHAIN
                or len(r.extended_errors) > MAX_EXTENDED_ERRORS or len(r.nsid) > MAX_NSID
                or len(r.parse_error) > MAX_TEXT
                or any(len(a.data) > MAX_ANSWER_DATA for a in r.answers)
                or any(len(e.text) > MAX_EDE_TEXT for e in r.extended_errors))
    if too_much:
        r = dataclasses.replace(
            r,
            answers=tuple(dataclasses.replace(a, data=a.data[:MAX_ANSWER_DATA])
                          for a in r.answers[:MAX_ANSWERS]),
            cname_chain=r.cname_chain[:MAX_CNAME_CHAIN],
            extended_errors=tuple(ExtendedError(e.code, e.text[:MAX_EDE_TEXT])
                                  for e in r.extended_errors[:MAX_EXTENDED_ERRORS]),
            nsid=r.nsid[:MAX_NSID],
            parse_error=r.parse_error[:MAX_TEXT],
            wire=r.wire or wire,  # the full evidence survives, up to MAX_WIRE
        )
    if len(r.wire) > MAX_WIRE:
        r = dataclasses.replace(r, wire=r.wire[:MAX_WIRE], wire_truncated=True)
    return r


def _fit(r: Response, room: int) -> Response:
    """`r` cut to at most `room` bytes: extended errors first (the strongest
    evidence), then the CNAME chain, then the raw bytes (already at most
    MAX_WIRE: the reply's start, in the resolver's own words), then answers in
    order. May still exceed `room` when even its fixed part does not fit."""
    bare = dataclasses.replace(r, answers=(), cname_chain=(), extended_errors=(), wire=b"",
                               wire_truncated=r.wire_truncated or bool(r.wire))
    left = room - response_size(bare)
    errors: list[ExtendedError] = []
    for e in r.extended_errors:
        cost = _EDE_FIXED + len(e.text.encode())
        if cost > left:
            break
        errors.append(e)
        left -= cost
    chain: list[str] = []
    for name in r.cname_chain:
        cost = _STR + len(name.encode())
        if cost > left:
            break
        chain.append(name)
        left -= cost
    wire = r.wire if len(r.wire) <= left else b""
    left -= len(wire)
    answers = []
    for a in r.answers:
        cost = answer_size(a.name, a.data)
        if cost > left:
            break
        answers.append(a)
        left -= cost
    return dataclasses.replace(bare, answers=tuple(answers), cname_chain=tuple(chain),
                               extended_errors=tuple(errors), wire=wire,
                               wire_truncated=r.wire_truncated or (bool(r.wire) and not wire))


def bound_measurement(m: Measurement, wires: list[bytes]) -> Measurement:
    """Bound `m` in place; `wires` are the raw replies, in the order of m.responses."""
    padded = [*wires, *[b""] * (len(m.responses) - len(wires))]
    responses = [bound_response(r, w) for r, w in zip(m.responses[:MAX_RESPONSES], padded,
                                                     strict=False)]
    m.responses = responses
    m.failure_text = m.failure_text[:MAX_TEXT]
    m.strays = [dataclasses.replace(s, reason=s.reason[:MAX_STRAY_REASON])
                for s in m.strays[:MAX_STRAYS]]
    m.stray_count = max(m.stray_count, len(m.strays))
    m.reply_count = max(m.reply_count, len(m.responses))
    if measurement_size(m) <= MAX_MEASUREMENT_BYTES:
        return m
    # Over the total: responses in arrival order share what is left; the
    # first (what a stub resolver would use) is served first.
    m.truncated = True
    room = MAX_MEASUREMENT_BYTES - measurement_size(dataclasses.replace(m, responses=[]))
    kept: list[Response] = []
    for r in responses:
        small = r if response_size(r) <= room else _fit(r, room)
        if response_size(small) > room:
            break
        kept.append(small)
        room -= response_size(small)
    m.responses = kept
    return m
