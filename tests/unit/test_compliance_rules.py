"""The compliance report's pure parts: the remedy in words, others' blocks
named as theirs, and the per-domain query rows summed into report rows."""

from __future__ import annotations

import datetime as dt

from blockwatch.analysis.compliance import (
    NONE_OBSERVED,
    day_rows,
    others,
    remedy,
    report_rows,
)

D = dt.date(2024, 8, 15)
AT = dt.datetime(2024, 8, 15, 10, tzinfo=dt.UTC)


def test_edge_remedy_alone_says_dns_unchanged_when_its_resolvers_were_measured() -> None:
    assert remedy([("http", "edge", "http-451")], True) == "edge http-451, DNS unchanged"
    # an intermediary with no resolver measured: nothing to say about its DNS
    assert remedy([("http", "edge", "http-451")], False) == "edge http-451"


def test_dns_and_edge_remedies_are_joined_dns_first() -> None:
    how = [("http", "edge", "http-451"), ("dns", "resolver", "sinkhole"),
           ("dns", "resolver", "nxdomain"), ("ip", "network", "ip-drop")]
    assert remedy(how, True) == "DNS nxdomain/sinkhole + network ip-drop + edge http-451"


def test_never_blocked_by_its_hand_is_none_observed() -> None:
    assert remedy([], True) == NONE_OBSERVED


def test_others_name_the_party_and_whose() -> None:
    whose = [("resolver", "isp", "isp", "sinkhole"), ("network", "AS3269", "", "ip-drop"),
             ("resolver", "isp", "isp", "sinkhole"), ("edge", "", "", "http-451")]
    assert others(whose) == "edge: http-451; network AS3269: ip-drop; resolver isp: sinkhole"
    assert others([]) is None


def _row(domain: str | None, kind: str | None, **kw: object) -> tuple[object, ...]:
    """One query row: a domain on one day (by default D, after the due day)."""
    v: dict[str, object] = {
        "added": dt.date(2024, 7, 15), "due": dt.date(2024, 8, 14), "day": D, "since": None,
        "first": None, "open": None, "blocked": 0, "total": 0, "others": 0, "own": False,
        "how": [], "whose": [], "latest": None, "latest_at": None, **kw}
    return ("o", "cf", 0, domain, kind, v["added"], dt.date(2024, 8, 14), v["due"], v["day"],
            v["since"], v["first"], v["open"], v["blocked"], v["total"], v["others"], v["own"],
            v["how"], v["whose"], v["latest"], v["latest_at"])


def test_domains_sum_into_one_row_and_mirrors_count_per_domain() -> None:
    rows = [
        _row("a.to", "domain", since=AT, first=AT, blocked=3, total=4, own=True,
             how=[("http", "edge", "http-451")], latest="blocked", latest_at=AT),
        # before its due day: nothing counted, but its first times and latest verdict are
        _row("a.cr", "mirror", since=AT - dt.timedelta(days=2), due=dt.date(2024, 8, 31),
             added=dt.date(2024, 8, 1), total=3, others=1,
             whose=[("resolver", "isp", "isp", "sinkhole")], latest="ok", latest_at=AT),
        _row("b.org", "mirror", since=AT, due=dt.date(2024, 8, 14), total=2, latest="ok",
             latest_at=AT, how=[("dns", "resolver", "nxdomain")]),
        # an earlier day of b.org: blocked then; the latest verdict is D's
        _row("b.org", "mirror", day=D - dt.timedelta(days=1), since=AT - dt.timedelta(days=1),
             total=1, blocked=1, latest="blocked", latest_at=AT - dt.timedelta(days=1))]
    (one,) = report_rows(rows, by_domain=False)
    (_, _, _, domain, kind, added, _, due, since, first, _, blocked, total, others_n, own, how,
     whose, mirrors, reachable, overdue) = one
    assert kind == "domain" and whose == [("resolver", "isp", "isp", "sinkhole")]
    assert (domain, added, due, since, first) == (
        "", dt.date(2024, 7, 15), dt.date(2024, 8, 14), AT - dt.timedelta(days=2), AT)
    assert (blocked, total, others_n, own) == (4, 7, 0, True)
    assert how == [("dns", "resolver", "nxdomain"), ("http", "edge", "http-451")]
    # two mirrors measured, both reachable; only b.org is due already
    assert (mirrors, reachable, overdue) == (2, 2, 1)
    assert [r[3] for r in report_rows(rows, by_domain=True)] == ["a.to", "a.cr", "b.org"]
    # the timeline: every domain, every day, due or not
    assert day_rows(rows) == [("cf", D - dt.timedelta(days=1), 1, 1, 0), ("cf", D, 3, 9, 1)]


def test_an_intermediary_nothing_measured_keeps_its_row() -> None:
    (row,) = report_rows([_row(None, None, added=None, due=None, day=None)], by_domain=False)
    assert row[1] == "cf" and row[8] is None and row[17:] == (0, 0, 0)
