"""Report -> text: a rich table for people, JSON (array of objects keyed by the
columns' snake_case names) and CSV with a header. Values come formatted from the
Report, so all three show the same numbers."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys

from blockwatch.analysis.reports import Report, Value

FORMATS = ("table", "json", "csv")


def cell(value: Value) -> str:
    """One value as text, the same in the table and the CSV ('' for none)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_json(report: Report) -> str:
    return json.dumps(report.records(), indent=2, ensure_ascii=False) + "\n"


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(report.keys)
    writer.writerows([cell(v) for v in row] for row in report.rows)
    return out.getvalue()


def to_table(report: Report, width: int | None = None) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=report.title, title_justify="left")
    for column in report.columns:
        numeric = column.kind in ("int", "pct")
        table.add_column(column.title, justify="right" if numeric else "left")
    for row in report.rows:
        table.add_row(*(cell(v) if v is not None else "-" for v in row))
    if width is None:
        # a terminal gets the table folded to its width; a file or pipe gets the
        # table at its natural width, so no order id or timestamp is cut
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 1000
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    console.print(table, crop=False)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return str(text)


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    return to_table(report)
