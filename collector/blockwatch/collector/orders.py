"""Blocking orders and target lists: parsing and validation, no I/O beyond
reading the text it is given.

Two formats (docs/collector.md): YAML, one document with `orders:` and
`control_domains:`, and CSV, one row per domain. Errors name the row (CSV
line number) or the YAML path, and the field.

An intermediary is a resolver name (`cloudflare`) or a group: one name for
the resolvers it runs and the networks that identify its edge in web
evidence (`{name: cloudflare, resolvers: [cloudflare, cloudflare-doh],
networks: [cloudflare, AS13335]}`), so compliance has one row per
intermediary and credits it only with blocks by its own hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pycountry
import yaml

from blockwatch.collector.errors import OrdersError
from blockwatch.collector.validation import valid_domain

_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_SPLIT = re.compile(r"[;,\s]+")
CSV_COLUMNS = ("order_id", "authority", "title", "issued", "deadline", "countries",
               "intermediaries", "site", "domain", "kind", "added")
_KINDS = ("domain", "mirror", "control")
# the keys each YAML mapping may hold: a typo (`mirror:`) must not drop data silently
_TOP_KEYS = ("orders", "control_domains")
_ORDER_KEYS = ("id", "authority", "title", "issued", "deadline", "deadline_days", "countries",
               "intermediaries", "sites")
_SITE_KEYS = ("name", "domains", "mirrors")
_DOMAIN_KEYS = ("domain", "added")
_INTERMEDIARY_KEYS = ("name", "resolvers", "networks")
_ASN = re.compile(r"(?i)AS([0-9]{1,10})")


class _PlainLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: `2024-13-45` stays text, so the date check
    below names the field, instead of PyYAML raising a bare ValueError."""


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


@dataclass(frozen=True, slots=True)
class OrderDomain:
    domain: str
    kind: str          # "domain": named in the order; "mirror": added later
    added: dt.date


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    domains: tuple[OrderDomain, ...]


@dataclass(frozen=True, slots=True)
class Intermediary:
    """Who must comply, and how its own hand is recognised: the resolvers whose
    DNS answers it controls, and the networks of its edge as the web evidence
    names them (an edge operator recognised from headers, "cloudflare", or an
    ASN, "AS13335")."""

    name: str
    resolvers: tuple[str, ...]
    networks: tuple[str, ...] = ()

    @property
    def plain(self) -> bool:
        """Just a resolver name (the form every order file had before groups)."""
        return self.resolvers == (self.name,) and not self.networks

    def csv(self) -> str:
        """The CSV form: `name`, or `name:resolver|resolver:network|network`."""
        if self.plain:
            return self.name
        return f"{self.name}:{'|'.join(self.resolvers)}:{'|'.join(self.networks)}"


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    authority: str
    title: str
    issued: dt.date
    deadline: dt.date
    countries: tuple[str, ...]
    intermediaries: tuple[str, ...]   # the intermediaries' names, one compliance row each
    sites: tuple[Site, ...]
    source: str = field(default="", compare=False)   # where it was imported from
    groups: tuple[Intermediary, ...] = ()   # per name in `intermediaries`; () : plain names

    def intermediary_groups(self) -> tuple[Intermediary, ...]:
        """Every intermediary as a group (a plain name: itself as its one resolver)."""
        return self.groups or tuple(Intermediary(n, (n,)) for n in self.intermediaries)


@dataclass(frozen=True, slots=True)
class OrderSet:
    orders: tuple[Order, ...] = ()
    control_domains: tuple[str, ...] = ()

    def fingerprint(self) -> str:
        """Canonical JSON: equal for equal content (idempotent imports compare it)."""
        return json.dumps(asdict(self), sort_keys=True, default=str)


@dataclass(slots=True)
class _Where:
    source: str
    row: int = 0
    path: str = ""

    def error(self, message: str, name: str = "") -> OrdersError:
        full = f"{self.path}.{name}" if self.path and name else (self.path or name)
        return OrdersError(message, source=self.source, row=self.row, field=full)


def parse_orders(text: str, *, source: str, fmt: str = "") -> OrderSet:
    """Parse a YAML or CSV orders file; `fmt` defaults from the source's suffix."""
    kind = fmt or ("csv" if source.lower().endswith(".csv") else "yaml")
    if kind == "csv":
        return _parse_csv(text, source)
    if kind == "yaml":
        return _parse_yaml(text, source)
    raise OrdersError(f"unknown format {kind!r} (csv or yaml)", source=source)


# -- field checks -----------------------------------------------------------

def normalize_domain(value: object, where: _Where, name: str) -> str:
    text = str(value).strip().rstrip(".")
    try:
        text = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError as exc:
        raise where.error(f"{value!r} is not a domain name ({exc})", name) from exc
    text = text.lower()
    if text.count(".") < 1 or not valid_domain(text):
        raise where.error(f"{value!r} is not a domain name", name)
    return text


