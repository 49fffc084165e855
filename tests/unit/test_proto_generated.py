"""The checked-in generated code must be what the .proto files produce now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "proto" / "generate.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_protobuf_classes_stay_in_the_adapters() -> None:
    """Generated classes are used only in the probe's and the collector's adapter modules."""
    allowed = {"probe/blockwatch/probe/wire.py", "collector/blockwatch/collector/servicer.py",
               "collector/blockwatch/collector/reports_servicer.py",
               "analysis/blockwatch/analysis/remote.py"}
    users = set()
    for folder in ("probe", "collector", "analysis"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if "from blockwatch.v1" in text or "import blockwatch.v1" in text:
                users.add(str(path.relative_to(ROOT)))
    assert users <= allowed, f"protobuf used outside the adapters: {sorted(users - allowed)}"
