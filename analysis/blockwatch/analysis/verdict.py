"""The closed set of verdicts (docs/verdicts.md) and what each one carries.

A verdict is derived data: it names the rule that fired, the evidence the rule
looked at and the classifier version, so a stored verdict can be explained and
recomputed when rules or fingerprints change (`blockwatch reclassify`).

Status and Method are the one definition of these words: dnsverdicts.py and
rules_sql.py use the members, and the SQL `Enum8` columns that store them
number them in declaration order (from 0 for Method's '', from 1 for Status),
so new words go last (tests/unit/test_contract_vocabulary.py ties the
migrations to these).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# Bump when a rule or its order changes; fingerprint data carries its own
# digest (FingerprintSet.version), appended to this in stored verdicts.
RULES_VERSION = "2"


class Status(enum.StrEnum):
    """The verdicts (stored as Enum8 1..6 in this order: append only)."""

    OK = "ok"                # answered like an unfiltered resolver would
    BLOCKED = "blocked"      # a block, with the method that shows it
    FILTERED = "filtered"    # content filtering (EDE 17, family resolvers): not a legal block
    SUSPECT = "suspect"      # inconsistent with the control, no fingerprint to name it
    ERROR = "error"          # the resolver failed, for the control too
    UNKNOWN = "unknown"      # not enough context to judge

    @property
    def conclusive(self) -> bool:
        """Counts in a share's denominator (error and unknown say nothing about blocking)."""
        return self in (Status.OK, Status.BLOCKED, Status.FILTERED, Status.SUSPECT)


class Method(enum.StrEnum):
    """How a block was made (stored as Enum8 0..9 in this order: append only)."""

    NONE = ""
    EDE = "ede"              # Extended DNS Error 15/16/18 (17: filtered)
    REFUSED = "refused"      # REFUSED from a resolver that answers the control domain
    NXDOMAIN = "nxdomain"    # Quad9 style, or where the control resolves
    NODATA = "nodata"        # empty NOERROR where the control resolves
    SERVFAIL = "servfail"    # SERVFAIL where the control resolves
    SINKHOLE = "sinkhole"    # a known stop page / block page address or CNAME
    BOGON = "bogon"          # 0.0.0.0, 127/8, RFC 1918, documentation ranges, ...
    DROP = "drop"            # no answer (timeout, reset) where the control resolves
    INJECTED = "injected"    # differing UDP responses, or a forged reply to the query


# Names of the rules (stored in `verdicts.rule`); docs/verdicts.md explains each.
class Rule(enum.StrEnum):
    IDENTITY = "identity_check"
    INJECTED = "udp_responses_differ"
    STRAY_FORGED = "stray_reply_answers_the_query"
    STRAY_REPLIES = "stray_replies_before_timeout"
    EDE_BLOCKED = "ede_blocked"
    EDE_FILTERED = "ede_filtered"
    FINGERPRINT = "answer_matches_fingerprint"
    BOGON = "answer_is_bogon"
    MATCHES_CONTROL = "answer_matches_control"
    ANSWERS_DIFFER = "answer_differs_from_control"
    ANSWERED = "answered"
    CONTROL_VANTAGE = "control_vantage"
    QUAD9_NXDOMAIN = "nxdomain_without_ra_or_authority"
    CONTROL_RESOLVES = "control_resolves"
    CONSISTENT = "consistent_with_control"
    CONTROL_FAILED = "control_failed_too"
    NO_CONTROL = "no_control"
    NO_HEALTH = "resolver_health_unknown"
    RESOLVER_FAILS = "resolver_fails_controls"
    REFUSED_ANSWERS_CONTROL = "refused_by_resolver_answering_control"
    RCODE_ERROR = "rcode_error"
    TRANSPORT_FAILURE = "transport_failure"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the rule looked at. Empty fields did not matter for this verdict."""

    rcode: int | None = None
    ede_code: int | None = None
    ede_text: str = ""
    fingerprint: str = ""          # fingerprint or resolver-behaviour name
    answer: tuple[str, ...] = ()   # addresses / CNAMEs / later responses seen
    control_outcome: str = ""      # outcome of the reference resolution, if any
    control_answer: tuple[str, ...] = ()
    control_measurement_id: str = ""
    resolver_health: str = ""      # answers | fails | unknown


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    rule: Rule
    method: Method = Method.NONE
    evidence: Evidence = field(default_factory=Evidence)
    version: str = RULES_VERSION