def _check_keys(raw: Mapping[object, Any], known: tuple[str, ...], where: _Where) -> None:
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise where.error(f"unknown key {key!r}{hint}; known keys: {', '.join(known)}")


def _date(value: object, where: _Where, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise where.error(f"{value!r} is not a date (YYYY-MM-DD)", name) from exc


def _country(value: object, where: _Where, name: str) -> str:
    code = str(value).strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise where.error(f"{value!r} is not an ISO 3166-1 alpha-2 country code", name)
    return code


def _text(value: object, where: _Where, name: str, *, required: bool = True,
          limit: int = 512) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise where.error("is required", name)
    if len(text) > limit:
        raise where.error(f"longer than {limit} characters", name)
    return text


def _list(value: object) -> list[object]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v for v in _SPLIT.split(value) if v]
    if isinstance(value, list):
        return value
    return [value]


def _order_head(raw: Mapping[str, Any], where: _Where) -> dict[str, Any]:
    order_id = _text(raw.get("id", raw.get("order_id")), where, "id")
    if not _ID.fullmatch(order_id):
        raise where.error(f"{order_id!r}: lower-case letters, digits, '.', '_', '-'", "id")
    issued = _date(raw.get("issued"), where, "issued")
    if raw.get("deadline") not in (None, ""):
        deadline = _date(raw.get("deadline"), where, "deadline")
    elif raw.get("deadline_days") not in (None, ""):
        days = str(raw["deadline_days"]).strip()
        if not days.isdigit() or int(days) > 36_500:
            raise where.error(f"{raw['deadline_days']!r} is not a number of days",
                              "deadline_days")
        deadline = issued + dt.timedelta(days=int(days))
    else:
        raise where.error("is required (or deadline_days)", "deadline")
    if deadline < issued:
        raise where.error(f"{deadline} is before the issue date {issued}", "deadline")
    countries = tuple(_country(c, where, f"countries[{i}]")
                      for i, c in enumerate(_list(raw.get("countries"))))
    if not countries:
        raise where.error("at least one country is required", "countries")
    groups = _intermediaries(raw.get("intermediaries"), order_id, where)
    return {"order_id": order_id, "authority": _text(raw.get("authority"), where, "authority"),
            "title": _text(raw.get("title"), where, "title", required=False),
            "issued": issued, "deadline": deadline, "countries": countries,
            "intermediaries": tuple(g.name for g in groups),
            "groups": () if all(g.plain for g in groups) else groups}


def _intermediaries(value: object, order_id: str, where: _Where) -> tuple[Intermediary, ...]:
    """Plain resolver names or groups; a resolver belongs to one intermediary
    (else its blocks would count for two)."""
    items = value if isinstance(value, list) else _list(value)
    if not items:
        raise where.error(f"order {order_id!r}: at least one intermediary (a resolver name, "
                          "or a mapping with name, resolvers, networks) is required",
                          "intermediaries")
    groups: list[Intermediary] = []
    owner: dict[str, str] = {}
    for i, item in enumerate(items):
        field_name = f"intermediaries[{i}]"
        group = _intermediary(item, order_id, where, field_name)
        if any(g.name == group.name for g in groups):
            raise where.error(f"order {order_id!r}: intermediary {group.name!r} is listed "
                              "twice", field_name)
        for resolver in group.resolvers:
            if resolver in owner:
                raise where.error(f"order {order_id!r}: resolver {resolver!r} is already "
                                  f"intermediary {owner[resolver]!r}'s", field_name)
            owner[resolver] = group.name
        groups.append(group)
    return tuple(groups)


def _intermediary(item: object, order_id: str, where: _Where, at: str) -> Intermediary:
    def fail(message: str, name: str = "") -> OrdersError:
        return where.error(f"order {order_id!r}: {message}", f"{at}.{name}" if name else at)

    if isinstance(item, str) and ":" in item:
        # CSV: name:resolver|resolver:network|network (YAML has mappings)
        parts = item.split(":")
        if len(parts) != 3:
            raise fail(f"{item!r}: expected name:resolver|resolver:network|network")
        item = {"name": parts[0], "resolvers": [r for r in parts[1].split("|") if r],
                "networks": [n for n in parts[2].split("|") if n]}
    if isinstance(item, dict):
        unknown = [str(k) for k in item if k not in _INTERMEDIARY_KEYS]
        if unknown:
            raise fail(f"unknown key {unknown[0]!r}; known keys: "
                       f"{', '.join(_INTERMEDIARY_KEYS)}")
        name = _resolver_name(item.get("name"), fail, "name")
        raw_resolvers = item.get("resolvers")
        raw_networks = item.get("networks")
        for key, raw in (("resolvers", raw_resolvers), ("networks", raw_networks)):
            if raw is not None and not isinstance(raw, list):
                raise fail(f"expected a list, got {type(raw).__name__}", key)
        resolvers = tuple(_resolver_name(r, fail, f"resolvers[{k}]")
                          for k, r in enumerate(raw_resolvers or [name]))
        networks = tuple(_network(n, fail, f"networks[{k}]")
                         for k, n in enumerate(raw_networks or []))
        for key, values in (("resolvers", resolvers), ("networks", networks)):
            if len(set(values)) != len(values):
                raise fail("lists a value twice", key)
        return Intermediary(name, resolvers, networks)
    if isinstance(item, str | int) and not isinstance(item, bool):
        name = _resolver_name(item, fail, "")
        return Intermediary(name, (name,))
    raise fail(f"expected a resolver name or a mapping, got {type(item).__name__}")


