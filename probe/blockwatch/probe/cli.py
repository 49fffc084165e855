"""`blockwatch-probe`: run, once, check."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import msgspec
import typer

from blockwatch.contract.vocabulary import Transport
from blockwatch.probe import __version__
from blockwatch.probe.agent import Agent, Progress, once
from blockwatch.probe.config import ProbeConfig, ResolverConfig, load_config, parse_config
from blockwatch.probe.errors import ConfigError, ProbeError
from blockwatch.probe.targets import name_from_argument
from blockwatch.runtime.commandline import (
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    run_app,
    setup_logging,
    version_option,
)

if TYPE_CHECKING:
    from rich.console import Console

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
    typer.Option("--resolver", "-r", help="Measure through this resolver only (repeatable): "
                 "NAME of a configured or built-in resolver, or NAME=udp:ADDR[:PORT], tcp:…, "
                 "dot:ADDR[:PORT][@TLSNAME], doh:URL to define one"),
]
CaOption = Annotated[
    Path | None, typer.Option("--ca-file", exists=True, dir_okay=False,
                              help="CA bundle verifying the DoT/DoH resolvers of --resolver.")]


VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Same as --log-level debug.")]


# --resolver's transports as configs spell them; DoT and DoH verify a
# certificate (--ca-file), DoH's endpoint is a URL
_TRANSPORTS = Transport.labels()
_DOH = Transport.DOH.label
_TLS = frozenset((Transport.DOT.label, _DOH))


class Format(StrEnum):
    table = "table"
    json = "json"


@app.callback()
def _main(version: Annotated[bool, version_option(__version__)] = False) -> None:
    """Resolve target names through many resolvers and record what each one answers."""


def _setup_logging(verbose: bool, level: LogLevel = LogLevel.info,
                   fmt: LogFormat = LogFormat.kv) -> None:
    setup_logging(LogLevel.debug if verbose else level, fmt)


def parse_resolver_option(text: str, ca_file: str = "") -> ResolverConfig:
    """NAME=TRANSPORT:ENDPOINT as given on the command line."""
    name, sep, rest = text.partition("=")
    transport, sep2, endpoint = rest.partition(":")
    if not sep or not sep2 or transport not in _TRANSPORTS:
        raise ConfigError(f"{text!r}: expected NAME={'|'.join(_TRANSPORTS)}:ENDPOINT",
                          field="--resolver")
    fields: dict[str, object] = {"name": name, "transport": transport}
    if transport == _DOH:
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
    if ca_file and transport in _TLS:
        fields["ca_file"] = ca_file
    try:
        config = parse_config({"resolvers": [fields]}, source="--resolver")
    except ConfigError as exc:
        raise ConfigError(str(exc).removeprefix("--resolver: ")
                          .replace("resolvers[0]", name or "resolver"),
                          field="--resolver") from None
    return config.resolvers[0]


def _known_resolvers(config: ProbeConfig) -> dict[str, ResolverConfig]:
    if config.resolvers:
        return {r.name: r for r in config.resolvers}
    return {s.name: ResolverConfig(name=s.name, transport=s.transport.label,  # type: ignore[arg-type]
                                   address=s.address, port=s.port, tls_name=s.tls_name,
                                   url=s.url, ca_file=s.ca_file)
            for s in config.resolver_specs()}


def _load(config_path: Path | None, resolvers: list[str] | None, ca_file: Path | None
          ) -> ProbeConfig:
    """`--resolver` is always a resolver by name: NAME picks a configured (or
    built-in) one, NAME=SPEC defines a new one; either way only those are measured."""
    config = load_config(config_path) if config_path else ProbeConfig()
    if resolvers:
        import msgspec

        known = _known_resolvers(config)
        parsed: list[ResolverConfig] = []
        for text in resolvers:
            if "=" in text:
                parsed.append(parse_resolver_option(text, str(ca_file or "")))
            elif text in known:
                parsed.append(known[text])
            else:
                raise ConfigError(f"no resolver is named {text!r}; known: "
                                  f"{', '.join(known)} (or define one: NAME=udp:ADDR, …)",
                                  field="--resolver")
        names = [r.name for r in parsed]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice:
            raise ConfigError(f"{twice!r} is given twice", field="--resolver")
        if ca_file:
            parsed = [msgspec.structs.replace(r, ca_file=str(ca_file))
                      if r.transport in _TLS else r for r in parsed]
        config = msgspec.structs.replace(config, resolvers=parsed)
    chosen = config.resolvers if resolvers else []
    if ca_file and not any(r.transport in _TLS for r in chosen):
        # a flag that would change nothing is refused, not silently ignored
        raise ConfigError("only used with a DoT or DoH --resolver", field="--ca-file")
    return config


def _names(arguments: list[str] | None, err: Console) -> list[str] | None:
    """Names from the command line; a URL stands for its host (and says so)."""
    if not arguments:
        return None
    names: list[str] = []
    for text in arguments:
        try:
            name, note = name_from_argument(text)
        except ValueError as exc:
            raise ConfigError(str(exc), field="names") from None
        if note:
            err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
        names.append(name)
    return names


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

    console = Console(stderr=True, soft_wrap=True)
    # markup off for the message: "[targets]" is text here, not a style
    console.print("[red]error:[/red] ", end="", highlight=False)
    console.print(" ".join(str(exc).split()), highlight=False, markup=False)
    return typer.Exit(2 if isinstance(exc, ConfigError) else 1)


@app.command("once")
def once_command(
    domains: Annotated[list[str] | None, typer.Argument(
        help="Names to resolve (a URL stands for its host).")] = None,
    config_path: ConfigOption = None,
    resolver: ResolverOption = None,
    ca_file: CaOption = None,
    output: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    upload_timeout: Annotated[float | None, typer.Option(
        min=1, help="Seconds to try delivering (with a collector configured; default 60).")
    ] = None,
    web: Annotated[bool | None, typer.Option(
        "--web/--no-web", help="Follow target names' answers to the web (TCP, TLS, HTTP; "
        "docs/web.md); default: [web] enabled in the config, on without one.")] = None,
    verbose: VerboseOption = False,
) -> None:
    """Measure one round now and print it; uploads when a collector is configured."""
    from rich.console import Console

    from blockwatch.probe.render import by_measurement, json_line, print_round, web_json_line

    _setup_logging(verbose)
    console = Console()
    err = Console(stderr=True)
    try:
        config = _load(config_path, resolver, ca_file)
        if web is not None:
            config = msgspec.structs.replace(
                config, web=msgspec.structs.replace(config.web, enabled=web))
        if upload_timeout is not None and config.collector is None:
            raise ConfigError("no collector is configured, so nothing is uploaded",
                              field="--upload-timeout")
        names = _names(domains, err)
        with _progress(err, output is Format.table) as progress:
            result = asyncio.run(once(config, names, progress=progress,
                                      upload_timeout_s=upload_timeout or 60.0))
    except ProbeError as exc:
        raise _fail(exc) from None
    if output is Format.json:
        followed = by_measurement(result.web)
        for m in result.measurements:
            sys.stdout.write(json_line(m, config.name, followed.get(m.measurement_id, ()))
                             + "\n")
        for o in result.web:
            sys.stdout.write(web_json_line(o, config.name) + "\n")
    else:
        print_round(console, result.measurements, identity=config.identity_checks,
                    web=result.web)
    summary = result.summary
    err.print(f"{summary.measurements} measurements in {summary.elapsed_s:.1f}s"
              + (f"; failures: {summary.failures}" if summary.failures else ""), highlight=False)
    if summary.web is not None:
        w = summary.web
        err.print(f"web follow-up: {w.followups} (name, address) pairs, {w.observations} "
                  f"observations in {w.elapsed_s:.1f}s, {w.skipped} answer addresses skipped"
                  + (f"; failures: {w.failures}" if w.failures else ""), highlight=False)
    if result.upload is not None:
        err.print(f"uploaded {result.upload.measurements_acked} measurements and "
                  f"{result.upload.web_acked} web observations; "
                  f"{result.left_in_spool} left in the spool", highlight=False)
        if result.left_in_spool:
            raise typer.Exit(1)


@app.command("run")
def run_command(
    config_path: ConfigOption = None,
    rounds: Annotated[int | None, typer.Option(min=1, help="Stop after this many rounds.")
                      ] = None,
    verbose: VerboseOption = False,
    log_level: LogLevelOption = LogLevel.info,
    log_format: LogFormatOption = LogFormat.kv,
) -> None:
    """Measure on the schedule until SIGTERM or SIGINT; spool and upload continuously."""
    _setup_logging(verbose, log_level, log_format)
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
    run_app(app, "blockwatch-probe")
