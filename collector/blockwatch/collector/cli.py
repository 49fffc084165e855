"""`blockwatch-collector`: serve, migrate, and manage probes, analysts and orders.

Only this module configures logging and builds Settings; everything below gets
them passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import logging
import socket
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pycountry
import typer

from blockwatch.collector.errors import CollectorError, ConfigError
from blockwatch.collector.orders import (
    CSV_COLUMNS,
    canonical,
    parse_orders,
    unknown_intermediaries,
)
from blockwatch.collector.registry import Registry
from blockwatch.collector.settings import Settings, build_settings, is_loopback
from blockwatch.contract.resolvers import DEFAULT_RESOLVERS
from blockwatch.runtime import __version__
from blockwatch.runtime.commandline import (
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    rfc3339,
    run_app,
    setup_logging,
    version_option,
)
from blockwatch.schema.migrate import load_migrations
from blockwatch.schema.principals import Role

log = logging.getLogger("blockwatch.collector")

app = typer.Typer(help="blockwatch collector: ingest probe measurements into ClickHouse.",
                  no_args_is_help=True, add_completion=False)
probes_app = typer.Typer(help="Register, list and revoke probes.", no_args_is_help=True)
analysts_app = typer.Typer(help="Register, list and revoke analysts (report readers).",
                           no_args_is_help=True)
targets_app = typer.Typer(help="Import and list blocking orders and targets.",
                          no_args_is_help=True)
app.add_typer(probes_app, name="probes")
app.add_typer(analysts_app, name="analysts")
app.add_typer(targets_app, name="targets")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c",
                                                 help="Collector TOML config.")]
DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", help="Where registry.db (and by default the chDB database) live.")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="chdb:///path or http(s)://user:pass@host:8123 (env BLOCKWATCH_DB).")]
DatabaseOpt = Annotated[str | None, typer.Option("--database", help="ClickHouse database.")]
ClusterOpt = Annotated[str | None, typer.Option(
    "--cluster", help="Create Replicated + Distributed tables ON CLUSTER NAME.")]


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class OrdersFormat(StrEnum):
    auto = "auto"
    csv = "csv"
    yaml = "yaml"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


@app.callback()
def _main(version: Annotated[bool, version_option(__version__)] = False) -> None:
    """blockwatch collector: ingest probe measurements into ClickHouse."""


def _fail(exc: Exception) -> typer.Exit:
    text = str(exc) if isinstance(exc, CollectorError) else f"{type(exc).__name__}: {exc}"
    typer.echo(f"error: {' '.join(text.split())}", err=True)
    return typer.Exit(2)


def _settings(config: Path | None, data_dir: Path | None, **kw: object) -> Settings:
    try:
        return build_settings(config, data_dir=data_dir, **kw)  # type: ignore[arg-type]
    except CollectorError as exc:
        raise _fail(exc) from exc


@app.command()
def serve(
    config: ConfigOpt = None, data_dir: DataDirOpt = None, db: DbOpt = None,
    database: DatabaseOpt = None, cluster: ClusterOpt = None,
    listen: Annotated[list[str] | None, typer.Option(
        "--listen", help="host:port to serve gRPC on (repeatable).")] = None,
    unix: Annotated[str | None, typer.Option("--unix", help="Unix socket path.")] = None,
    cert: Annotated[Path | None, typer.Option("--cert", help="TLS certificate chain.")] = None,
    key: Annotated[Path | None, typer.Option("--key", help="TLS private key.")] = None,
    client_ca: Annotated[Path | None, typer.Option(
        "--client-ca", help="Require client certificates signed by this CA (mTLS).")] = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Allow plaintext on non-loopback addresses.")] = False,
    metrics: Annotated[str | None, typer.Option(
        "--metrics", help="host:port for Prometheus /metrics.")] = None,
    settle: Annotated[float | None, typer.Option(
        "--settle", metavar="SECONDS",
        help="Wait this long after a measurement arrived before its verdict, for the "
             "control measurement nearest in time (0..86400; default 60).")] = None,
    log_level: LogLevelOption = LogLevel.info,
    log_format: LogFormatOption = LogFormat.kv,
) -> None:
    """Serve probes over gRPC and store their measurements."""
    from blockwatch.collector.server import Collector

    setup_logging(log_level, log_format)
    settings = _settings(config, data_dir, db=db, database=database, cluster=cluster,
                         listen=listen, unix=unix, cert=cert, key=key, client_ca=client_ca,
                         insecure=insecure, metrics=metrics, settle_s=settle)
    try:
        # everything that can be refused is refused before a file or socket exists
        settings.check_serving()
        if settings.metrics:
            _check_bindable(settings.metrics)
    except CollectorError as exc:
        raise _fail(exc) from exc
    _warn_exposed(settings)
    stale_socket = bool(settings.unix) and Path(settings.unix).exists()

    async def run() -> None:
        collector = Collector(settings)
        try:
            await collector.serve_forever()
        except (CollectorError, OSError):
            # a start that failed half-way (a port taken) stops what it started
            with contextlib.suppress(Exception):
                await collector.stop(grace=0)
            raise

    try:
        asyncio.run(run())
    except (CollectorError, OSError) as exc:
        # a start that failed half-way must not leave its socket behind
        if settings.unix and not stale_socket:
            Path(settings.unix).unlink(missing_ok=True)
        raise _fail(exc) from exc


def _check_bindable(address: str) -> None:
    """The metrics port is bound after gRPC's: try it first, so a taken port is
    refused before anything starts."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as exc:
        raise ConfigError(f"cannot listen on {address}: {exc.strerror or exc}",
                          field="metrics") from exc


