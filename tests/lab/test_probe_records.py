"""The probe records each resolver behaviour exactly, through its CLI, against real
DNS servers (unbound with RPZ, kresd with EDE policies, NSD as the fake root)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab.injector import FORGED_ADDRESS, Injector
from tests.lab.probe_cli import once_json, pick, run_probe, write_config
from tests.lab.world import (
    GOOGLE_ADDR,
    GOOGLE_NSID,
    GOOGLE_TEXT,
    ISP_ADDR,
    ISP_NSID,
    KRES_NX_ADDR,
    NX_TEXT,
    QUAD9_ADDR,
    TLS_NAME,
    Lab,
)
from tests.lab.zones import CONTROL_NAME, STOP_PAGE_AGCOM

pytestmark = pytest.mark.lab

NAMES = ["kickasstorrents.to", "limetorrents.pro", "thepiratebay.org", CONTROL_NAME]
INJECTOR_ADDR = "127.0.0.9"


@pytest.fixture(scope="module")
def observations(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """One round through every lab resolver and transport, as JSON lines."""
    ca = str(lab.ca.ca_path)
    config = write_config(
        tmp_path_factory.mktemp("probe") / "probe.toml",
        [
            {"name": "isp", "address": ISP_ADDR},
            {"name": "isp-tcp", "transport": "tcp", "address": ISP_ADDR},
            {"name": "isp-dot", "transport": "dot", "address": ISP_ADDR, "tls_name": TLS_NAME,
             "ca_file": ca},
            {"name": "isp-doh", "transport": "doh", "url": f"https://{ISP_ADDR}/dns-query",
             "ca_file": ca},
            {"name": "quad9", "address": QUAD9_ADDR},
            {"name": "google", "address": GOOGLE_ADDR},
            {"name": "google-dot", "transport": "dot", "address": GOOGLE_ADDR,
             "tls_name": TLS_NAME, "ca_file": ca},
            {"name": "kresnx", "address": KRES_NX_ADDR},
            {"name": "injected", "address": INJECTOR_ADDR},
            {"name": "closed-udp", "address": "127.0.0.1", "port": 9},
            {"name": "closed-tcp", "transport": "tcp", "address": "127.0.0.1", "port": 9},
            {"name": "wrong-ca", "transport": "dot", "address": ISP_ADDR, "tls_name": TLS_NAME},
        ],
        name="lab-probe",
        limits={"timeout_s": 1.5, "listen_window_s": 0.3, "qps": 200, "concurrency": 8},
    )
    with Injector(INJECTOR_ADDR, 53, (ISP_ADDR, 53)):
        return once_json(config, *NAMES)


def first(o: dict[str, Any]) -> dict[str, Any]:
    assert o["failure"] is None, (o["resolver"]["name"], o["failure"], o["failure_text"])
    response: dict[str, Any] = o["responses"][0]
    return response


def addresses(response: dict[str, Any]) -> set[str]:
    return {a["data"] for a in response["answers"] if a["type"] in {"A", "AAAA"}}


def test_every_query_is_recorded_once(observations: list[dict[str, Any]]) -> None:
    targets = [o for o in observations if o["purpose"] != "identity"]
    assert len(targets) == len(NAMES) * 2 * 12  # names x (A, AAAA) x resolvers
    assert len({o["measurement_id"] for o in observations}) == len(observations)


def test_isp_redirects_to_the_stop_page(observations: list[dict[str, Any]]) -> None:
    for resolver in ("isp", "isp-tcp", "isp-dot", "isp-doh"):
        r = first(pick(observations, "kickasstorrents.to", resolver))
        assert r["rcode"] == "NOERROR"
        assert addresses(r) == {STOP_PAGE_AGCOM}
        assert "AA" in r["flags"]  # RPZ local data is answered authoritatively


def test_isp_nxdomain_keeps_recursion_available(observations: list[dict[str, Any]]) -> None:
    r = first(pick(observations, "limetorrents.pro", "isp"))
    assert r["rcode"] == "NXDOMAIN" and "RA" in r["flags"]


def test_dropped_query_is_a_timeout(observations: list[dict[str, Any]]) -> None:
    o = pick(observations, "thepiratebay.org", "isp")
    assert o["failure"] == "timeout" and o["responses"] == []
    assert o["duration_ms"] >= 1400


def test_quad9_style_nxdomain_without_ra_and_authority(observations: list[dict[str, Any]]
                                                       ) -> None:
    for name in ("kickasstorrents.to", "limetorrents.pro", "thepiratebay.org"):
        r = first(pick(observations, name, "quad9"))
        assert r["rcode"] == "NXDOMAIN"
        assert "RA" not in r["flags"]
        assert r["authority_count"] == 0


def test_google_style_refused_with_ede_16(observations: list[dict[str, Any]]) -> None:
    for resolver in ("google", "google-dot"):
        r = first(pick(observations, "kickasstorrents.to", resolver))
        assert r["rcode"] == "REFUSED"
        assert r["extended_errors"] == [{"code": 16, "name": "Censored", "text": GOOGLE_TEXT}]


def test_nxdomain_with_ede_16(observations: list[dict[str, Any]]) -> None:
    r = first(pick(observations, "thepiratebay.org", "kresnx"))
    assert r["rcode"] == "NXDOMAIN"
    assert [(e["code"], e["text"]) for e in r["extended_errors"]] == [(16, NX_TEXT)]


def test_unblocked_names_get_the_zone_answer(lab: Lab, observations: list[dict[str, Any]]
                                             ) -> None:
    expected = set(lab.zone.expected(CONTROL_NAME, "A"))
    for resolver in ("isp", "isp-tcp", "isp-dot", "isp-doh", "quad9", "google", "google-dot",
                     "kresnx"):
        r = first(pick(observations, CONTROL_NAME, resolver))
        assert r["rcode"] == "NOERROR" and addresses(r) == expected, resolver
    # limetorrents is on the ISP's list but not on the Google-style resolver's
    assert addresses(first(pick(observations, "limetorrents.pro", "google"))) == set(
        lab.zone.expected("limetorrents.pro", "A"))


def test_injected_reply_comes_first_and_both_are_kept(lab: Lab,
                                                      observations: list[dict[str, Any]]) -> None:
    o = pick(observations, CONTROL_NAME, "injected")
    assert len(o["responses"]) == 2, o
    forged, real = o["responses"]
    assert addresses(forged) == {FORGED_ADDRESS}
    assert addresses(real) == set(lab.zone.expected(CONTROL_NAME, "A"))
    assert forged["arrival_ms"] < real["arrival_ms"]
    assert o["duration_ms"] == forged["arrival_ms"]


def test_closed_ports_are_connection_refused(observations: list[dict[str, Any]]) -> None:
    for resolver in ("closed-udp", "closed-tcp"):
        assert pick(observations, CONTROL_NAME, resolver)["failure"] == "connection_refused"


def test_untrusted_certificate_is_a_tls_certificate_failure(
        observations: list[dict[str, Any]]) -> None:
    o = pick(observations, CONTROL_NAME, "wrong-ca")
    assert o["failure"] == "tls_certificate"
    assert "certificate verify failed" in o["failure_text"]


def test_identity_checks_carry_nsid(observations: list[dict[str, Any]]) -> None:
    identity = [o for o in observations if o["purpose"] == "identity"]
    nsids = {o["resolver"]["name"]: o["responses"][0]["nsid"] for o in identity if o["responses"]}
    assert nsids["isp"] == ISP_NSID and nsids["isp-dot"] == ISP_NSID
    assert nsids["google"] == GOOGLE_NSID
    queried = {(o["domain"], o["qclass"]) for o in identity if o["resolver"]["name"] == "isp"}
    assert ("id.server", "CH") in queried and ("whoami.akamai.net", "IN") in queried


def test_zero_config_without_a_route_records_unreachable(isolated: None) -> None:
    """The built-in public resolvers, in a namespace with no route: every query is
    recorded as unreachable (no packet can leave), and the table still prints."""
    result = run_probe("once", "kickasstorrents.to", timeout=60)
    assert "network_unreachable" in result.stdout
    assert "cloudflare" in result.stdout and "quad9-doh" in result.stdout