def _resolver_name(value: object, fail: Any, at: str) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise fail("is required", at)
    if not _NAME.fullmatch(text):
        raise fail(f"{text!r} is not a resolver name", at)
    return text


def _network(value: object, fail: Any, at: str) -> str:
    """An ASN as `AS13335` (any case), or an edge operator's name as web
    evidence records it (lower case: "cloudflare")."""
    text = "" if value is None else str(value).strip()
    asn = _ASN.fullmatch(text)
    if asn:
        number = int(asn.group(1))
        if not 0 < number < 2**32:
            raise fail(f"{text!r} is not an AS number", at)
        return f"AS{number}"
    if not _NAME.fullmatch(text):
        raise fail(f"{text!r} is neither an ASN (AS13335) nor an edge operator's name "
                   "(cloudflare)", at)
    return text.lower()


def _check_unique(orders: list[Order], source: str) -> None:
    for order in orders:
        seen: set[str] = set()
        for site in order.sites:
            for d in site.domains:
                if d.domain in seen:
                    raise OrdersError(f"{d.domain} is listed twice", source=source,
                                      field=f"orders[{order.order_id}].domain")
                seen.add(d.domain)
                if d.added < order.issued:
                    raise OrdersError(f"{d.domain} added {d.added}, before the order was "
                                      f"issued ({order.issued})", source=source,
                                      field=f"orders[{order.order_id}].added")


# -- YAML ---------------------------------------------------------------------

