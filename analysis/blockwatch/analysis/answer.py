"""A report as analysts get it: the request checked (names, filters that apply,
filter values the database knows), the report, and the status of the data
behind it (pending classification, or nothing stored yet).

`build_report` (reports.py) stays the bare query, for benchmarks and tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from blockwatch.analysis.filters import Filters
from blockwatch.analysis.known import check_known
from blockwatch.analysis.reports import REPORTS, QueryFn, Report, build_report, check_request
from blockwatch.analysis.status import Status, read_status


@dataclass(frozen=True, slots=True)
class Answer:
    report: Report
    status: Status


def answer(name: str, filters: Filters, query: QueryFn) -> Answer:
    """Report `name` through `query(sql, parameters)`, with its status.

    UsageError (UnknownValue) for a filter value naming nothing known; on an
    empty database there is nothing to know yet, and the status says so."""
    check_request(name, filters)
    status = read_status(query)
    if not status.empty:
        check_known(filters, query, REPORTS[name].filters)
    return Answer(build_report(name, filters, query), status)
