"""Pure readings of web responses and certificates, and the [web] config's errors."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from blockwatch.probe.errors import ConfigError
from blockwatch.probe.webcert import from_der, from_peercert
from blockwatch.probe.webconfig import WebConfig, parse_web_config
from blockwatch.probe.webparse import (
    MAX_HEADERS,
    MAX_TITLE,
    extract_title,
    format_dn,
    name_matches,
    select_headers,
)

# -- titles -----------------------------------------------------------------------

@pytest.mark.parametrize(("body", "content_type", "title"), [
    (b"<html><head><title>AGCOM Stop Page</title></head>", "text/html", "AGCOM Stop Page"),
    (b"<TITLE lang=it>\n  Sito  bloccato\n</TITLE >", "", "Sito bloccato"),
    (b"<title>Caf&eacute; &amp; co</title>", "", "Café & co"),
    (b"<title>Caf\xe9</title>", "text/html; charset=ISO-8859-1", "Café"),
    (b"<title>x</title>", "text/html; charset=no-such-charset", "x"),
    (b"<title>unterminated", "", ""),
    (b"no title here", "", ""),
])
def test_title(body: bytes, content_type: str, title: str) -> None:
    assert extract_title(body, content_type) == title


def test_title_is_bounded() -> None:
    assert len(extract_title(b"<title>" + b"x" * 10_000 + b"</title>")) == MAX_TITLE


# -- headers ------------------------------------------------------------------------

def test_kept_headers_in_order_lowercased_and_bounded() -> None:
    raw = [(b"Server", b"cloudflare"), (b"Date", b"today"), (b"Location", b"https://m/"),
           (b"CF-RAY", b"8a1"), (b"Via", b"1.1 " + b"v" * 5000)]
    kept = WebConfig(keep_headers=("CF-Ray",)).kept_headers()
    assert select_headers(raw, kept) == (
        ("server", "cloudflare"), ("location", "https://m/"), ("cf-ray", "8a1"),
        ("via", "1.1 " + "v" * 1020))
    assert len(select_headers([(b"Via", b"x")] * 1000, kept)) == MAX_HEADERS


# -- names and certificates -----------------------------------------------------------

@pytest.mark.parametrize(("name", "sans", "matches"), [
    ("site.example", ("DNS:site.example",), True),
    ("Site.Example.", ("DNS:site.example",), True),
    ("www.site.example", ("DNS:*.site.example",), True),
    ("a.b.site.example", ("DNS:*.site.example",), False),
    ("site.example", ("DNS:*.site.example",), False),
    ("site.example", ("DNS:*.example",), False),
    ("mirror.example", ("DNS:site.example", "DNS:mirror.example"), True),
    ("other.example", ("DNS:stop.agcom.lab",), False),
    ("192.0.2.1", ("IP:192.0.2.1",), True),
    ("192.0.2.1", ("DNS:192.0.2.1",), False),
    ("site.example", ("IP:192.0.2.1", "email:a@site.example"), False),
])
def test_name_matches(name: str, sans: tuple[str, ...], matches: bool) -> None:
    assert name_matches(name, sans) is matches


def test_distinguished_name_in_rfc4514_order_and_escaped() -> None:
    assert format_dn([("countryName", "IT"), ("organizationName", "Rossi, S.p.A."),
                      ("commonName", "#stop")]) == "CN=\\#stop,O=Rossi\\, S.p.A.,C=IT"


def test_both_certificate_readings_agree(tmp_path: Path) -> None:
    """The verified path (ssl's decoding) and the unverified one (cryptography) record
    the same certificate, IP SANs included."""
    ca = trustme.CA(organization_name="blockwatch lab CA")
    leaf = ca.issue_cert("site.example", "mirror.example", "192.0.2.7", "2001:db8::7",
                         common_name="site.example")
    pem = leaf.cert_chain_pems[0].bytes()
    path = tmp_path / "leaf.pem"
    path.write_bytes(pem)
    der = ssl.PEM_cert_to_DER_cert(pem.decode())
    decoded = ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]
    verified, unverified = from_peercert(decoded, der), from_der(der)
    assert verified == unverified
    assert verified.sans == ("DNS:site.example", "DNS:mirror.example", "IP:192.0.2.7",
                             "IP:2001:db8::7")
    assert verified.subject.startswith("CN=site.example,")


# -- the [web] config ---------------------------------------------------------------------

def test_defaults_follow_the_issue() -> None:
    config = parse_web_config({})
    assert (config.https_ports, config.http_ports, config.ipv4_addresses,
            config.ipv6_addresses, config.body_bytes, config.follow_redirects) == (
        (443,), (80,), 1, 1, 8192, 0)


@pytest.mark.parametrize(("raw", "message"), [
    ({"body_bytes": 1_000_000}, "web.body_bytes: 1000000 is not in 0..65536"),
    ({"https_ports": [443, 0]}, "web.https_ports[1]: 0 is not in 1..65535"),
    ({"http_ports": [443]}, "web.http_ports: a port cannot be both https and http"),
    ({"keep_headers": ["CF-Ray", "bad header"]},
     "web.keep_headers[1]: 'bad header' is not a header name"),
    ({"follow_redirects": 9}, "web.follow_redirects: 9 is not in 0..5"),
    ({"destination_rate": 0.001}, "web.destination_rate: 0.001 is not in 0.01..100000"),
    ({"timeout": 3}, "web.timeout: unknown setting (check the spelling)"),
    ({"concurrency": "many"}, "web.concurrency: Expected `int`, got `str`"),
    ({"ca_file": "/nonexistent/ca.pem"}, "web.ca_file: /nonexistent/ca.pem does not exist"),
    ({"max_body_bytes": 100, "body_bytes": 200}, "web.max_body_bytes: 100 is not in 200.."),
])
def test_bad_settings_name_the_field(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_web_config(raw, source="probe.toml")
    assert str(caught.value).startswith(f"probe.toml: {message}")
