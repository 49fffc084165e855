"""An order's story from the reports, for the web view's order page and the
static HTML report alike: which reports it needs, and the story built from
them (pages.order_story)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jinja2

from blockwatch.analysis.filters import Filters
from blockwatch.analysis.reports import Report, Value
from blockwatch.analysis.webview import pages

ReportFn = Callable[[str, Filters], Report]
EvidenceFn = Callable[[str, dict[str, str]], Report]


def story_requests(order: dict[str, Value], f: Filters) -> list[tuple[str, Filters]]:
    """The reports behind an order's story (its timelines are the evidence
    kind `compliance_days`: one query for every intermediary)."""
    f = dataclasses.replace(f, order=str(order["order"]), by="", country="")
    return [("compliance", f), ("compliance", dataclasses.replace(f, by="domain")),
            ("leakage", f), ("spillover", f)]


def build_story(order: dict[str, Value], f: Filters, reports: Sequence[Report], *,
                sources: Report, domains: Report, days: Report,
                note: str = "") -> pages.OrderStory:
    f = dataclasses.replace(f, order=str(order["order"]), by="", country="")
    return pages.order_story(order, f, compliance=reports[0], by_domain=reports[1],
                             leakage=reports[2], spillover=reports[3], timeline=days,
                             sources=sources, domains=domains, note=note)


def order_stories(report: ReportFn, evidence: EvidenceFn, f: Filters) -> str:
    """Every order's story (or the one --order names) as HTML for the static
    report: the web view's templates, without links to a server."""
    orders = evidence("orders", {"order": f.order})
    stories = []
    for order in orders.records():
        name = str(order["order"])
        window = {"order": name, **pages.days(f)}
        reports = [report(n, rf) for n, rf in story_requests(order, f)]
        stories.append(build_story(order, f, reports, sources=evidence("sources", window),
                                   domains=evidence("domains", {"order": name}),
                                   days=evidence("compliance_days", window)))
    return render_static(stories)


def render_static(stories: Sequence[pages.OrderStory]) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("blockwatch.analysis.webview"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    context: dict[str, Any] = {"stories": stories, "static": True}
    return env.get_template("orders_static.html").render(**context)


def stylesheet() -> str:
    from importlib import resources

    return resources.files("blockwatch.analysis.webview").joinpath("static", "style.css") \
        .read_text("utf-8")
