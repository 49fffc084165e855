"""The block-page scan (one Aho-Corasick pass, lookups, then the few other
checks) names the same fingerprint as trying every fingerprint in file order,
on responses built from the packaged patterns themselves."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from blockwatch.analysis.httpfingerprints import (
    FALSE_POSITIVE_SCOPE,
    HttpFingerprint,
    HttpFingerprintSet,
    _values,
    load_http_fingerprints,
)
from blockwatch.analysis.webobservation import WebObservation

FPS = load_http_fingerprints()
BASE = WebObservation(observation_id="o", probe_name="p", probe_country="IT", round_id="r",
                      started_at_us=0, name="site.example", address="192.0.2.1",
                      http_sent=True, status=200)


def linear(fps: HttpFingerprintSet, web: WebObservation) -> HttpFingerprint | None:
    """The rule as stated: each fingerprint in turn, in-scope first."""
    values = _values(web)
    fallback = None
    for fp in fps.fingerprints:
        if fp.scope == FALSE_POSITIVE_SCOPE:
            continue
        if any(fp.matches(v) for v in values.get(fp.location, ())):
            if fp.in_scope(web.probe_country):
                return fp
            fallback = fallback or fp
    return fallback


def response(rng: random.Random) -> WebObservation:
    picks = rng.sample(FPS.fingerprints, rng.choice([0, 1, 2, 3]))
    body = ["<html>filler ", "x" * rng.randrange(0, 200)]
    headers: list[tuple[str, str]] = []
    for fp in picks:
        text = fp.pattern if fp.pattern_type != "regexp" else "no"
        if fp.pattern_type == "prefix" and rng.random() < 0.5:
            text += "/more"
        if fp.location == "body":
            body.append(text)
        else:
            headers.append((fp.location.removeprefix("header."), text))
    return replace(BASE, probe_country=rng.choice(["IT", "RU", "IR", "DE", "US"]),
                   body_prefix=" ".join(body).encode(), headers=tuple(headers))


@pytest.mark.parametrize("seed", range(5))
def test_the_indexed_scan_names_what_a_linear_scan_names(seed: int) -> None:
    rng = random.Random(seed)
    named = 0
    for _ in range(400):
        web = response(rng)
        want = linear(FPS, web)
        assert FPS.match(web) == want
        named += want is not None
    assert named > 100      # the responses do carry block pages


def test_false_positive_pages_are_never_named() -> None:
    fp = next(f for f in FPS.fingerprints if f.scope == FALSE_POSITIVE_SCOPE
              and f.location == "body" and f.pattern_type == "contains")
    assert FPS.match(replace(BASE, body_prefix=fp.pattern.encode())) is None
