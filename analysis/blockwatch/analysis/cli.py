"""`blockwatch`: the analysts' commands (reports, reclassify).

Where the data comes from: `--collector unix:/path|host:port --token-file F`
asks a running collector (Reports RPC, analyst token; required while the
collector owns an embedded chDB path), `--db DSN` queries ClickHouse directly
(a server DSN, or a chDB path no collector holds).

Exit codes: 0 ok, 1 error, 2 usage. Every error is one line on stderr.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import logging
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from blockwatch.analysis.errors import UsageError
from blockwatch.analysis.filters import LAYER_CHOICES, Filters, parse_day
from blockwatch.analysis.reports import REPORT_NAMES, takes_layer
from blockwatch.contract.errors import BlockwatchError

if TYPE_CHECKING:
    from blockwatch.analysis import remote  # grpc is loaded only for --collector
    from blockwatch.analysis.answer import Answer
    from blockwatch.analysis.database import ClickHouseDatabase
    from blockwatch.analysis.reports import Report

app = typer.Typer(help="blockwatch: verdicts and reports on DNS blocking orders.",
                  no_args_is_help=True)

ReportName = enum.StrEnum("ReportName", [(n, n) for n in (*REPORT_NAMES, "html")])  # type: ignore[misc]


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Grain(enum.StrEnum):
    country = "country"
    asn = "asn"
    domain = "domain"


DbOpt = Annotated[str | None, typer.Option(
    "--db", envvar="BLOCKWATCH_DB",
    help="chdb:///path or http(s)://user:pass@host:8123 (env BLOCKWATCH_DB).")]
DatabaseOpt = Annotated[str, typer.Option("--database", help="ClickHouse database.")]
CollectorOpt = Annotated[str | None, typer.Option(
    "--collector", envvar="BLOCKWATCH_COLLECTOR",
    help="Ask a running collector: unix:/path or host:port.")]
TokenOpt = Annotated[Path | None, typer.Option(
    "--token-file", help="File holding an analyst token (with --collector).")]
CaOpt = Annotated[Path | None, typer.Option(
    "--ca-file", help="CA bundle (PEM): TLS to the collector.")]

Fetch = Callable[[str, Filters], "Answer"]
EvidenceFn = Callable[[str, dict[str, str]], "Report"]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"blockwatch {metadata.version('blockwatch')}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")]
          = False) -> None:
    """blockwatch: verdicts and reports on DNS blocking orders."""


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


def _open_db(db: str, database: str) -> ClickHouseDatabase:
    from blockwatch.analysis.database import ClickHouseDatabase
    from blockwatch.analysis.localdb import check_chdb

    if not db.startswith(("chdb://", "http://", "https://")):
        raise UsageError(f"{db!r}: expected chdb:///path or http(s)://host:port", field="db")
    check_chdb(db, database)
    return ClickHouseDatabase(db, database)


def _source(db: str | None, database: str, collector: str | None, token_file: Path | None,
            ca: Path | None, wait_s: float) -> Fetch:
    """A function fetching a report (and its status) from wherever the flags point;
    with wait_s > 0 it first waits for pending classification (WaitTimeout)."""
    return _sources(db, database, collector, token_file, ca, wait_s)[0]


def _sources(db: str | None, database: str, collector: str | None, token_file: Path | None,
             ca: Path | None, wait_s: float) -> tuple[Fetch, EvidenceFn]:
    """Reports (as _source) and the evidence behind them (web view's kinds)."""
    from blockwatch.analysis.status import WaitTimeout, read_status, wait_classified
    from blockwatch.analysis.webview.evidence import evidence

    endpoint = _endpoint(db, collector, token_file, ca)
    if endpoint is not None:
        from blockwatch.analysis import remote

        def ask_evidence(kind: str, params: dict[str, str]) -> Report:
            from blockwatch.analysis.webview.source import RemoteSource

            source = RemoteSource(endpoint.address, endpoint.ca, endpoint.timeout_s)
            return asyncio.run(source.evidence(endpoint.token, kind, params))

        def ask(name: str, filters: Filters) -> Answer:
            got = remote.answer(endpoint, name, filters, wait_s)
            if wait_s and got.status.pending:
                raise WaitTimeout(f"gave up after {wait_s:g} s: {got.status.pending} "
                                  "measurements still await classification")
            return got
        return ask, ask_evidence
    from blockwatch.analysis.answer import answer

    assert db is not None
    handle = _open_db(db, database)

    def fetch(name: str, filters: Filters) -> Answer:
        if wait_s:
            wait_classified(lambda: read_status(handle.rows), wait_s)
        return answer(name, filters, handle.rows)
    return fetch, lambda kind, params: evidence(kind, params, handle.rows)


def _run(action: Callable[[], None]) -> None:
    """Errors as one line and an exit code, never a traceback."""
    try:
        action()
    except UsageError as exc:
        typer.echo(f"usage error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except BlockwatchError as exc:  # ours, or e.g. the collector's StorageError on --db
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def report(
    name: Annotated[ReportName, typer.Argument(help="The report (html: all, with --out).")],
    order: Annotated[str, typer.Option("--order", help="Order id.")] = "",
    country: Annotated[str, typer.Option(
        "--country", help="Country: ISO code (IT) or name (Italy).")] = "",
    resolver: Annotated[str, typer.Option("--resolver", help="Resolver name.")] = "",
    site: Annotated[str, typer.Option("--site", help="Site name.")] = "",
    since: Annotated[str, typer.Option("--since", help="First UTC day (YYYY-MM-DD).")] = "",
    until: Annotated[str, typer.Option("--until", help="Last UTC day (YYYY-MM-DD).")] = "",
    by: Annotated[Grain, typer.Option(
        "--by", help="Rows per country (default), per probe ASN, or per domain.")]
        = Grain.country,
    layer: Annotated[str, typer.Option(
        "--layer", metavar="dns|web|site", autocompletion=lambda: list(LAYER_CHOICES),
        help="Which verdicts effectiveness, leakage, spillover and timeline count: the "
             "resolver's answers (dns), the pages behind them (web), or the first layer "
             "that blocks (site, the default).")] = "",
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    png: Annotated[Path | None, typer.Option("--png", help="timeline: draw a PNG.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="html: output directory.")] = None,
    wait: Annotated[bool, typer.Option(
        "--wait", help="First wait until no measurement awaits classification.")] = False,
    wait_timeout: Annotated[float, typer.Option(
        "--wait-timeout", min=0.0, help="Give up waiting after this many seconds.")] = 300.0,
    db: DbOpt = None, database: DatabaseOpt = "blockwatch", collector: CollectorOpt = None,
    token_file: TokenOpt = None, ca_file: CaOpt = None,
) -> None:
    """Print a report (or write the HTML report with `report html --out DIR`)."""
    from blockwatch.analysis.render import render

    report_name = str(name.value)

    def action() -> None:
        from blockwatch.analysis.outputs import check_dir, check_file

        if png is not None and report_name != "timeline":
            raise UsageError("--png draws the timeline report only", field="png")
        if (report_name == "html") != (out is not None):
            raise UsageError("report html needs --out DIR (and only html takes it)",
                             field="out")
        filters = Filters.parse(order=order, country=country, resolver=resolver, site=site,
                                since=since, until=until, by=by.value, layer=layer)
        # refuse a bad output path before querying anything
        if png is not None:
            check_file(png, "png")
        if out is not None:
            check_dir(out)
        fetch, evidence = _sources(db, database, collector, token_file, ca_file,
                                   wait_timeout if wait else 0.0)
        if report_name == "html":
            _html(fetch, filters, out, evidence)
            return
        got = fetch(report_name, filters)
        note = got.status.note()
        if got.status.empty and fmt is Format.table:
            typer.echo(note)
            return
        if png is not None:
            from blockwatch.analysis.charts import timeline_png
            from blockwatch.analysis.outputs import write_file

            write_file(png, timeline_png(got.report), "png")
        sys.stdout.write(render(got.report, fmt.value))
        if note:
            # the table is for people: the note follows it; JSON/CSV stay parseable
            typer.echo(note, err=fmt is not Format.table)

    _run(action)


def _html(fetch: Fetch, filters: Filters, out: Path | None, evidence: EvidenceFn) -> None:
    from blockwatch.analysis.html import write_html
    from blockwatch.analysis.webview.story import order_stories

    assert out is not None
    # --by splits tables into rows per ASN or domain; the map and timeline want
    # countries and resolvers, and probes take no order/site.
    # --layer: the layered reports' tables; the others count no layer.
    whole = dataclasses.replace(filters, by="")
    plain = dataclasses.replace(whole, layer="")
    probes = dataclasses.replace(plain, order="", site="")
    answers = {n: fetch(n, probes if n == "probes" else whole if takes_layer(n) else plain)
               for n in REPORT_NAMES}
    note = answers["effectiveness"].status.note()
    # the layers side by side: effectiveness at each
    layers = {name: answers["effectiveness"].report if name == whole.layer_name
              else fetch("effectiveness", dataclasses.replace(whole, layer=name)).report
              for name in LAYER_CHOICES}
    # the order pages of the web view, built by the same code, in the same file
    stories = order_stories(lambda n, f: fetch(n, f).report, evidence, plain)
    path = write_html({n: a.report for n, a in answers.items()}, out,
                      subtitle=_describe(filters), note=note, stories=stories, layers=layers)
    typer.echo(str(path))
    if note:
        typer.echo(note, err=True)


def _describe(f: Filters) -> str:
    parts = [f"{k}={v}" for k, v in (("order", f.order), ("country", f.country),
                                     ("resolver", f.resolver), ("site", f.site),
                                     ("since", f.since), ("until", f.until),
                                     ("layer", f.layer)) if v]
    return ", ".join(parts) or "all data"


@app.command()
def reclassify(
    since: Annotated[str, typer.Option("--since", help="First UTC day to redo.")] = "",
    fmt: Annotated[Format, typer.Option(
        "--format", help="table: a sentence; json: an object.")] = Format.table,
    db: DbOpt = None, database: DatabaseOpt = "blockwatch", collector: CollectorOpt = None,
    token_file: TokenOpt = None, ca_file: CaOpt = None,
) -> None:
    """Recompute stored verdicts after rules or fingerprints changed."""

    def action() -> None:
        if fmt is Format.csv:
            raise UsageError("reclassify prints a sentence (table) or JSON", field="format")
        day = parse_day(since, "since")
        endpoint = _endpoint(db, collector, token_file, ca_file)
        if endpoint is not None:
            from blockwatch.analysis import remote

            result = asyncio.run(remote.reclassify_remote(endpoint, since))
        else:
            from blockwatch.analysis.dnsverdicts import classifier_version
            from blockwatch.analysis.fingerprints import load_fingerprints
            from blockwatch.analysis.storage import reclassify as run
            from blockwatch.schema.migrate import apply_migrations

            assert db is not None
            handle = _open_db(db, database)
            apply_migrations(handle, handle.cluster)   # the verdict tables may be new
            fps = load_fingerprints()
            done = run(handle, fps, day)
            result = {"measurements": done.measurements, "seconds": round(done.seconds, 3),
                      "classifier_version": classifier_version(fps)}
        if fmt is Format.json:
            typer.echo(json.dumps(result))
            return
        n = int(result["measurements"])
        typer.echo(f"reclassified {n} measurement{'' if n == 1 else 's'}"
                   f"{f' from {day}' if day else ''} in {float(result['seconds']):.1f} s "
                   f"(classifier {result['classifier_version']})")

    _run(action)


@app.command()
def web(
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")]
        = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8080,
    registry: Annotated[Path | None, typer.Option(
        "--registry", help="With --db: the collector's registry.db (analyst tokens).")] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="Serve HTTPS: PEM.")]
        = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Its private key.")] = None,
    db: DbOpt = None, database: DatabaseOpt = "blockwatch", collector: CollectorOpt = None,
    ca_file: CaOpt = None,
) -> None:
    """Serve the analysts' web view (read-only; analyst tokens required)."""

    def action() -> None:
        from blockwatch.analysis.webview.serve import serve

        serve(host=host, port=port, db=db, database=database, collector=collector,
              ca=ca_file, registry=registry, tls_cert=tls_cert, tls_key=tls_key,
              open_db=_open_db)

    _run(action)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    app()
