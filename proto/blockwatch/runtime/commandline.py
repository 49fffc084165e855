"""What every blockwatch command line shares (README, "Command-line conventions").

One definition, used by `blockwatch-probe` and `blockwatch-collector` (it lives
in blockwatch.runtime, below both, so neither imports the other): usage errors
as one `error:` line and exit 2, `--version`, the log format (key=value or JSON
lines) and RFC 3339 UTC timestamps.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from enum import StrEnum
from typing import Annotated, NoReturn

import typer


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(StrEnum):
    kv = "kv"
    json = "json"


LogLevelOption = Annotated[LogLevel, typer.Option("--log-level", help="Least severe level logged.")]
LogFormatOption = Annotated[LogFormat, typer.Option(
    "--log-format", help="kv: ts=… level=… logger=… event=…; json: one object per line.")]


def rfc3339(ts: float | dt.datetime) -> str:
    """The one timestamp form of logs and outputs: RFC 3339, UTC, `Z`, milliseconds."""
    when = ts if isinstance(ts, dt.datetime) else dt.datetime.fromtimestamp(ts, dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    text = when.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = (f"ts={rfc3339(record.created)} level={record.levelname.lower()} "
                f"logger={record.name} {record.getMessage()}")
        if record.exc_info:
            line += " exc=" + json.dumps(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": rfc3339(record.created), "level": record.levelname.lower(),
                "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(level: LogLevel = LogLevel.info, fmt: LogFormat = LogFormat.kv) -> None:
    """Only entry points call this; libraries log through logging.getLogger(__name__)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt is LogFormat.json else KeyValueFormatter())
    logging.basicConfig(level=level.value.upper(), handlers=[handler], force=True)
    # one line per HTTP request (DoH, ClickHouse over HTTP) is noise, not news
    logging.getLogger("httpx").setLevel(logging.DEBUG if level is LogLevel.debug
                                        else logging.WARNING)


def version_option(version: str) -> object:
    """A `--version` option for an app callback: prints the version and exits."""

    def show(value: bool) -> None:
        if value:
            typer.echo(version)
            raise typer.Exit()

    return typer.Option("--version", callback=show, is_eager=True,
                        help="Print the version and exit.")


def run_app(app: typer.Typer, prog_name: str) -> NoReturn:
    """Run a typer app; a usage error is one `error:` line on stderr and exit 2,
    instead of click's framed box and usage block."""
    try:
        result = app(prog_name=prog_name, standalone_mode=False)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    except Exception as exc:
        # typer vendors its own click, whose ClickException it does not export:
        # recognise click's errors by their interface
        message = getattr(exc, "format_message", None)
        code = getattr(exc, "exit_code", None)
        if not callable(message) or not isinstance(code, int):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(message(), err=True)  # the help text itself
            sys.exit(2)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        text = " ".join(str(message()).split())
        typer.echo(f"error: {text}{hint}", err=True)
        sys.exit(code)
    sys.exit(result if isinstance(result, int) else 0)
