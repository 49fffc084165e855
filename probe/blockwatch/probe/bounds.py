"""Bounded observations: what a hostile or broken resolver can make a probe record.

A reply with 4,000 records is evidence, but a measurement that exceeds the
collector's limits gets its whole batch rejected. So the probe records at most
these many items; whenever it drops any, it keeps the raw response bytes, so
the full evidence still reaches the collector. `tests/unit/test_bounds.py` checks
these stay within the collector's validation limits.
"""

from __future__ import annotations

import dataclasses

from blockwatch.probe.observation import ExtendedError, Measurement, Response

MAX_RESPONSES = 16       # UDP replies kept per query (the first ones, in arrival order)
MAX_ANSWERS = 256
MAX_CNAME_CHAIN = 32
MAX_ANSWER_DATA = 8192   # characters of one record's presentation form
MAX_EXTENDED_ERRORS = 16
MAX_EDE_TEXT = 1024
MAX_NSID = 512
MAX_TEXT = 4096          # failure_text, parse_error


def bound_response(r: Response) -> Response:
    """`r`, or a copy within the limits that keeps its raw bytes."""
    too_much = (len(r.answers) > MAX_ANSWERS or len(r.cname_chain) > MAX_CNAME_CHAIN
                or len(r.extended_errors) > MAX_EXTENDED_ERRORS or len(r.nsid) > MAX_NSID
                or len(r.parse_error) > MAX_TEXT
                or any(len(a.data) > MAX_ANSWER_DATA for a in r.answers)
                or any(len(e.text) > MAX_EDE_TEXT for e in r.extended_errors))
    if not too_much:
        return r
    return dataclasses.replace(
        r,
        answers=tuple(dataclasses.replace(a, data=a.data[:MAX_ANSWER_DATA])
                      for a in r.answers[:MAX_ANSWERS]),
        cname_chain=r.cname_chain[:MAX_CNAME_CHAIN],
        extended_errors=tuple(ExtendedError(e.code, e.text[:MAX_EDE_TEXT])
                              for e in r.extended_errors[:MAX_EXTENDED_ERRORS]),
        nsid=r.nsid[:MAX_NSID],
        parse_error=r.parse_error[:MAX_TEXT],
        wire=r.wire,  # set by the caller: see bound_measurement
    )


def bound_measurement(m: Measurement, wires: list[bytes]) -> Measurement:
    """Bound `m` in place; `wires` are the raw replies, in the order of m.responses."""
    bounded: list[Response] = []
    for response, wire in zip(m.responses[:MAX_RESPONSES], wires, strict=False):
        small = bound_response(response)
        if small is not response and not small.wire:
            small = dataclasses.replace(small, wire=wire)  # the full evidence survives
        bounded.append(small)
    m.responses = bounded
    m.failure_text = m.failure_text[:MAX_TEXT]
    return m
