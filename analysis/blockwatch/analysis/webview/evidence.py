"""The evidence behind report figures: orders, the measurements behind a count,
one measurement (answers, EDE, flags, NSID, the verdict's rule and control, its
web follow-up, the probe's identity checks) and where an order's numbers come
from. Each kind is a `Report`, so the Reports RPC carries it unchanged.

Parameters arrive as text (URL query, RPC map) and are validated here, on
whichever side runs the SQL; every value reaches ClickHouse as a query
parameter, never as SQL text. Results are bounded (MAX_LIMIT rows).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from blockwatch.analysis import compliancequeries as cq
from blockwatch.analysis.compliance import day_rows
from blockwatch.analysis.errors import UsageError
from blockwatch.analysis.filters import Filters, country_code, parse_day
from blockwatch.analysis.queries import CONCLUSIVE
from blockwatch.analysis.reports import Column, Kind, QueryFn, Report, Value, iso_time
from blockwatch.analysis.structurederrors import StructuredError, parse_extra_text
from blockwatch.contract.vocabulary import Purpose, Transport

MAX_LIMIT = 500
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
VERDICT_CLASSES: dict[str, str] = {
    "blocked": "r.verdict = 'blocked'",
    "ok": "r.verdict = 'ok'",
    "filtered": "r.verdict = 'filtered'",
    "total": f"r.verdict IN {CONCLUSIVE}",
    "inconclusive": "r.verdict IN ('error', 'unknown')",
    "others": "0",
    "any": "1",
}
# For one intermediary of an order, the compliance report's classes: blocked
# by its own hand, counted for it, blocked by another party (compliancequeries).
INTERMEDIARY_CLASSES: dict[str, str] = {
    **VERDICT_CLASSES, "blocked": cq.OWN, "total": cq.COUNTED, "others": cq.OTHER}
# the site verdict, or one layer's (the reports' --layer)
LAYERS = ("site", "dns", "web")
_LAYER_COLUMNS = {"site": ("verdict", "method", "if(layer IN ('', 'dns'), dns_rule, web_rule)"),
                  "dns": ("dns_verdict", "dns_method", "dns_rule"),
                  "web": ("web_verdict", "web_method", "web_rule")}
# which measurements a figure counts, relative to the order's countries and the
# domains' due days (reports.py: effectiveness/timeline: all; leakage and
# compliance: ordered countries from the due day; spillover: elsewhere)
SCOPES = ("all", "ordered", "due", "outside")
# a path's transport and address family, as leakage groups them ('': any)
TRANSPORTS = ("", *Transport.labels())
FAMILIES = ("", "4", "6")
# the contract's purposes, as the SQL compares them
_TARGET = f"'{Purpose.TARGET.label}'"
_IDENTITY = f"'{Purpose.IDENTITY.label}'"


def _name(value: str, field: str) -> str:
    text = value.strip()
    if text and not NAME.fullmatch(text):
        raise UsageError(f"{value[:40]!r} is not a valid name", field=field)
    return text


def _choice(value: str, field: str, choices: Sequence[str]) -> str:
    text = value.strip() or choices[0]
    if text not in choices:
        raise UsageError(f"{value[:40]!r}: expected one of {', '.join(choices)}", field=field)
    return text


def _int(value: str, field: str, low: int, high: int, default: int) -> int:
    text = value.strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise UsageError(f"{value[:40]!r}: expected a number from {low} to {high}", field=field)
    return int(text)


def measurement_id(value: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise UsageError(f"{value[:40]!r} is not a measurement id (a UUID)",
                         field="id") from None


@dataclass(frozen=True, slots=True)
class Selection:
    """The measurements behind one count of a report."""

    order: str = ""
    country: str = ""
    resolver: str = ""
    site: str = ""
    domain: str = ""
    asn: int = 0
    transport: str = ""
    family: int = 0            # 4 (A) or 6 (AAAA); 0: any
    intermediary: str = ""     # one of the order's: the compliance report's classes
    layer: str = "site"
    verdict: str = "any"
    scope: str = "all"
    since: dt.date | None = None
    until: dt.date | None = None
    limit: int = 100
    offset: int = 0

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Selection:
        unknown = set(params) - set(SELECTION_KEYS)
        if unknown:
            raise UsageError(f"unknown parameter {sorted(unknown)[0][:40]!r}; known: "
                             f"{', '.join(SELECTION_KEYS)}", field="parameter")
        get = params.get
        selection = cls(
            order=_name(get("order", ""), "order"), country=country_code(get("country", "")),
            resolver=_name(get("resolver", ""), "resolver"), site=_name(get("site", ""), "site"),
            domain=_name(get("domain", ""), "domain"),
            asn=_int(get("asn", ""), "asn", 0, 2**32 - 1, 0),
            transport=_choice(get("transport", ""), "transport", TRANSPORTS),
            family=int(_choice(get("family", ""), "family", FAMILIES) or 0),
            intermediary=_name(get("intermediary", ""), "intermediary"),
            layer=_choice(get("layer", ""), "layer", LAYERS),
            verdict=_choice(get("verdict", ""), "verdict", tuple(VERDICT_CLASSES)[::-1]),
            scope=_choice(get("scope", ""), "scope", SCOPES),
            since=parse_day(get("since", ""), "since"), until=parse_day(get("until", ""), "until"),
            limit=_int(get("limit", ""), "limit", 1, MAX_LIMIT, 100),
            offset=_int(get("offset", ""), "offset", 0, 10**9, 0))
        if selection.scope != "all" and not selection.order:
            raise UsageError(f"scope {selection.scope} needs an order", field="scope")
        if selection.intermediary and not selection.order:
            raise UsageError("an intermediary needs its order", field="intermediary")
        if selection.intermediary and selection.layer != "site":
            raise UsageError("an intermediary's counts are at the site layer", field="layer")
        return selection

    def params(self) -> dict[str, str]:
        """The non-default parameters, as text (URLs, the RPC)."""
        out = {"order": self.order, "country": self.country, "resolver": self.resolver,
               "site": self.site, "domain": self.domain,
               "asn": str(self.asn) if self.asn else "",
               "transport": self.transport, "family": str(self.family) if self.family else "",
               "intermediary": self.intermediary,
               "layer": "" if self.layer == "site" else self.layer,
               "verdict": "" if self.verdict == "any" else self.verdict,
               "scope": "" if self.scope == "all" else self.scope,
               "since": self.since.isoformat() if self.since else "",
               "until": self.until.isoformat() if self.until else "",
               "limit": "" if self.limit == 100 else str(self.limit),
               "offset": str(self.offset) if self.offset else ""}
        return {k: v for k, v in out.items() if v}

    def query_parameters(self) -> dict[str, Any]:
        return {"order": self.order, "country": self.country, "resolver": self.resolver,
                "site": self.site, "domain": self.domain, "asn": self.asn, "scope": self.scope,
                "transport": self.transport, "family": self.family,
                "intermediary": self.intermediary,
                "since": self.since or dt.date(1970, 1, 1),
                "until": self.until or dt.date(2149, 6, 6),
                "limit": self.limit, "offset": self.offset}


SELECTION_KEYS = ("order", "country", "resolver", "site", "domain", "asn", "transport", "family",
                  "intermediary",
                  "layer", "verdict", "scope", "since", "until", "limit", "offset")

# The order's domains, each with its site, due day (as in queries._DUE) and the
# order's countries; a domain in several orders (no order given) once.
_OD = """od AS (
    SELECT d.domain AS domain, any(d.site) AS site,
        min(greatest(o.deadline, addDays(d.added, dateDiff('day', o.issued, o.deadline)))) AS due,
        groupUniqArrayArray(o.countries) AS countries
    FROM order_domains AS d FINAL
    INNER JOIN (SELECT order_id, issued, deadline, countries FROM orders FINAL) AS o
        ON o.order_id = d.order_id
    WHERE ({order:String} = '' OR d.order_id = {order:String})
      AND ({site:String} = '' OR d.site = {site:String})
      AND ({domain:String} = '' OR d.domain = {domain:String})
    GROUP BY d.domain)"""

# Site verdicts (their layers' columns for --layer dns|web), as the reports
# count them from the rollup they feed.
_SELECT_WHERE = """FROM site_verdicts AS r FINAL
INNER JOIN od ON od.domain = r.domain%s
WHERE toDate(r.started_at) BETWEEN {since:Date} AND {until:Date}
  AND ({country:String} = '' OR r.probe_country = {country:String})
  AND ({resolver:String} = '' OR r.resolver_name = {resolver:String})
  AND ({asn:UInt32} = 0 OR r.probe_asn = {asn:UInt32})
  AND ({transport:String} = '' OR toString(r.transport) = {transport:String})
  AND ({family:UInt8} = 0 OR multiIf(r.qtype = 1, 4, r.qtype = 28, 6, 0) = {family:UInt8})
  AND NOT r.probe_control AND r.purpose = """ + _TARGET + """
  AND (%s)
  AND CASE {scope:String}
        WHEN 'ordered' THEN has(od.countries, r.probe_country)
        WHEN 'due' THEN has(od.countries, r.probe_country) AND toDate(r.started_at) >= od.due
        WHEN 'outside' THEN NOT has(od.countries, r.probe_country)
        ELSE 1 END"""


def _where(s: Selection) -> str:
    """The FROM ... WHERE of a selection: its layer's verdict, and for an
    intermediary its group (compliancequeries: scope and whose hand)."""
    verdict, _, _ = _LAYER_COLUMNS[s.layer]
    if s.intermediary:
        return _SELECT_WHERE % ("\nCROSS JOIN g", cq.IN_SCOPE + " AND "
                                + INTERMEDIARY_CLASSES[s.verdict])
    cls = VERDICT_CLASSES[s.verdict].replace("r.verdict", f"r.{verdict}")
    return _SELECT_WHERE % ("", cls)


def _with(s: Selection) -> str:
    return "WITH " + _OD + (",\n" + cq.GROUP_NAMED if s.intermediary else "") + "\n"


def _list_sql(s: Selection) -> str:
    verdict, method, rule = _LAYER_COLUMNS[s.layer]
    return (_with(s) + f"""SELECT r.measurement_id, r.started_at, r.probe_name, r.probe_country,
    r.probe_asn, r.resolver_name, toString(r.transport), od.site, r.domain,
    toString(r.{verdict}), toString(r.{method}), {rule},
    if(r.{verdict} = 'blocked' AND r.layer != '', toString(r.layer), ''),
    if(r.{verdict} = 'blocked' AND r.party != '',
       concat(toString(r.party), ' ', if(r.party = 'resolver', r.resolver_name, r.operator)),
       '')