def _warn_exposed(settings: Settings) -> None:
    """Plaintext or metrics reachable beyond this host are allowed, on purpose
    (TLS may end at a proxy; Prometheus may scrape from elsewhere), but never
    silently: a warning at every start, in the log where operators look."""
    if settings.cert is None:
        for address in settings.listen:
            if not is_loopback(address):
                log.warning("event=plaintext_exposed listen=%s: probe tokens and measurements "
                            "cross the network in plaintext (--insecure); use --cert/--key "
                            "unless a TLS proxy on this host terminates it", address)
    if settings.metrics and not is_loopback(settings.metrics):
        log.warning("event=metrics_exposed metrics=%s: /metrics (probe names, counts) is "
                    "served without authentication beyond this host; bind it to 127.0.0.1 "
                    "unless a firewall limits who scrapes it", settings.metrics)


@app.command()
def migrate(
    config: ConfigOpt = None, data_dir: DataDirOpt = None, db: DbOpt = None,
    database: DatabaseOpt = None, cluster: ClusterOpt = None,
    print_only: Annotated[bool, typer.Option(
        "--print", help="Print the DDL instead of applying it.")] = False,
) -> None:
    """Apply pending schema migrations (the collector also does this at start)."""
    settings = _settings(config, data_dir, db=db, database=database, cluster=cluster)
    if print_only:
        for migration in load_migrations():
            typer.echo(f"-- {migration.version:04d}_{migration.name}")
            for statement in migration.statements(settings.cluster):
                typer.echo(statement + ";\n")
        return
    from blockwatch.collector.store import Store

    try:
        store = Store(settings.db, settings.database, settings.cluster)
        applied = store.migrate()
        store.close()
    except CollectorError as exc:
        raise _fail(exc) from exc
    for m in applied:
        typer.echo(f"applied {m.version:04d}_{m.name}")
    if not applied:
        typer.echo("schema is up to date")


def _registry(config: Path | None, data_dir: Path | None) -> Registry:
    settings = _settings(config, data_dir)
    try:
        return Registry(settings.registry_path)
    except CollectorError as exc:
        raise _fail(exc) from exc


def _add(role: Role, name: str, config: Path | None, data_dir: Path | None, *,
         country: str = "", asn: int = 0, control: bool = False, rotate: bool = False) -> None:
    registry = _registry(config, data_dir)
    try:
        token = registry.add(role, name, country=country, asn=asn, control=control,
                             rotate=rotate)
    except CollectorError as exc:
        raise _fail(exc) from exc
    finally:
        registry.close()
    typer.echo(token)
    typer.echo(f"{role} {name!r} registered; this token is shown once, store it now.",
               err=True)


def _check_name(name: str) -> str:
    if not name or len(name) > 63 or not all(ch.isalnum() or ch in "._-" for ch in name):
        raise typer.BadParameter("1-63 letters, digits, '.', '_' or '-'")
    return name


