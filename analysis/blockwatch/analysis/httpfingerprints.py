"""Known block pages, recognised in an HTTP response: OONI's HTTP fingerprints
(data/http_fingerprints.csv, data/SOURCE.md). Loading and matching are pure.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from importlib import resources

import ahocorasick  # type: ignore[import-not-found]  # no stubs; C extension

from blockwatch.analysis.errors import DataError
from blockwatch.analysis.webobservation import WebObservation

LOCATIONS = ("body", "header.server", "header.via", "header.location", "header.x-app-url")
PATTERN_TYPES = ("contains", "prefix", "full", "regexp")
FALSE_POSITIVE_SCOPE = "fp"   # upstream: pages that look like block pages and are not


@dataclass(frozen=True, slots=True)
class HttpFingerprint:
    name: str
    scope: str                       # nat | isp | prod | inst | vbw | fp ...
    location: str                    # one of LOCATIONS
    pattern_type: str                # one of PATTERN_TYPES
    pattern: str
    countries: tuple[str, ...]       # expected countries; empty: anywhere
    source: str = ""
    regex: re.Pattern[str] | None = None

    def in_scope(self, country: str) -> bool:
        return not self.countries or country in self.countries

    def matches(self, value: str) -> bool:
        if self.pattern_type == "contains":
            return self.pattern in value
        if self.pattern_type == "prefix":
            return value.startswith(self.pattern)
        if self.pattern_type == "full":
            return value == self.pattern
        return self.regex is not None and self.regex.search(value) is not None


class _Index:
    """The set's patterns for one scan per response: every body `contains`
    pattern (1,296 of them) in one Aho-Corasick automaton, `full` patterns as
    a lookup per location, and the rest (prefixes, header substrings,
    regexps: a few hundred short checks) tried one by one, only on values the
    response has. Finds the same fingerprints as trying each in turn."""

    def __init__(self, fingerprints: tuple[HttpFingerprint, ...]) -> None:
        self.automaton: object | None = None
        self.full: dict[str, dict[str, list[int]]] = {}
        self.checks: dict[str, list[tuple[int, HttpFingerprint]]] = {}
        self.regexps: list[tuple[int, HttpFingerprint]] = []   # may match an empty value
        words: dict[str, list[int]] = {}
        for i, fp in enumerate(fingerprints):
            if fp.scope == FALSE_POSITIVE_SCOPE:
                continue
            if fp.location == "body" and fp.pattern_type == "contains":
                words.setdefault(fp.pattern, []).append(i)
            elif fp.pattern_type == "full":
                self.full.setdefault(fp.location, {}).setdefault(fp.pattern, []).append(i)
            elif fp.pattern_type == "regexp":
                self.regexps.append((i, fp))
            else:
                self.checks.setdefault(fp.location, []).append((i, fp))
        if words:
            automaton = ahocorasick.Automaton()
            for pattern, indexes in words.items():
                automaton.add_word(pattern, tuple(indexes))
            automaton.make_automaton()
            self.automaton = automaton

    def matching(self, values: dict[str, tuple[str, ...]]) -> set[int]:
        """Indexes (file order) of the fingerprints the response matches."""
        found: set[int] = set()
        body = values["body"][0]
        if self.automaton is not None and body:
            for _end, indexes in self.automaton.iter(body):  # type: ignore[attr-defined]
                found.update(indexes)
        for location, given in values.items():
            present = tuple(v for v in given if v)
            if not present:
                continue      # a non-empty pattern matches no empty value
            full = self.full.get(location, {})
            for v in present:
                found.update(full.get(v, ()))
            for i, fp in self.checks.get(location, ()):
                if any(fp.matches(v) for v in present):
                    found.add(i)
        for i, fp in self.regexps:
            if any(fp.matches(v) for v in values.get(fp.location, ())):
                found.add(i)
        return found


@dataclass(frozen=True, slots=True)
class HttpFingerprintSet:
    fingerprints: tuple[HttpFingerprint, ...] = ()
    version: str = "none"
    _index: _Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", _Index(self.fingerprints))

    def match(self, web: WebObservation) -> HttpFingerprint | None:
        """The block-page fingerprint the response matches, one expected in the
        probe's country first; known false positives never match. A block page
        seen outside its countries is still named (spillover is worth naming).
        Among several, the first in file order wins, as upstream lists them."""
        fallback: HttpFingerprint | None = None
        for i in sorted(self._index.matching(_values(web))):
            fp = self.fingerprints[i]
            if fp.in_scope(web.probe_country):
                return fp
            fallback = fallback or fp
        return fallback


def _values(web: WebObservation) -> dict[str, tuple[str, ...]]:
    # The body prefix is what the probe kept (bounded by web.body_bytes); a
    # pattern beyond it goes unseen, which only ever loses a match.
    body = web.body_prefix.decode("utf-8", errors="replace")
    locations = (web.header("location"), *web.redirect_locations)
    return {"body": (body,), "header.server": (web.header("server"),),
            "header.via": (web.header("via"),),
            "header.location": tuple(v for v in locations if v),
            "header.x-app-url": (web.header("x-app-url"),)}


def parse_http_fingerprints(text: str) -> tuple[HttpFingerprint, ...]:
    out = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        location, kind, pattern = row.get("location_found"), row.get("pattern_type"), row.get(
            "pattern")
        if location not in LOCATIONS or kind not in PATTERN_TYPES or not pattern \
                or not row.get("name"):
            raise DataError(f"http_fingerprints.csv line {line}: bad name, location or pattern")
        try:
            regex = re.compile(pattern) if kind == "regexp" else None
        except re.error as exc:
            raise DataError(f"http_fingerprints.csv line {line}: bad regexp: {exc}") from exc
        countries = tuple(c.strip() for c in (row.get("expected_countries") or "").split(",")
                          if c.strip() and c.strip() != "ZZ")
        out.append(HttpFingerprint(row["name"], row.get("scope") or "", location, kind, pattern,
                                   countries, row.get("source") or "", regex))
    return tuple(out)


def load_http_fingerprints() -> HttpFingerprintSet:
    try:
        text = resources.files("blockwatch.analysis").joinpath(
            "data", "http_fingerprints.csv").read_text("utf-8")
    except OSError as exc:
        raise DataError(f"packaged data file http_fingerprints.csv is missing: {exc}") from exc
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return HttpFingerprintSet(parse_http_fingerprints(text), digest)
