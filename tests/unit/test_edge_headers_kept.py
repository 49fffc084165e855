"""The probe keeps, by default, every header the web rules read to name an edge
(webverdicts.edge_operator): a response whose `Server` says nothing (rewritten
by a proxy, or a CDN that does not sign it) is still the edge's by CF-RAY,
X-Amz-Cf-Id, X-Served-By or X-Fastly-Request-Id."""

from __future__ import annotations

import pytest

from blockwatch.analysis.webobservation import WebObservation
from blockwatch.analysis.webverdicts import edge_operator
from blockwatch.probe.webconfig import WebConfig
from blockwatch.probe.webparse import select_headers


@pytest.mark.parametrize(("header", "value", "edge"), [
    (b"CF-RAY", b"8a1f2c3d4e5f6a7b-MXP", "cloudflare"),
    (b"X-Amz-Cf-Id", b"Vq1Yk2x", "cloudfront"),
    (b"X-Served-By", b"cache-mxp6921-MXP", "fastly"),
    (b"X-Fastly-Request-Id", b"0b1c2d", "fastly"),
])
def test_default_config_keeps_the_headers_that_name_an_edge(header: bytes, value: bytes,
                                                            edge: str) -> None:
    raw = [(b"Server", b"nginx"), (b"Date", b"Thu, 05 Sep 2024 10:00:00 GMT"), (header, value)]
    kept = select_headers(raw, WebConfig().kept_headers())
    seen = WebObservation("o", "it-milano-1", "IT", "r", 0, "thepiratebay.org", "104.16.0.1",
                          status=451, headers=kept)
    assert edge_operator(seen) == edge


def test_default_config_keeps_the_block_page_fingerprint_headers() -> None:
    raw = [(b"X-App-Url", b"http://blocked.example/"), (b"Set-Cookie", b"a=b")]
    assert select_headers(raw, WebConfig().kept_headers()) == (
        ("x-app-url", "http://blocked.example/"),)
