"""Known block-page addresses / CNAMEs and public-resolver block behaviours,
loaded from the packaged data files (data/SOURCE.md). Matching is pure.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources

from blockwatch.analysis.bogons import is_bogon
from blockwatch.analysis.errors import DataError
from blockwatch.analysis.observation import FLAG_RA, Observation
from blockwatch.analysis.verdict import Method, Status


@dataclass(frozen=True, slots=True)
class Fingerprint:
    name: str
    kind: str                      # address | cname
    pattern: str
    countries: tuple[str, ...]     # where it is expected; empty: anywhere
    scope: str = ""                # nat | isp | prod | inst | vbw (upstream)
    source: str = ""

    def in_scope(self, country: str) -> bool:
        return not self.countries or country in self.countries


@dataclass(frozen=True, slots=True)
class Behaviour:
    """A resolver's way of signalling a block; empty criteria match anything."""

    name: str
    rcode: int | None
    ra: bool | None
    authority: int | None
    ede_codes: frozenset[int]
    answers: frozenset[str]
    status: Status
    method: Method
    source: str = ""

    def matches(self, obs: Observation) -> bool:
        if obs.rcode is None or (self.rcode is not None and obs.rcode != self.rcode):
            return False
        if self.ra is not None and bool(obs.flags & FLAG_RA) != self.ra:
            return False
        if self.authority is not None and obs.authority_count != self.authority:
            return False
        if self.ede_codes and not self.ede_codes & {code for code, _ in obs.ede}:
            return False
        return not self.answers or (bool(obs.addresses) and set(obs.addresses) <= self.answers)


@dataclass(frozen=True, slots=True)
class FingerprintSet:
    fingerprints: tuple[Fingerprint, ...] = ()
    behaviours: tuple[Behaviour, ...] = ()
    version: str = "none"          # digest of the data, stored with every verdict
    _index: dict[str, tuple[Fingerprint, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, list[Fingerprint]] = {}
        for fp in self.fingerprints:
            index.setdefault(fp.pattern, []).append(fp)
        # frozen: built once here, read-only afterwards
        object.__setattr__(self, "_index", {k: tuple(v) for k, v in index.items()})

    def match(self, values: Iterable[str], country: str) -> Fingerprint | None:
        """The fingerprint an answer (address or CNAME) matches, in scope first.

        Out of its countries a fingerprint still names a public stop page (an
        Italian stop page served in Germany is spillover, and worth naming), but
        not a private address: 10.10.34.34 means Iran only inside Iran.
        """
        index = self._index
        fallback: Fingerprint | None = None
        for value in values:
            for fp in index.get(value, ()):
                if fp.in_scope(country):
                    return fp
                if fallback is None and not is_bogon(fp.pattern) and fp.kind == "address":
                    fallback = fp
        return fallback

    def behaviour(self, obs: Observation) -> Behaviour | None:
        return next((b for b in self.behaviours if b.matches(obs)), None)


def _read(name: str) -> str:
    try:
        return resources.files("blockwatch.analysis").joinpath("data", name).read_text("utf-8")
    except OSError as exc:
        raise DataError(f"packaged data file {name} is missing: {exc}") from exc


def parse_fingerprints(text: str) -> tuple[Fingerprint, ...]:
    out = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        if row.get("kind") not in ("address", "cname") or not row.get("name"):
            raise DataError(f"dns_fingerprints.csv line {line}: bad kind or name")
        out.append(Fingerprint(row["name"], row["kind"], row["pattern"].strip().lower(),
                               tuple(row["countries"].split()), row.get("scope", ""),
                               row.get("source", "")))
    return tuple(out)


def parse_behaviours(text: str) -> tuple[Behaviour, ...]:
    def opt(value: str) -> int | None:
        return int(value) if value.strip() else None

    out = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            ra = opt(row["ra"])
            out.append(Behaviour(
                name=row["name"], rcode=opt(row["rcode"]), ra=None if ra is None else bool(ra),
                authority=opt(row["authority"]),
                ede_codes=frozenset(int(c) for c in row["ede_codes"].split()),
                answers=frozenset(row["answers"].split()), status=Status(row["status"]),
                method=Method(row["method"]), source=row["source"]))
        except (KeyError, ValueError) as exc:
            raise DataError(f"resolver_behaviours.csv line {line}: {exc}") from exc
    return tuple(out)


def load_fingerprints() -> FingerprintSet:
    """The packaged fingerprints; `version` changes whenever the data does."""
    fps, behaviours = _read("dns_fingerprints.csv"), _read("resolver_behaviours.csv")
    digest = hashlib.sha256((fps + "\0" + behaviours).encode()).hexdigest()[:8]
    return FingerprintSet(parse_fingerprints(fps), parse_behaviours(behaviours), digest)