""" + _where(s) + """
ORDER BY r.started_at, r.measurement_id
LIMIT {limit:UInt32} OFFSET {offset:UInt32}""")


def _count_sql(s: Selection) -> str:
    return _with(s) + "SELECT count() " + _where(s)


_LIST_COLUMNS = (Column("measurement"), Column("started", "time"), Column("probe"),
                 Column("country"), Column("asn", "int"), Column("resolver"),
                 Column("transport"), Column("site"), Column("domain"), Column("verdict"),
                 Column("method"), Column("rule"), Column("layer"), Column("by"))


def measurements(params: Mapping[str, str], query: QueryFn) -> Report:
    s = Selection.parse(params)
    rows = query(_list_sql(s), s.query_parameters())
    out = tuple((str(r[0]), iso_time(r[1]), *(str(x) for x in r[2:4]), int(r[4]),
                 *(str(x) if x != "" else None for x in r[5:])) for r in rows)
    return Report("measurements", "Measurements", _LIST_COLUMNS, out)


def count(params: Mapping[str, str], query: QueryFn) -> Report:
    s = Selection.parse(params)
    n = int(query(_count_sql(s), s.query_parameters())[0][0])
    return Report("count", "Measurements counted", (Column("measurements", "int"),), ((n,),))


ORDERS_SQL = """SELECT o.order_id, o.authority, o.title, o.issued, o.deadline,
    arrayStringConcat(arraySort(o.countries), ' '), arrayStringConcat(o.intermediaries, ' '),
    countIf(d.kind = 'domain'), countIf(d.kind = 'mirror')