def _parse_yaml(text: str, source: str) -> OrderSet:
    try:
        doc = yaml.load(text, Loader=_PlainLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        raise OrdersError(f"not valid YAML: {' '.join(str(exc).split())}",
                          source=source) from exc
    if not isinstance(doc, dict):
        raise OrdersError("expected a mapping with 'orders' and/or 'control_domains'",
                          source=source)
    _check_keys(doc, _TOP_KEYS, _Where(source))
    orders: list[Order] = []
    for i, raw in enumerate(_seq(doc.get("orders"), _Where(source, path="orders"))):
        where = _Where(source, path=f"orders[{i}]")
        if not isinstance(raw, dict):
            raise where.error("expected a mapping")
        _check_keys(raw, _ORDER_KEYS, where)
        head = _order_head(raw, where)
        sites: list[Site] = []
        for j, raw_site in enumerate(_seq(raw.get("sites"), _Where(source, path=where.path),
                                          "sites")):
            site_where = _Where(source, path=f"orders[{i}].sites[{j}]")
            if not isinstance(raw_site, dict):
                raise site_where.error("expected a mapping")
            _check_keys(raw_site, _SITE_KEYS, site_where)
            name = _text(raw_site.get("name"), site_where, "name", limit=128)
            entries: list[OrderDomain] = []
            for kind, key in (("domain", "domains"), ("mirror", "mirrors")):
                for k, entry in enumerate(_seq(raw_site.get(key), site_where, key)):
                    at = _Where(source, path=f"{site_where.path}.{key}[{k}]")
                    entries.append(_yaml_domain(entry, kind, head["issued"], at))
            if not entries:
                raise site_where.error("a site needs at least one domain", "domains")
            sites.append(Site(name, tuple(entries)))
        if not sites:
            raise where.error("an order needs at least one site", "sites")
        orders.append(Order(sites=tuple(sites), source=source, **head))
    controls = tuple(normalize_domain(d, _Where(source, path=f"control_domains[{k}]"), "")
                     for k, d in enumerate(_seq(doc.get("control_domains"), _Where(source),
                                                "control_domains")))
    _check_unique(orders, source)
    _check_ids(orders, source)
    return OrderSet(tuple(orders), tuple(sorted(set(controls))))


def _seq(value: object, where: _Where, name: str = "") -> list[object]:
    """A YAML list (or nothing); a lone string or mapping is a mistake worth naming."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.error(f"expected a list, got {type(value).__name__}", name)
    return value


def _yaml_domain(entry: object, kind: str, issued: dt.date, where: _Where) -> OrderDomain:
    if isinstance(entry, dict):
        _check_keys(entry, _DOMAIN_KEYS, where)
        domain = normalize_domain(entry.get("domain"), where, "domain")
        added = _date(entry["added"], where, "added") if entry.get("added") else issued
        return OrderDomain(domain, kind, added)
    return OrderDomain(normalize_domain(entry, where, ""), kind, issued)


def _check_ids(orders: list[Order], source: str) -> None:
    ids = [o.order_id for o in orders]
    for order_id in ids:
        if ids.count(order_id) > 1:
            raise OrdersError(f"order {order_id!r} appears twice", source=source, field="id")


# -- CSV ------------------------------------------------------------------------

def _parse_csv(text: str, source: str) -> OrderSet:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("order_id", "domain") if c not in header]
    if missing:
        raise OrdersError(f"missing columns {missing}; expected {', '.join(CSV_COLUMNS)}",
                          source=source, row=1)
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise OrdersError(f"unknown columns {unknown}", source=source, row=1)
    heads: dict[str, dict[str, Any]] = {}
    head_rows: dict[str, int] = {}
    sites: dict[str, dict[str, list[OrderDomain]]] = {}
    controls: set[str] = set()
    for raw in reader:
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        where = _Where(source, row=reader.line_num)
        kind = row.get("kind") or "domain"
        if kind not in _KINDS:
            raise where.error(f"{kind!r} is not one of {', '.join(_KINDS)}", "kind")
        if kind == "control":
            controls.add(normalize_domain(row.get("domain"), where, "domain"))
            continue
        order_id = _text(row.get("order_id"), where, "order_id")
        if order_id not in heads:
            heads[order_id] = _order_head(row, where)
            head_rows[order_id] = reader.line_num
            sites[order_id] = {}
        else:
            _same_head(heads[order_id], row, where, head_rows[order_id])
        head = heads[order_id]
        site = _text(row.get("site"), where, "site", limit=128)
        domain = normalize_domain(row.get("domain"), where, "domain")
        added = _date(row["added"], where, "added") if row.get("added") else head["issued"]
        if added < head["issued"]:
            raise where.error(f"{added} is before the order was issued ({head['issued']})",
                              "added")
        if any(d.domain == domain for ds in sites[order_id].values() for d in ds):
            raise where.error(f"{domain} is already listed for order {order_id}", "domain")
        sites[order_id].setdefault(site, []).append(OrderDomain(domain, kind, added))
    orders = [Order(sites=tuple(Site(name, tuple(ds)) for name, ds in sites[oid].items()),
                    source=source, **heads[oid]) for oid in heads]
    _check_unique(orders, source)
    return OrderSet(tuple(orders), tuple(sorted(controls)))


def _same_head(head: dict[str, Any], row: dict[str, str], where: _Where, first: int) -> None:
    """Later rows of an order may leave its columns empty; if filled they must agree."""
    for name in ("authority", "title", "issued", "deadline", "countries", "intermediaries"):
        if not row.get(name):
            continue
        value: object
        if name in ("issued", "deadline"):
            value = _date(row[name], where, name)
        elif name == "countries":
            value = tuple(_country(c, where, name) for c in _list(row[name]))
        elif name == "intermediaries":
            groups = _intermediaries(row[name], head["order_id"], where)
            if groups != (head["groups"] or groups):
                raise where.error(f"{row[name]!r} disagrees with row {first}", name)
            value = tuple(g.name for g in groups)
        else:
            value = row[name]
        if value != head[name]:
            raise where.error(f"{value!r} disagrees with row {first} ({head[name]!r})", name)


def unknown_intermediaries(orders: OrderSet, known: set[str]) -> list[str]:
    """One warning per intermediary no resolver is known by: an order naming
    `cloudfare` imports, but nothing would ever be measured against it."""
    warnings: list[str] = []
    for order in orders.orders:
        for name in (r for g in order.intermediary_groups() for r in g.resolvers):
            if name in known:
                continue
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            warnings.append(f"order {order.order_id!r}: no resolver is named {name!r}{hint}; "
                            f"known resolver and intermediary names: {', '.join(sorted(known))}")
    return warnings


def canonical(orders: OrderSet) -> dict[str, Any]:
    """JSON-friendly form (for `targets list --format json`)."""
    data: dict[str, Any] = json.loads(orders.fingerprint())
    return data


__all__ = ["CSV_COLUMNS", "Intermediary", "Order", "OrderDomain", "OrderSet", "Site", "canonical",
           "parse_orders", "unknown_intermediaries"]