@probes_app.command("add")
def probes_add(
    name: Annotated[str, typer.Argument(callback=_check_name)],
    country: Annotated[str, typer.Option("--country", help="ISO 3166-1 alpha-2 code.")],
    asn: Annotated[int, typer.Option("--asn", min=0, max=4_294_967_295)] = 0,
    control: Annotated[bool, typer.Option("--control", help="An unfiltered vantage.")] = False,
    rotate: Annotated[bool, typer.Option("--rotate", help="Issue a new token.")] = False,
    config: ConfigOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Register a probe and print its token once."""
    code = country.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise typer.BadParameter(f"{country!r} is not an ISO 3166-1 alpha-2 code",
                                 param_hint="--country")
    _add("probe", name, config, data_dir, country=code, asn=asn, control=control,
         rotate=rotate)


@probes_app.command("update")
def probes_update(
    name: Annotated[str, typer.Argument(callback=_check_name)],
    country: Annotated[str | None, typer.Option("--country", help="ISO 3166-1 alpha-2.")] = None,
    asn: Annotated[int | None, typer.Option("--asn", min=0, max=4_294_967_295)] = None,
    control: Annotated[bool | None, typer.Option("--control/--no-control")] = None,
    config: ConfigOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Correct a probe's country, ASN or control flag; its token stays valid."""
    code = None
    if country is not None:
        code = country.strip().upper()
        if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
            raise typer.BadParameter(f"{country!r} is not an ISO 3166-1 alpha-2 code",
                                     param_hint="--country")
    registry = _registry(config, data_dir)
    try:
        registry.update("probe", name, country=code, asn=asn, control=control)
    except CollectorError as exc:
        raise _fail(exc) from exc
    finally:
        registry.close()
    typer.echo(f"probe {name!r} updated", err=True)


def _write_csv(rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    writer = csv.DictWriter(sys.stdout, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _list(role: Role, fmt: Format, config: Path | None, data_dir: Path | None) -> None:
    registry = _registry(config, data_dir)
    rows = registry.probes(role)
    registry.close()
    records = [{
        "name": r.name, "country": r.country, "asn": r.asn, "control": r.control,
        "active": r.revoked_at is None, "created_at": _iso(r.created_at),
        "revoked_at": _iso(r.revoked_at), "last_seen": _iso(r.last_seen),
        "batches": r.batches, "measurements": r.measurements, "rejected": r.rejected,
        "last_error": r.last_error} for r in rows]
    if fmt is Format.json:
        typer.echo(json.dumps(records, indent=2))
        return
    if fmt is Format.csv:
        _write_csv(records, list(records[0]) if records else [
            "name", "country", "asn", "control", "active", "created_at", "revoked_at",
            "last_seen", "batches", "measurements", "rejected", "last_error"])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "country", "asn", "control", "state", "last seen", "measurements",
                  "rejected", "last error")
    for r in rows:
        table.add_row(r.name, r.country, str(r.asn or ""), "yes" if r.control else "",
                      "active" if r.revoked_at is None else "revoked", _iso(r.last_seen) or "-",
                      str(r.measurements), str(r.rejected), r.last_error[:60])
    Console().print(table)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else rfc3339(ts)


@probes_app.command("list")
def probes_list(fmt: FormatOpt = Format.table, config: ConfigOpt = None,
                data_dir: DataDirOpt = None) -> None:
    """Probes with last seen time, measurements stored and batches rejected."""
    _list("probe", fmt, config, data_dir)


def _revoke(role: Role, name: str, config: Path | None, data_dir: Path | None) -> None:
    registry = _registry(config, data_dir)
    try:
        registry.revoke(role, name)
    except CollectorError as exc:
        raise _fail(exc) from exc
    finally:
        registry.close()
    typer.echo(f"{role} {name!r} revoked", err=True)


@probes_app.command("revoke")
def probes_revoke(name: str, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Revoke a probe's token (takes effect on its next batch)."""
    _revoke("probe", name, config, data_dir)


@analysts_app.command("add")
def analysts_add(name: Annotated[str, typer.Argument(callback=_check_name)],
                 rotate: Annotated[bool, typer.Option("--rotate")] = False,
                 config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Register an analyst (may read reports, may not submit) and print the token once."""
    _add("analyst", name, config, data_dir, rotate=rotate)


@analysts_app.command("list")
def analysts_list(fmt: FormatOpt = Format.table, config: ConfigOpt = None,
                  data_dir: DataDirOpt = None) -> None:
    """Analysts with their state."""
    _list("analyst", fmt, config, data_dir)


@analysts_app.command("revoke")
def analysts_revoke(name: str, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Revoke an analyst's token."""
    _revoke("analyst", name, config, data_dir)


@targets_app.command("import")
def targets_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    fmt: Annotated[OrdersFormat, typer.Option(
        "--format", "-f", help="auto: by the file's suffix (.csv, else YAML).")
    ] = OrdersFormat.auto,
    config: ConfigOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Import orders, sites, domains, mirrors and control domains (idempotent)."""
    settings = _settings(config, data_dir)
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeError) as exc:
        raise _fail(exc) from exc
    registry = _registry(config, data_dir)
    try:
        orders = parse_orders(text, source=file.name,
                              fmt="" if fmt is OrdersFormat.auto else fmt.value)
        previous = registry.orders()
        result = registry.import_orders(orders)
    except CollectorError as exc:
        raise _fail(exc) from exc
    finally:
        registry.close()
    for warning in unknown_intermediaries(orders, _known_names(settings, previous, orders)):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"orders: {result.orders_added} added, {result.orders_changed} changed, "
               f"{result.orders_unchanged} unchanged; control domains: "
               f"{result.control_domains_added} added")


def _known_names(settings: Settings, previous: Any, importing: Any) -> set[str]:
    """Resolver names probes measure by (built-in defaults, `isp` for the probe's
    own resolver, the collector's assignment) and intermediaries of other orders."""
    names = {r.name for r in DEFAULT_RESOLVERS} | {"isp"}
    names |= {r.name for r in settings.assignment.resolvers}
    ids = {o.order_id for o in importing.orders}
    names |= {i for o in previous.orders if o.order_id not in ids for i in o.intermediaries}
    return names


@targets_app.command("list")
def targets_list(fmt: FormatOpt = Format.table, config: ConfigOpt = None,
                 data_dir: DataDirOpt = None) -> None:
    """The imported orders and control domains."""
    registry = _registry(config, data_dir)
    orders = registry.orders()
    registry.close()
    if fmt is Format.json:
        typer.echo(json.dumps(canonical(orders), indent=2))
        return
    if fmt is Format.csv:
        # the import format: what `targets import` reads back
        _write_csv(({
            "order_id": o.order_id, "authority": o.authority, "title": o.title,
            "issued": o.issued, "deadline": o.deadline, "countries": " ".join(o.countries),
            "intermediaries": " ".join(g.csv() for g in o.intermediary_groups()),
            "site": site.name,
            "domain": d.domain, "kind": d.kind, "added": d.added}
            for o in orders.orders for site in o.sites for d in site.domains),
            list(CSV_COLUMNS))
        _write_control_rows(orders.control_domains)
        return
    for order in orders.orders:
        typer.echo(f"{order.order_id}  {order.authority}  issued {order.issued}  deadline "
                   f"{order.deadline}  countries {','.join(order.countries)}  "
                   f"intermediaries {','.join(order.intermediaries)}")
        for site in order.sites:
            for d in site.domains:
                typer.echo(f"    {site.name:24} {d.domain:32} {d.kind:7} {d.added}")
    typer.echo(f"control domains: {', '.join(orders.control_domains) or '-'}")


OrderOpt = Annotated[str, typer.Option("--order", help="The order's id.")]


@targets_app.command("approve")
def targets_approve(
    domain: str, order: OrderOpt,
    site: Annotated[str, typer.Option("--site", help="The site it is a mirror of.")],
    config: ConfigOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Add a mirror candidate to an order as a mirror of SITE, added today."""
    from blockwatch.collector.decisions import approve

    registry = _registry(config, data_dir)
    try:
        name, added = approve(registry, domain, order, site)
    except CollectorError as exc:
        raise _fail(exc) from exc
    finally:
        registry.close()
    typer.echo(f"{name}: mirror of {site} in order {order}, added {added}")


@targets_app.command("reject")
def targets_reject(domain: str, order: OrderOpt, config: ConfigOpt = None,
                   data_dir: DataDirOpt = None) -> None:
    """Reject a mirror candidate of an order: it is not proposed again."""
    from blockwatch.collector.decisions import reject

    registry = _registry(config, data_dir)
    try:
        name = reject(registry, domain, order)
    except CollectorError as exc:
        raise _fail(exc) from exc
    finally:
        registry.close()
    typer.echo(f"{name}: rejected for order {order}")


def _write_control_rows(domains: Iterable[str]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    for domain in domains:
        writer.writerow(["", "", "", "", "", "", "", "", domain, "control", ""])


def main() -> None:
    run_app(app, "blockwatch-collector")
