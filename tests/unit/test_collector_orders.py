"""Orders import: the examples parse; errors name the row and the field."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import pytest

from blockwatch.collector.assignment import build_assignment
from blockwatch.collector.errors import OrdersError, PrincipalExists, UnknownPrincipal
from blockwatch.collector.orders import parse_orders, unknown_intermediaries
from blockwatch.collector.registry import Registry
from blockwatch.collector.settings import AssignmentSettings, ResolverEntry

EXAMPLES = resources.files("blockwatch.collector").joinpath("examples")
HEADER = "order_id,authority,issued,deadline,countries,intermediaries,site,domain,kind,added\n"


def _example(name: str) -> str:
    return EXAMPLES.joinpath(name).read_text("utf-8")


def test_milan_order_against_cloudflare() -> None:
    orders = parse_orders(_example("milan-cloudflare.yaml"), source="milan-cloudflare.yaml")
    (order,) = orders.orders
    assert order.intermediaries == ("cloudflare",) and order.countries == ("IT",)
    assert order.deadline - order.issued == dt.timedelta(days=30)
    domains = {d.domain: d for s in order.sites for d in s.domains}
    assert set(domains) == {"kickasstorrents.to", "kickasstorrents.cr", "limetorrents.pro",
                            "thepiratebay.org"}
    assert domains["kickasstorrents.cr"].kind == "mirror"
    assert domains["kickasstorrents.cr"].added > order.issued


def test_agcom_isp_list_csv() -> None:
    orders = parse_orders(_example("agcom-isp-list.csv"), source="agcom-isp-list.csv")
    (order,) = orders.orders
    # the probes' own resolver is named `isp`; an ISP's name matches no resolver
    assert order.intermediaries == ("isp",)
    assert orders.control_domains == ("example.org",)


@pytest.mark.parametrize(("row", "message", "line", "field"), [
    ("o1,A,2024-01-10,2024-01-01,IT,isp,s,a.example,domain,", "before the issue date", 2,
     "deadline"),
    ("o1,A,2024-01-01,2024-01-10,XX,isp,s,a.example,domain,", "country code", 2,
     "countries[0]"),
    ("o1,A,2024-01-01,2024-01-10,IT,isp,s,not a domain,domain,", "not a domain", 2, "domain"),
    ("o1,A,2024-01-01,2024-01-10,IT,isp,s,a.example,weird,", "not one of", 2, "kind"),
])
def test_csv_errors_name_the_row(row: str, message: str, line: int, field: str) -> None:
    with pytest.raises(OrdersError) as info:
        parse_orders(HEADER + row + "\n", source="x.csv")
    assert message in str(info.value)
    assert (info.value.row, info.value.field) == (line, field)


def test_csv_later_row_disagreeing_with_the_order_is_an_error() -> None:
    text = (HEADER + "o1,A,2024-01-01,2024-01-10,IT,isp,s,a.example,domain,\n"
            "o1,B,,,,,s,b.example,domain,\n")
    with pytest.raises(OrdersError) as info:
        parse_orders(text, source="x.csv")
    assert (info.value.row, info.value.field) == (3, "authority")


def test_yaml_errors_name_the_path() -> None:
    text = _example("milan-cloudflare.yaml").replace("added: 2024-10-01", "added: 2023-01-01")
    with pytest.raises(OrdersError, match="before the order was issued"):
        parse_orders(text, source="m.yaml")
    with pytest.raises(OrdersError) as info:
        parse_orders(_example("milan-cloudflare.yaml").replace("[IT]", "[ZZ]"), source="m.yaml")
    assert info.value.field == "orders[0].countries[0]"


def test_import_is_idempotent_and_all_or_nothing(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    orders = parse_orders(_example("milan-cloudflare.yaml"), source="m.yaml")
    first = registry.import_orders(orders)
    assert (first.orders_added, first.control_domains_added) == (1, 2)
    assert not registry.import_orders(orders).changed
    assert registry.orders() == parse_orders(_example("milan-cloudflare.yaml"), source="m.yaml")
    assert registry.orders_version() == 1
    # A file with one bad row changes nothing: it fails before the transaction.
    bad = _example("agcom-isp-list.csv").replace("ebookz.example", "ebookz..example")
    with pytest.raises(OrdersError):
        registry.import_orders(parse_orders(bad, source="a.csv"))
    assert registry.orders_version() == 1 and len(registry.orders().orders) == 1
    registry.close()


def test_registry_tokens(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    token = registry.add("probe", "p1", country="IT", asn=1)
    assert token.startswith("bw_") and len(token) > 40
    with pytest.raises(PrincipalExists):
        registry.add("probe", "p1", country="IT")
    principal = registry.authenticate(token)
    assert principal is not None and principal.country == "IT"
    assert registry.authenticate("bw_nope") is None
    registry.revoke("probe", "p1")
    assert registry.authenticate(token) is None
    with pytest.raises(UnknownPrincipal):
        registry.revoke("probe", "p1")
    # The token is stored hashed only.
    assert token.encode() not in (tmp_path / "registry.db").read_bytes()
    registry.close()


def test_assignment_gives_every_probe_every_ordered_domain() -> None:
    orders = parse_orders(_example("milan-cloudflare.yaml"), source="m.yaml")
    config = AssignmentSettings(resolvers=(ResolverEntry(name="cf", address="1.1.1.1"),
                                           ResolverEntry(name="isp", address="192.0.2.1",
                                                         countries=["IT"])))
    italy, germany = build_assignment("IT", orders, config), build_assignment("DE", orders,
                                                                              config)
    assert italy.targets == germany.targets and len(italy.targets) == 6
    assert [r.name for r in germany.resolvers] == ["cf"]
    assert italy.version != germany.version
    assert build_assignment("IT", orders, config).version == italy.version


def test_yaml_unknown_keys_are_refused_at_every_level() -> None:
    text = _example("milan-cloudflare.yaml")
    for typo, path in (("mirrors:", "orders[0].sites[0]"), ("deadline_days:", "orders[0]"),
                       ("added:", "orders[0].sites[0].mirrors[0]")):
        with pytest.raises(OrdersError, match="unknown key") as info:
            parse_orders(text.replace(typo, "x" + typo, 1), source="m.yaml")
        assert info.value.field == path


def test_yaml_dates_are_checked_by_the_parser_not_pyyaml() -> None:
    text = _example("milan-cloudflare.yaml").replace("2024-07-15", "2024-13-45")
    with pytest.raises(OrdersError, match="not a date") as info:
        parse_orders(text, source="m.yaml")
    assert info.value.field == "orders[0].issued"
    text = _example("milan-cloudflare.yaml").replace("deadline_days: 30", "deadline_days: soon")
    with pytest.raises(OrdersError, match="not a number of days"):
        parse_orders(text, source="m.yaml")


def test_unknown_intermediaries_suggest_the_close_name() -> None:
    orders = parse_orders(YAML_GROUPS.replace("GROUPS", "[cloudfare, google]"),
                          source="m.yaml")
    (warning,) = unknown_intermediaries(orders, {"cloudflare", "google", "isp"})
    assert "'cloudfare'" in warning and "did you mean 'cloudflare'" in warning
    assert "cloudflare, google, isp" in warning


# -- intermediary groups (issue 13) ---------------------------------------------

def test_milan_example_groups_cloudflare_resolvers_and_edge() -> None:
    (order,) = parse_orders(_example("milan-cloudflare.yaml"), source="m.yaml").orders
    (group,) = order.intermediary_groups()
    assert (group.name, group.resolvers, group.networks) == (
        "cloudflare", ("cloudflare", "cloudflare-doh"), ("cloudflare", "AS13335"))


def test_plain_names_are_groups_of_one_resolver() -> None:
    (order,) = parse_orders(YAML_GROUPS.replace("GROUPS", "[isp, google]"),
                            source="o.yaml").orders
    assert order.groups == ()
    assert [(g.name, g.resolvers, g.networks) for g in order.intermediary_groups()] == [
        ("isp", ("isp",), ()), ("google", ("google",), ())]


def test_group_mapping_and_mixed_list() -> None:
    groups = ("[isp, {name: cf, resolvers: [cloudflare, cloudflare-doh], "
              "networks: [Cloudflare, as13335]}]")
    (order,) = parse_orders(YAML_GROUPS.replace("GROUPS", groups), source="o.yaml").orders
    assert order.intermediaries == ("isp", "cf")
    cf = order.intermediary_groups()[1]
    # networks normalised: operator names lower case, ASNs as AS<number>
    assert (cf.resolvers, cf.networks) == (("cloudflare", "cloudflare-doh"),
                                           ("cloudflare", "AS13335"))
    # a mapping without resolvers: its name is its one resolver
    (solo,) = parse_orders(YAML_GROUPS.replace("GROUPS", "[{name: quad9}]"),
                           source="o.yaml").orders
    assert solo.intermediary_groups()[0].resolvers == ("quad9",)


@pytest.mark.parametrize(("groups", "message", "field"), [
    ("[{name: cf, resolver: [x]}]", "unknown key 'resolver'", "intermediaries[0]"),
    ("[{resolvers: [cloudflare]}]", "is required", "intermediaries[0].name"),
    ("[{name: cf, resolvers: cloudflare}]", "expected a list", "intermediaries[0].resolvers"),
    ("[{name: cf, resolvers: ['bad name']}]", "not a resolver name",
     "intermediaries[0].resolvers[0]"),
    ("[{name: cf, networks: ['AS0']}]", "not an AS number", "intermediaries[0].networks[0]"),
    ("[{name: cf, networks: ['a b']}]", "neither an ASN", "intermediaries[0].networks[0]"),
    ("[{name: cf, networks: [cloudflare, Cloudflare]}]", "twice",
     "intermediaries[0].networks"),
    ("[cloudflare, {name: cf, resolvers: [cloudflare]}]", "already intermediary 'cloudflare'",
     "intermediaries[1]"),
    ("[isp, isp]", "listed twice", "intermediaries[1]"),
    ("[[isp]]", "expected a resolver name or a mapping", "intermediaries[0]"),
    ("[]", "at least one intermediary", "intermediaries"),
])
def test_bad_intermediary_names_the_order_and_field(groups: str, message: str,
                                                     field: str) -> None:
    with pytest.raises(OrdersError) as info:
        parse_orders(YAML_GROUPS.replace("GROUPS", groups), source="o.yaml")
    text = str(info.value)
    assert message in text and "order 'o1'" in text, text
    assert info.value.field == f"orders[0].{field}"
    assert "\n" not in text


def test_csv_groups_round_trip_through_the_registry(tmp_path: Path) -> None:
    row = "o1,A,2024-01-01,2024-01-10,IT,isp cf:cloudflare|cloudflare-doh:cloudflare|AS13335," \
          "s,a.example,domain,\n"
    orders = parse_orders(HEADER + row, source="x.csv")
    cf = orders.orders[0].intermediary_groups()[1]
    assert cf.csv() == "cf:cloudflare|cloudflare-doh:cloudflare|AS13335"
    registry = Registry(tmp_path / "r.db")
    try:
        registry.import_orders(orders)
        assert registry.orders().orders[0].intermediary_groups() == \
            orders.orders[0].intermediary_groups()
        # the same file again changes nothing
        assert not registry.import_orders(orders).changed
    finally:
        registry.close()
    with pytest.raises(OrdersError, match="disagrees with row 2"):
        parse_orders(HEADER + row + row.replace("a.example", "b.example")
                     .replace("|AS13335", ""), source="x.csv")


def test_unknown_resolver_of_a_group_is_warned() -> None:
    groups = "[{name: cf, resolvers: [cloudflare, cloudfare-doh]}]"
    orders = parse_orders(YAML_GROUPS.replace("GROUPS", groups), source="o.yaml")
    (warning,) = unknown_intermediaries(orders, {"cloudflare", "cloudflare-doh"})
    assert "'cloudfare-doh'" in warning and "did you mean 'cloudflare-doh'" in warning


YAML_GROUPS = """
orders:
  - id: o1
    authority: A
    issued: 2024-01-01
    deadline: 2024-01-10
    countries: [IT]
    intermediaries: GROUPS
    sites: [{name: s, domains: [a.example]}]
"""