FROM (SELECT * FROM orders FINAL) AS o
LEFT JOIN (SELECT * FROM order_domains FINAL) AS d ON d.order_id = o.order_id
WHERE {order:String} = '' OR o.order_id = {order:String}
GROUP BY o.order_id, o.authority, o.title, o.issued, o.deadline, o.countries, o.intermediaries
ORDER BY o.order_id"""

DOMAINS_SQL = """SELECT d.site, d.domain, toString(d.kind), d.added,
    greatest(o.deadline, addDays(d.added, dateDiff('day', o.issued, o.deadline)))
FROM order_domains AS d FINAL
INNER JOIN (SELECT order_id, issued, deadline FROM orders FINAL) AS o ON o.order_id = d.order_id
WHERE d.order_id = {order:String}
ORDER BY d.site, d.kind, d.domain"""


def orders(params: Mapping[str, str], query: QueryFn) -> Report:
    order = _name(_only(params, ("order",)).get("order", ""), "order")
    rows = query(ORDERS_SQL, {"order": order})
    columns = (Column("order"), Column("authority"), Column("title"), Column("issued", "date"),
               Column("deadline", "date"), Column("countries"), Column("intermediaries"),
               Column("domains", "int"), Column("mirrors", "int"))
    return Report("orders", "Orders", columns, tuple(
        (str(r[0]), str(r[1]), str(r[2]), _day(r[3]), _day(r[4]), str(r[5]), str(r[6]),
         int(r[7]), int(r[8])) for r in rows))


def domains(params: Mapping[str, str], query: QueryFn) -> Report:
    order = _name(_only(params, ("order",)).get("order", ""), "order")
    if not order:
        raise UsageError("give an order", field="order")
    rows = query(DOMAINS_SQL, {"order": order})
    columns = (Column("site"), Column("domain"), Column("kind"), Column("added", "date"),
               Column("due", "date"))
    return Report("domains", "Domains and mirrors", columns, tuple(
        (str(r[0]), str(r[1]), str(r[2]), _day(r[3]), _day(r[4])) for r in rows))


# Where an order's numbers come from, per country: networks (ASNs),
# measurements, days, from sources_daily (migration 0013: keyed by domain, so
# the order page reads only its domains' granules, where layers_daily's site
# layer held them in every granule).
SOURCES_SQL = """SELECT r.probe_country, max(r.probe_control),
    arrayStringConcat(arrayMap(x -> toString(x), arraySort(groupUniqArray(r.probe_asn))), ' '),
    sumIf(r.measurements, NOT r.probe_control), sum(r.measurements), uniqExact(r.day),
    min(r.first_at), max(r.last_at)
