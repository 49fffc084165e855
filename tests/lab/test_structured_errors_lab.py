"""Structured DNS errors through a real resolver: knot-resolver answers blocked
names with EDE 16 whose EXTRA-TEXT is the draft's I-JSON (or a broken copy);
the probe, run as a user runs it, records the text verbatim, the analysis reads
who blocked, why and whom to contact, and a malformed text never breaks the
verdict."""

from __future__ import annotations

from typing import Any

import pytest

from blockwatch.analysis.dnsverdicts import classify
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.observation import (
    RCODE_REFUSED,
    ControlContext,
    Health,
    Observation,
    Outcome,
    Reference,
)
from blockwatch.analysis.structurederrors import parse_extra_text
from blockwatch.analysis.verdict import Method, Rule, Status
from tests.lab.kresd import BlockRcode, EdeBlock, Kresd, structured_ede_text
from tests.lab.probe_cli import once_json, pick, write_config
from tests.lab.world import Lab

pytestmark = pytest.mark.lab

STRUCTURED_ADDR = "127.0.0.23"
MALFORMED_ADDR = "127.0.0.24"
BLOCKED = "kickasstorrents.to"
STRUCTURED = structured_ede_text(
    c=["mailto:dns-abuse@resolver.lab", "https://resolver.lab/blocks"],
    j="Court of Milan order (copyright)", s=1, o="Resolver Lab", l="en")
MALFORMED = '{"c":["mailto:dns-abuse@resolver.lab"],"j":"Court of Milan order","o":'


@pytest.fixture(scope="module")
def recorded(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    root = tmp_path_factory.mktemp("sde")
    with (Kresd(root / "structured", STRUCTURED_ADDR, lab.nsd.upstream, blocked=[BLOCKED],
                block=EdeBlock(BlockRcode.REFUSED, 16, STRUCTURED)),
          Kresd(root / "malformed", MALFORMED_ADDR, lab.nsd.upstream, blocked=[BLOCKED],
                block=EdeBlock(BlockRcode.REFUSED, 16, MALFORMED))):
        config = write_config(
            root / "probe.toml",
            [{"name": "structured", "address": STRUCTURED_ADDR},
             {"name": "malformed", "address": MALFORMED_ADDR}],
            name="sde-probe", limits={"timeout_s": 2.0, "listen_window_s": 0.2})
        return once_json(config, BLOCKED)


def _ede(observation: dict[str, Any]) -> tuple[int, str]:
    assert observation["failure"] is None, observation["failure_text"]
    response = observation["responses"][0]
    assert response["rcode"] == "REFUSED"
    [ede] = response["extended_errors"]
    return int(ede["code"]), str(ede["text"])


def _verdict(code: int, text: str) -> tuple[Status, Rule, Method, str]:
    obs = Observation(measurement_id="m", probe_name="sde-probe", probe_country="IT",
                      started_at_us=0, domain=BLOCKED, resolver_name="structured",
                      rcode=RCODE_REFUSED, flags=0x8180, response_count=1,
                      ede=((code, text),))
    ctx = ControlContext(Reference(Outcome.ANSWERED, ("104.21.32.10",)), Health.ANSWERS)
    v = classify(obs, ctx, load_fingerprints())
    return v.status, v.rule, v.method, v.evidence.ede_text


def test_structured_extra_text_is_recorded_verbatim_and_read_into_evidence(
        recorded: list[dict[str, Any]]) -> None:
    code, text = _ede(pick(recorded, BLOCKED, "structured"))
    assert (code, text) == (16, STRUCTURED)
    found = parse_extra_text(text)
    assert found.structured and found.organization == "Resolver Lab"
    assert found.justification == "Court of Milan order (copyright)"
    assert found.contact == ("mailto:dns-abuse@resolver.lab", "https://resolver.lab/blocks")
    assert (found.suberror, found.language) == (1, "en")
    assert found.summary == "blocked by Resolver Lab under Court of Milan order (copyright)"
    assert _verdict(code, text) == (Status.BLOCKED, Rule.EDE_BLOCKED, Method.EDE, STRUCTURED)


def test_malformed_extra_text_is_kept_verbatim_and_the_verdict_stands(
        recorded: list[dict[str, Any]]) -> None:
    code, text = _ede(pick(recorded, BLOCKED, "malformed"))
    assert (code, text) == (16, MALFORMED)
    found = parse_extra_text(text)
    assert not found.structured and found.malformed.startswith("not JSON")
    assert found.verbatim == MALFORMED
    assert _verdict(code, text) == (Status.BLOCKED, Rule.EDE_BLOCKED, Method.EDE, MALFORMED)
