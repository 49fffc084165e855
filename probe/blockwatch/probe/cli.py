"""`blockwatch-probe`: run, once, check."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from blockwatch.probe import __version__
from blockwatch.probe.agent import Agent, Progress, once

if TYPE_CHECKING:
    from rich.console import Console
from blockwatch.probe.config import ProbeConfig, ResolverConfig, load_config, parse_config
from blockwatch.probe.errors import ConfigError, ProbeError

app = typer.Typer(
    name="blockwatch-probe", no_args_is_help=True, add_completion=False,
    help="Resolve target names through many resolvers and record what each one answers.",
)
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="BLOCKWATCH_PROBE_CONFIG",
                 help="Probe TOML file. Without it: built-in public resolvers, no upload."),
]
ResolverOption = Annotated[
    list[str] | None,
    typer.Option("--resolver", "-r", help="Measure through this resolver instead "
                 "(repeatable): NAME=udp:ADDR[:PORT], tcp:…, dot:ADDR[:PORT][@TLSNAME], doh:URL"),
]
CaOption = Annotated[
    Path | None, typer.Option("--ca-file", help="CA bundle for --resolver dot/doh")]


class Format(StrEnum):
    table = "table"
    json = "json"


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr,
    )
    # one line per DoH request is noise, not news
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)


def parse_resolver_option(text: str, ca_file: str = "") -> ResolverConfig:
    """NAME=TRANSPORT:ENDPOINT as given on the command line."""
    name, sep, rest = text.partition("=")
    transport, sep2, endpoint = rest.partition(":")
    if not sep or not sep2 or transport not in {"udp", "tcp", "dot", "doh"}:
        raise ConfigError(f"{text!r}: expected NAME=udp|tcp|dot|doh:ENDPOINT", field="--resolver")
    fields: dict[str, object] = {"name": name, "transport": transport}
    if transport == "doh":
        fields["url"] = endpoint
    else:
        endpoint, _, tls_name = endpoint.partition("@")
        if endpoint.startswith("["):
            host, _, port = endpoint[1:].partition("]")
            port = port.removeprefix(":")
        elif endpoint.count(":") == 1:
            host, _, port = endpoint.partition(":")
        else:
            host, port = endpoint, ""
        fields["address"] = host
        if port:
            if not port.isdigit():
                raise ConfigError(f"{text!r}: port {port!r} is not a number", field="--resolver")
            fields["port"] = int(port)
        if tls_name:
            fields["tls_name"] = tls_name
    if ca_file and transport in {"dot", "doh"}:
        fields["ca_file"] = ca_file
    try:
        config = parse_config({"resolvers": [fields]}, source="--resolver")
    except ConfigError as exc:
        raise ConfigError(str(exc).removeprefix("--resolver: ")
                          .replace("resolvers[0]", name or "resolver"),
                          field="--resolver") from None
    return config.resolvers[0]


def _load(config_path: Path | None, resolvers: list[str] | None, ca_file: Path | None
          ) -> ProbeConfig:
    config = load_config(config_path) if config_path else ProbeConfig()
    if resolvers:
        import msgspec

        parsed = [parse_resolver_option(r, str(ca_file or "")) for r in resolvers]
        config = msgspec.structs.replace(config, resolvers=parsed)
    return config


@contextmanager
def _progress(console: Console, enabled: bool) -> Iterator[Progress]:
    """A progress bar on a terminal, for rounds that take more than a moment."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import (
        Progress as ProgressBar,
    )

    holder: list[ProgressBar] = []

    def start(total: int, resolvers: int) -> Callable[[int], None] | None:
        if not enabled or not console.is_terminal or total < 200:
            return None
        bar = ProgressBar(TextColumn("[bold]measuring"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn(), console=console, transient=True)
        bar.start()
        holder.append(bar)
        task = bar.add_task("round", total=total)
        return lambda n: bar.advance(task, n)

    try:
        yield start
    finally:
        for bar in holder:
            bar.stop()


def _fail(exc: ProbeError) -> typer.Exit:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(2 if isinstance(exc, ConfigError) else 1)


@app.command("once")
def once_command(
    domains: Annotated[list[str] | None, typer.Argument(help="Names to resolve.")] = None,
    config_path: ConfigOption = None,
    resolver: ResolverOption = None,
    ca_file: CaOption = None,
    output: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    upload_timeout: Annotated[float, typer.Option(help="Seconds to try delivering.")] = 60.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Measure one round now and print it; uploads when a collector is configured."""
    from rich.console import Console

    from blockwatch.probe.render import json_line, print_round

    _setup_logging(verbose)
    console = Console()
    err = Console(stderr=True)
    try:
        config = _load(config_path, resolver, ca_file)
        with _progress(err, output is Format.table) as progress:
            result = asyncio.run(once(config, domains, progress=progress,
                                      upload_timeout_s=upload_timeout))
    except ProbeError as exc:
        raise _fail(exc) from None
    if output is Format.json:
        for m in result.measurements:
            sys.stdout.write(json_line(m, config.name) + "\n")
    else:
        print_round(console, result.measurements, identity=config.identity_checks)
    summary = result.summary
    err.print(f"{summary.measurements} measurements in {summary.elapsed_s:.1f}s"
              + (f"; failures: {summary.failures}" if summary.failures else ""), highlight=False)
    if result.upload is not None:
        err.print(f"uploaded {result.upload.measurements_acked} measurements; "
                  f"{result.left_in_spool} left in the spool", highlight=False)
        if result.left_in_spool:
            raise typer.Exit(1)


@app.command("run")
def run_command(
    config_path: ConfigOption = None,
    rounds: Annotated[int | None, typer.Option(help="Stop after this many rounds.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Measure on the schedule until SIGTERM or SIGINT; spool and upload continuously."""
    _setup_logging(verbose)
    if config_path is None:
        raise _fail(ConfigError("run needs a config file (--config or BLOCKWATCH_PROBE_CONFIG)"))
    try:
        config = load_config(config_path)
        asyncio.run(_run(config, rounds))
    except ProbeError as exc:
        raise _fail(exc) from None


async def _run(config: ProbeConfig, rounds: int | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await Agent(config).run(stop, max_rounds=rounds)


@app.command("check")
def check_command(
    config_path: ConfigOption = None,
    resolver: ResolverOption = None,
    ca_file: CaOption = None,
    config_only: Annotated[bool, typer.Option(
        "--config-only", help="Only validate the config file; send nothing.")] = False,
) -> None:
    """Validate the config, query each resolver once, reach the collector."""
    from rich.console import Console

    from blockwatch.probe.checks import run_checks

    _setup_logging(False)
    console = Console()
    try:
        config = _load(config_path, resolver, ca_file)
        if config_only:
            if config.collector is not None:
                config.token()  # the credentials file must be readable and hold a token
            console.print(f"config valid (probe {config.name!r})", highlight=False)
            return
        ok = asyncio.run(run_checks(config, console))
    except ProbeError as exc:
        raise _fail(exc) from None
    raise typer.Exit(0 if ok else 1)


@app.command("version")
def version_command() -> None:
    """Print the probe's version."""
    print(__version__)


def main() -> None:
    app()