FROM sources_daily AS r
WHERE r.domain IN (SELECT domain FROM order_domains FINAL WHERE order_id = {order:String})
  AND r.day BETWEEN {since:Date} AND {until:Date}
GROUP BY r.probe_country
ORDER BY r.probe_country"""

# The probes and rounds behind them: distinct values over the stored rows of
# the order's domains (seconds over 100M rows: its own page, not the order's).
ROUNDS_SQL = """SELECT m.probe_country, any(m.probe_control), uniqExact(m.probe_name),
    arrayStringConcat(arraySort(groupUniqArray(m.probe_name)), ' '), uniqExact(m.round_id)
FROM measurements AS m
WHERE m.domain IN (SELECT domain FROM order_domains FINAL WHERE order_id = {order:String})
  AND m.purpose = """ + _TARGET + """ AND toDate(m.started_at) BETWEEN {since:Date} AND {until:Date}
GROUP BY m.probe_country
ORDER BY m.probe_country"""


def _order_days(params: Mapping[str, str]) -> dict[str, Any]:
    _only(params, ("order", "since", "until"))
    order = _name(params.get("order", ""), "order")
    if not order:
        raise UsageError("give an order", field="order")
    return {"order": order,
            "since": parse_day(params.get("since", ""), "since") or dt.date(1970, 1, 1),
            "until": parse_day(params.get("until", ""), "until") or dt.date(2149, 6, 6)}


def sources(params: Mapping[str, str], query: QueryFn) -> Report:
    rows = query(SOURCES_SQL, _order_days(params))
    columns = (Column("country"), Column("control", "bool"), Column("asns"),
               Column("measurements", "int"), Column("with control", "int"),
               Column("days", "int"), Column("first measured", "time"),
               Column("last measured", "time"))
    return Report("sources", "Where the numbers come from", columns, tuple(
        (str(r[0]), "yes" if r[1] else "no", str(r[2]), int(r[3]), int(r[4]), int(r[5]),
         iso_time(r[6]), iso_time(r[7])) for r in rows))


def compliance_days(params: Mapping[str, str], query: QueryFn) -> Report:
    """Per intermediary and day, by the compliance report's rules: the order
    page's site-layer timelines, from the compliance report's own query (with
    the report's parameters: the web view runs it once for both)."""
    window = _order_days(params)
    rows = query(cq.COMPLIANCE, Filters(order=window["order"],
                                        since=parse_day(params.get("since", ""), "since"),
                                        until=parse_day(params.get("until", ""), "until"))
                 .parameters())
    columns = (Column("intermediary"), Column("day", "date"), Column("blocked", "int"),
               Column("total", "int"), Column("blocked by others", "int"))
    return Report("compliance_days", "Per intermediary and day", columns, tuple(
        (name, _day(day), blocked, total, others_n)
        for name, day, blocked, total, others_n in day_rows(rows)))


def rounds(params: Mapping[str, str], query: QueryFn) -> Report:
    rows = query(ROUNDS_SQL, _order_days(params))
    columns = (Column("country"), Column("control", "bool"), Column("probes", "int"),
               Column("probe names"), Column("rounds", "int"))
    return Report("rounds", "Probes and rounds behind the order's numbers", columns, tuple(
        (str(r[0]), "yes" if r[1] else "no", int(r[2]), str(r[3]), int(r[4])) for r in rows))


MEASUREMENT_SQL = """SELECT m.measurement_id, m.round_id, m.probe_name, m.probe_country,
    m.probe_asn, m.probe_control, m.started_at, m.received_at, m.duration_us, m.domain, m.qtype,
    toString(m.purpose), m.resolver_name, m.resolver_address, m.resolver_port,
    toString(m.transport), m.resolver_tls_name, m.resolver_url, toString(m.failure),
    m.failure_text, m.response_count, m.rcode, m.flags,
    arrayMap((n, t, l, d) -> concat(n, ' ', toString(l), ' ', toString(t), ' ', d),
             m.answers.name, m.answers.type, m.answers.ttl, m.answers.data),
    m.cname_chain, m.ede_codes, m.ede_texts, m.nsid, m.edns, m.response_size,
    m.later_rcode, m.later_answer_data,
    v.verdict, v.method, v.rule, v.ede_code, v.ede_text, v.fingerprint, v.answer,
    v.control_outcome, v.control_answer, v.control_measurement_id, v.resolver_health,
    v.classifier_version, v.classified_at
FROM (SELECT * FROM measurements FINAL WHERE measurement_id = {id:UUID}) AS m
LEFT JOIN (SELECT * FROM verdicts FINAL WHERE measurement_id = {id:UUID}) AS v
    ON v.measurement_id = m.measurement_id
SETTINGS join_use_nulls = 1"""

_FIELDS = ("measurement", "round", "probe", "country", "asn", "control vantage", "started",
           "received", "duration us", "domain", "qtype", "purpose", "resolver", "address",
           "port", "transport", "tls name", "url", "failure", "failure text", "responses",
           "rcode", "flags", "answers", "cname chain", "ede codes", "ede texts", "nsid", "edns",
           "response size", "later rcodes", "later answers",
           "verdict", "method", "rule", "verdict ede code", "verdict ede text", "fingerprint",
           "answer compared", "control outcome", "control answer", "control measurement",
           "resolver health", "classifier version", "classified")

_FLAG_NAMES = ((0x8000, "QR"), (0x0400, "AA"), (0x0200, "TC"), (0x0100, "RD"), (0x0080, "RA"),
               (0x0020, "AD"), (0x0010, "CD"))
_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def flags_text(flags: int) -> str:
    return " ".join(name for bit, name in _FLAG_NAMES if flags & bit)


def _text(value: Any) -> Value:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return iso_time(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "; ".join(str(_text(v)) for v in value) if value else None
    if isinstance(value, int):
        return value
    text = str(value)
    return text if text else None


def _fields(title: str, name: str, pairs: Sequence[tuple[str, Value]]) -> Report:
    return Report(name, title, (Column("field"), Column("value")),
                  tuple((k, v) for k, v in pairs))


# What a resolver said in structured form (structurederrors.py), as the
# measurement's field rows: the Report's values are scalars, so that CSV and the
# Evidence RPC carry them unchanged; structured_error() rebuilds the object.
STRUCTURED_FIELDS = ("structured error", "structured organization",
                     "structured justification", "structured sub-error", "structured contact",
                     "structured language", "structured error text", "structured error note")


def _structured(texts: Sequence[str]) -> StructuredError | None:
    """The first EDE text that is structured error data, else the first that
    looked like it and was refused (a note is due), else None (plain text)."""
    parsed = [parse_extra_text(t) for t in texts]
    return next((p for p in parsed if p.structured), None) \
        or next((p for p in parsed if p.malformed), None)


def with_contact(found: StructuredError) -> str:
    """"Blocked by X under Y - contact Z", as the page shows it."""
    line = found.summary[:1].upper() + found.summary[1:]
    return f"{line} — contact {' '.join(found.contact)}" if found.contact else line


def _structured_pairs(texts: Sequence[str]) -> list[tuple[str, Value]]:
    found = _structured(texts)
    if found is None:
        return [(k, None) for k in STRUCTURED_FIELDS]
    if not found.structured:
        note = found.malformed
        return [(k, None) for k in STRUCTURED_FIELDS[:-2]] + [
            ("structured error text", found.verbatim), ("structured error note", note)]
    return [("structured error", with_contact(found)),
            ("structured organization", found.organization or None),
            ("structured justification", found.justification or None),
            ("structured sub-error", found.suberror),
            ("structured contact", " ".join(found.contact) or None),
            ("structured language", found.language or None),
            ("structured error text", found.verbatim), ("structured error note", None)]


def structured_error(report: Report) -> dict[str, Any] | None:
    """The measurement record's structured error as an object (the JSON API),
    None when its EDE texts hold none that parsed."""
    if report.name != "measurement":
        return None
    fields = {str(r[0]): r[1] for r in report.rows}
    if not fields.get("structured error"):
        return None
    found = parse_extra_text(str(fields["structured error text"]))
    return {"organization": found.organization or None,
            "justification": found.justification or None, "suberror": found.suberror,
            "contact": list(found.contact), "language": found.language or None,
            "summary": found.summary, "text": found.verbatim}


def measurement(params: Mapping[str, str], query: QueryFn) -> Report:
    mid = measurement_id(_only(params, ("id",)).get("id", ""))
    rows = query(MEASUREMENT_SQL, {"id": mid})
    if not rows:
        raise UsageError(f"no measurement {mid}", field="id")
    row = list(rows[0])
    pairs = [(k, _text(v)) for k, v in zip(_FIELDS, row, strict=True)]
    shown = dict(pairs)
    rcode = row[_FIELDS.index("rcode")]
    if rcode is not None:
        shown["rcode"] = f"{rcode} {_RCODES.get(int(rcode), '')}".strip()
    shown["flags"] = flags_text(int(row[_FIELDS.index("flags")] or 0)) or None
    shown.update(_structured_pairs([str(t) for t in row[_FIELDS.index("ede texts")] or ()]))
    return _fields(f"Measurement {mid}", "measurement", list(shown.items()))


# Each follow-up with its web verdict when classified (web_verdicts): what an
# analyst looks at first (the verdict, the HTTP outcome) leads.
WEB_SQL = """SELECT o.observation_id, o.started_at, o.http_url, o.address, o.port,
    toString(w.verdict), toString(w.method), w.rule, w.edge_operator, w.fingerprint,
    w.control_observation_id, o.status, o.reason, o.title,
    toString(o.http_failure), o.http_failure_text, toString(o.connect_failure),
    o.connect_failure_text, o.tls_attempted, toString(o.tls_version), toString(o.tls_failure),
    o.tls_failure_text, o.name_matches, o.chain_verified, o.verify_error, o.cert_subject,
    o.cert_issuer, o.body_sha256, o.body_length, toString(o.scheme)
FROM (SELECT * FROM web_observations FINAL WHERE has(dns_measurement_ids, {id:UUID})) AS o
LEFT JOIN (SELECT * FROM web_verdicts FINAL WHERE has(dns_measurement_ids, {id:UUID})) AS w
    ON w.observation_id = o.observation_id
ORDER BY o.started_at, o.observation_id
LIMIT 50
SETTINGS join_use_nulls = 1"""

_WEB_COLUMNS = (Column("observation"), Column("started", "time"), Column("url"),
                Column("address"), Column("port", "int"), Column("web verdict"),
                Column("method"), Column("rule"), Column("edge operator"),
                Column("fingerprint"), Column("control observation"),
                Column("status", "int"),
                Column("reason"), Column("title"), Column("http failure"),
                Column("http failure text"), Column("connect failure"),
                Column("connect failure text"), Column("tls attempted", "bool"),
                Column("tls version"), Column("tls failure"), Column("tls failure text"),
                Column("name matches", "bool"), Column("chain verified", "bool"),
                Column("verify error"), Column("certificate subject"),
                Column("certificate issuer"), Column("body sha256"),
                Column("body bytes", "int"), Column("scheme"))


def web(params: Mapping[str, str], query: QueryFn) -> Report:
    mid = measurement_id(_only(params, ("id",)).get("id", ""))
    rows = query(WEB_SQL, {"id": mid})
    return Report("web", "Web follow-up of this answer", _WEB_COLUMNS,
                  tuple(tuple(_cell(c.kind, v) for c, v in zip(_WEB_COLUMNS, r, strict=True))
                        for r in rows))


# The site verdict of this path (site_verdicts): each layer's result, the
# layer that decided and whose hand it was.
SITE_SQL = """SELECT toString(verdict), toString(layer), method, toString(party), operator,
    confirmed_by, toString(dns_verdict), dns_method, dns_rule, toString(web_verdict),
    web_method, web_rule, toString(web_layer), toString(web_party), web_operator,
    classifier_version, classified_at
FROM site_verdicts FINAL
WHERE measurement_id = {id:UUID}"""

_SITE_FIELDS = ("site verdict", "layer", "method", "by", "operator", "confirmed by",
                "dns verdict", "dns method", "dns rule", "web verdict", "web method",
                "web rule", "web layer", "web by", "web operator", "classifier version",
                "classified")


def site(params: Mapping[str, str], query: QueryFn) -> Report:
    """The measurement's site verdict; no rows while it is not classified yet."""
    mid = measurement_id(_only(params, ("id",)).get("id", ""))
    rows = query(SITE_SQL, {"id": mid})
    pairs = [(k, _text(v)) for k, v in zip(_SITE_FIELDS, rows[0], strict=True)] if rows else []
    return _fields("Site verdict: could the site be reached through this path", "site", pairs)


# The probe's identity checks (whoami, id.server, NSID queries) to the same
# resolver in the same round: who answered.
IDENTITY_SQL = """SELECT i.measurement_id, i.domain, i.qtype, toString(i.failure), i.rcode,
    arrayStringConcat(i.answers.data, ' '), i.nsid
FROM measurements AS i FINAL
WHERE i.purpose = """ + _IDENTITY + """
  AND (i.probe_name, i.round_id, i.resolver_name) IN (
      SELECT probe_name, round_id, resolver_name FROM measurements FINAL
      WHERE measurement_id = {id:UUID})
ORDER BY i.started_at
LIMIT 50"""


def identity(params: Mapping[str, str], query: QueryFn) -> Report:
    mid = measurement_id(_only(params, ("id",)).get("id", ""))
    rows = query(IDENTITY_SQL, {"id": mid})
    columns = (Column("measurement"), Column("name"), Column("qtype", "int"),
               Column("failure"), Column("rcode", "int"), Column("answers"), Column("nsid"))
    return Report("identity", "Identity checks of this resolver in this round", columns, tuple(
        (str(r[0]), str(r[1]), int(r[2]), str(r[3]), None if r[4] is None else int(r[4]),
         str(r[5]) or None, str(r[6]) or None) for r in rows))


def _cell(kind: Kind, value: Any) -> Value:
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "int":
        return int(value)
    return _text(value)


def _day(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else None


def _only(params: Mapping[str, str], keys: Sequence[str]) -> Mapping[str, str]:
    unknown = set(params) - set(keys)
    if unknown:
        raise UsageError(f"unknown parameter {sorted(unknown)[0][:40]!r}", field="parameter")
    return params


# Countries of the control vantage points, from the small daily rollup (the
# probes report reads every stored row).
CONTROLS_SQL = """SELECT DISTINCT probe_country FROM layers_daily
WHERE layer = 'site' AND probe_control
ORDER BY probe_country"""


def controls(params: Mapping[str, str], query: QueryFn) -> Report:
    _only(params, ())
    rows = query(CONTROLS_SQL, {})
    return Report("controls", "Countries of control vantage points", (Column("country"),),
                  tuple((str(r[0]),) for r in rows))


KINDS: dict[str, Callable[[Mapping[str, str], QueryFn], Report]] = {
    "orders": orders, "domains": domains, "sources": sources, "measurements": measurements,
    "count": count, "measurement": measurement, "web": web, "identity": identity,
    "controls": controls, "rounds": rounds, "compliance_days": compliance_days,
    "site": site,
}


def evidence(kind: str, params: Mapping[str, str], query: QueryFn) -> Report:
    """Evidence `kind` with text `params` through `query(sql, parameters)`."""
    run = KINDS.get(kind)
    if run is None:
        raise UsageError(f"unknown evidence kind {kind[:40]!r}; one of {', '.join(KINDS)}",
                         field="kind")
    if len(params) > len(SELECTION_KEYS) or any(len(v) > 200 for v in params.values()):
        raise UsageError("too many or too long parameters", field="parameter")
    return run(params, query)
