"""Run the probe's CLI as a user would and read its JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PROBE = [sys.executable, "-m", "blockwatch.probe"]


def write_config(path: Path, resolvers: list[dict[str, Any]], **sections: Any) -> Path:
    """A probe TOML file: resolvers plus top-level keys and [sections]. DNS tests
    measure DNS only: the web follow-up is off unless `web=` is given."""
    sections.setdefault("web", {"enabled": False})
    lines: list[str] = []
    tables = {k: v for k, v in sections.items() if isinstance(v, dict)}
    for key, value in sections.items():
        if key not in tables:
            lines.append(f"{key} = {_toml(value)}")
    for table, values in tables.items():
        lines.append(f"\n[{table}]")
        lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
    for resolver in resolvers:
        lines.append("\n[[resolvers]]")
        lines += [f"{k} = {_toml(v)}" for k, v in resolver.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


def run_probe(*args: str, timeout: float = 120, check: bool = True
              ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*PROBE, *args], capture_output=True, text=True, timeout=timeout,
                            check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"probe exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def once_json(config: Path, *names: str, timeout: float = 120) -> list[dict[str, Any]]:
    result = run_probe("once", "--format", "json", "-c", str(config), *names, timeout=timeout)
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def pick(observations: list[dict[str, Any]], domain: str, resolver: str,
         qtype: str = "A") -> dict[str, Any]:
    found = [o for o in observations if o.get("domain") == domain and
             o["resolver"]["name"] == resolver and o["qtype"] == qtype]
    assert len(found) == 1, f"{len(found)} observations for {domain} {qtype} via {resolver}"
    return found[0]
