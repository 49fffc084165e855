"""`blockwatch`: the analysts' commands (reports, reclassify).

Where the data comes from: `--collector unix:/path|host:port --token-file F`
asks a running collector (Reports RPC, analyst token; required while the
collector owns an embedded chDB path), `--db DSN` queries ClickHouse directly
(a server DSN, or a chDB path no collector holds).

Exit codes: 0 ok, 1 error, 2 usage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from blockwatch.analysis.errors import AnalysisError, UsageError
from blockwatch.analysis.filters import Filters, parse_day
from blockwatch.analysis.reports import REPORT_NAMES, Report

if TYPE_CHECKING:
    from blockwatch.analysis import remote  # grpc is loaded only for --collector

app = typer.Typer(help="blockwatch: verdicts and reports on DNS blocking orders.",
                  no_args_is_help=True, add_completion=False)

DbOpt = Annotated[str | None, typer.Option(
    "--db", envvar="BLOCKWATCH_DB",
    help="chdb:///path or http(s)://user:pass@host:8123 (env BLOCKWATCH_DB).")]
DatabaseOpt = Annotated[str, typer.Option("--database", help="ClickHouse database.")]
CollectorOpt = Annotated[str | None, typer.Option(
    "--collector", envvar="BLOCKWATCH_COLLECTOR",
    help="Ask a running collector: unix:/path or host:port.")]
TokenOpt = Annotated[Path | None, typer.Option(
    "--token-file", help="File holding an analyst token (with --collector).")]
CaOpt = Annotated[Path | None, typer.Option("--ca", help="CA bundle: TLS to the collector.")]

Fetch = Callable[[str, Filters], Report]


def _usage(message: str) -> typer.Exit:
    typer.echo(f"usage error: {message}", err=True)
    return typer.Exit(2)


def _endpoint(db: str | None, collector: str | None, token_file: Path | None,
              ca: Path | None) -> remote.Endpoint | None:
    """The collector to ask, or None for --db; exactly one of the two is allowed."""
    if bool(db) == bool(collector):
        raise UsageError("give exactly one of --db DSN or --collector ADDRESS", field="db")
    if not collector:
        return None
    from blockwatch.analysis import remote

    if token_file is None:
        raise UsageError("--collector needs --token-file", field="token-file")
    return remote.Endpoint(collector, remote.read_token(token_file), ca)


def _source(db: str | None, database: str, collector: str | None, token_file: Path | None,
            ca: Path | None) -> Fetch:
    """A function fetching a report from wherever the flags point."""
    endpoint = _endpoint(db, collector, token_file, ca)
    if endpoint is not None:
        from blockwatch.analysis import remote

        return lambda name, filters: remote.report(endpoint, name, filters)
    from blockwatch.analysis.database import ClickHouseDatabase
    from blockwatch.analysis.reports import build_report

    assert db is not None
    if not db.startswith(("chdb://", "http://", "https://")):
        raise UsageError(f"{db!r}: expected chdb:///path or http(s)://host:port", field="db")
    handle = ClickHouseDatabase(db, database)
    return lambda name, filters: build_report(name, filters, handle.rows)


def _run(action: Callable[[], None]) -> None:
    try:
        action()
    except UsageError as exc:
        raise _usage(str(exc)) from exc
    except AnalysisError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except Exception as exc:  # e.g. the collector's StorageError on a direct --db
        if type(exc).__module__.startswith("blockwatch."):
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        raise


@app.command()
def report(
    name: Annotated[str, typer.Argument(
        help=f"{', '.join(REPORT_NAMES)}, or html (with --out).")],
    order: Annotated[str, typer.Option("--order", help="Order id.")] = "",
    country: Annotated[str, typer.Option("--country", help="ISO country code.")] = "",
    resolver: Annotated[str, typer.Option("--resolver", help="Resolver name.")] = "",
    site: Annotated[str, typer.Option("--site", help="Site name.")] = "",
    since: Annotated[str, typer.Option("--since", help="First UTC day (YYYY-MM-DD).")] = "",
    until: Annotated[str, typer.Option("--until", help="Last UTC day (YYYY-MM-DD).")] = "",
    by: Annotated[str, typer.Option("--by", help="asn: one row per probe ASN.")] = "",
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    png: Annotated[Path | None, typer.Option("--png", help="timeline: draw a PNG.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="html: output directory.")] = None,
    db: DbOpt = None, database: DatabaseOpt = "blockwatch", collector: CollectorOpt = None,
    token_file: TokenOpt = None, ca: CaOpt = None,
) -> None:
    """Print a report (or write the HTML report with `report html --out DIR`)."""
    from blockwatch.analysis.render import FORMATS, render

    def action() -> None:
        if fmt not in FORMATS:
            raise UsageError(f"{fmt!r}: one of {', '.join(FORMATS)}", field="format")
        if name != "html" and name not in REPORT_NAMES:
            raise UsageError(f"unknown report {name!r}; one of {', '.join(REPORT_NAMES)}, html",
                             field="report")
        if png is not None and name != "timeline":
            raise UsageError("--png draws the timeline report only", field="png")
        if (name == "html") != (out is not None):
            raise UsageError("report html needs --out DIR (and only html takes it)",
                             field="out")
        filters = Filters(order=order, country=country, resolver=resolver, site=site,
                          since=parse_day(since, "since"), until=parse_day(until, "until"),
                          by=by)
        fetch = _source(db, database, collector, token_file, ca)
        if name == "html":
            from blockwatch.analysis.html import write_html

            assert out is not None
            # --by asn splits tables into rows per ASN; the map and timeline want countries
            # and resolvers, and probes take no order/site.
            whole = dataclasses.replace(filters, by="")
            probes = dataclasses.replace(whole, order="", site="")
            reports = {n: fetch(n, probes if n == "probes" else whole) for n in REPORT_NAMES}
            path = write_html(reports, out, subtitle=_describe(filters))
            typer.echo(str(path))
            return
        result = fetch(name, filters)
        if png is not None:
            from blockwatch.analysis.charts import timeline_png

            png.write_bytes(timeline_png(result))
        sys.stdout.write(render(result, fmt))

    _run(action)


def _describe(f: Filters) -> str:
    parts = [f"{k}={v}" for k, v in (("order", f.order), ("country", f.country),
                                     ("resolver", f.resolver), ("site", f.site),
                                     ("since", f.since), ("until", f.until)) if v]
    return ", ".join(parts) or "all data"


@app.command()
def reclassify(
    since: Annotated[str, typer.Option("--since", help="First UTC day to redo.")] = "",
    db: DbOpt = None, database: DatabaseOpt = "blockwatch", collector: CollectorOpt = None,
    token_file: TokenOpt = None, ca: CaOpt = None,
) -> None:
    """Recompute stored verdicts after rules or fingerprints changed."""

    def action() -> None:
        day = parse_day(since, "since")
        endpoint = _endpoint(db, collector, token_file, ca)
        if endpoint is not None:
            from blockwatch.analysis import remote

            result = asyncio.run(remote.reclassify_remote(endpoint, since))
        else:
            from blockwatch.analysis.classify import classifier_version
            from blockwatch.analysis.database import ClickHouseDatabase
            from blockwatch.analysis.fingerprints import load_fingerprints
            from blockwatch.analysis.storage import reclassify as run
            from blockwatch.collector.migrate import apply_migrations

            assert db is not None
            handle = ClickHouseDatabase(db, database)
            apply_migrations(handle, handle.cluster)   # the verdict tables may be new
            fps = load_fingerprints()
            done = run(handle, fps, day)
            result = {"measurements": done.measurements, "seconds": round(done.seconds, 3),
                      "classifier_version": classifier_version(fps)}
        typer.echo(json.dumps(result))

    _run(action)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    app()


