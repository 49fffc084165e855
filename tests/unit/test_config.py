"""A bad config is refused with a message that names the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.probe.config import load_config, parse_config
from blockwatch.probe.errors import ConfigError
from blockwatch.probe.observation import Transport

GOOD = """
name = "it-milano-1"
credentials_file = "{token}"
qtypes = ["A", "AAAA", "HTTPS"]

[collector]
addresses = ["collector.example.net:4443", "unix:/run/blockwatch/collector.sock"]
ca_file = "{token}"

[schedule]
interval_s = 900
jitter_s = 60

[limits]
qps = 20
concurrency = 8
timeout_s = 3
listen_window_s = 0.5

[targets]
domains = ["kickasstorrents.to", "limetorrents.pro"]
controls = ["example-control.org"]

[spool]
path = "/var/lib/blockwatch-probe/spool.db"
max_mb = 256
on_full = "drop-oldest"

[[resolvers]]
name = "isp"
address = "system"

[[resolvers]]
name = "google-dot"
transport = "dot"
address = "8.8.8.8"
tls_name = "dns.google"

[[resolvers]]
name = "cloudflare-doh"
transport = "doh"
url = "https://1.1.1.1/dns-query"
"""


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("secret-token\n")
    return path


def test_full_config_parses(tmp_path: Path, token: Path) -> None:
    path = tmp_path / "probe.toml"
    path.write_text(GOOD.format(token=token))
    config = load_config(path)
    assert config.name == "it-milano-1"
    assert [s.transport for s in config.resolver_specs()] == [
        Transport.UDP, Transport.DOT, Transport.DOH]
    assert config.qtype_numbers() == [1, 28, 65]
    assert config.token() == "secret-token"
    assert config.spool.max_mb == 256


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"nmae": "x"}, "nmae", "unknown setting"),
        ({"limits": {"qsp": 3}}, "limits.qsp", "unknown setting"),
        ({"resolvers": [{"name": "a", "address": "1.1.1.300"}]}, "resolvers[0].address",
         "not an IP address"),
        ({"resolvers": [{"name": "a", "transport": "doh", "url": "http://x/dns-query"}]},
         "resolvers[0].url", "https://"),
        ({"resolvers": [{"name": "a", "transport": "quic", "address": "1.1.1.1"}]},
         "resolvers[0].transport", "Invalid enum value 'quic'"),
        ({"resolvers": [{"name": "a", "address": "1.1.1.1", "port": 70000}]},
         "resolvers[0].port", "not in 0..65535"),
        ({"resolvers": [{"name": "a", "address": "1.1.1.1"}, {"name": "a", "address": "8.8.8.8"}]},
         "resolvers", "used twice"),
        ({"limits": {"concurrency": 0}}, "limits.concurrency", "not in 1..8192"),
        ({"limits": {"qps": -1}}, "limits.qps", "not in"),
        ({"schedule": {"interval_s": 60, "jitter_s": 120}}, "schedule.jitter_s", "interval_s"),
        ({"collector": {"addresses": ["collector"]}}, "collector.addresses[0]", "host:port"),
        ({"collector": {"addresses": ["c:4443"]}}, "credentials_file", "required"),
        ({"qtypes": ["A", "BOGUS"]}, "qtypes[1]", "unknown query type"),
        ({"targets": {"domains": ["ok.example", "bad..example"]}}, "targets.domains[1]",
         "invalid domain"),
        ({"spool": {"on_full": "explode"}}, "spool.on_full", "Invalid enum value"),
        ({"spool": {"fsync": "yes"}}, "spool.fsync", "Expected `bool`"),
        ({"collector": {"addresses": ["c:4443"], "max_batch_bytes": 100}},
         "collector.max_batch_bytes", "16 KiB..16 MiB"),
    ],
)
def test_errors_name_the_field(raw: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert caught.value.field == field
    assert message in str(caught.value)


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "probe.toml"
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match=r"probe.toml: not valid TOML"):
        load_config(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_shipped_example_is_valid(tmp_path: Path, token: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "probe/blockwatch/probe/examples/probe.toml"
    text = example.read_text()
    for path in ("/etc/blockwatch/probe.token", "/etc/blockwatch/collector-ca.pem"):
        text = text.replace(path, str(token))
    copy = tmp_path / "probe.toml"
    copy.write_text(text)
    config = load_config(copy)
    assert [r.name for r in config.resolvers] == [
        "isp", "cloudflare", "cloudflare-dot", "google-doh", "quad9"]
