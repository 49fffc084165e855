"""Each word of the contract is defined once (blockwatch.contract, from
probe.proto's descriptor; the verdict words in analysis/verdict.py) and every
copy that must stay is tied to it here: the SQL `Enum8` columns of every
migration, the collector's column tables, the probe's re-exports."""

from __future__ import annotations

import enum
import re

import pytest

from blockwatch.collector.columns import FIELDS
from blockwatch.collector.webcolumns import WEB_FIELDS
from blockwatch.contract import vocabulary
from blockwatch.contract.errors import ContractError
from blockwatch.contract.vocabulary import (
    MEASUREMENT_COLUMNS,
    WEB_COLUMNS,
    Failure,
    Purpose,
    Scheme,
    TlsVersion,
    Transport,
    Word,
)
from blockwatch.schema.migrate import Migration, load_migrations
from blockwatch.v1 import probe_pb2 as pb

_ENUM8 = re.compile(r"Enum8\(([^)]*)\)")
_VALUE = re.compile(r"'([^']*)'\s*=\s*(-?\d+)")


def _proto(descriptor: object, prefix: str, *, unspecified: bool = False) -> dict[str, int]:
    values = descriptor.values  # type: ignore[attr-defined]
    return {v.name.removeprefix(prefix): v.number for v in values
            if unspecified or not v.name.endswith("_UNSPECIFIED")}


@pytest.mark.parametrize(("words", "descriptor", "prefix", "unspecified"), [
    (Transport, pb.Transport.DESCRIPTOR, "TRANSPORT_", False),
    (Failure, pb.Failure.DESCRIPTOR, "FAILURE_", False),
    (Purpose, pb.Purpose.DESCRIPTOR, "PURPOSE_", False),
    (Scheme, pb.Scheme.DESCRIPTOR, "SCHEME_", False),
    (TlsVersion, pb.TlsVersion.DESCRIPTOR, "TLS_VERSION_", True),
])
def test_words_are_the_descriptors(words: type[Word], descriptor: object, prefix: str,
                                   unspecified: bool) -> None:
    assert {w.name: int(w) for w in words} == _proto(descriptor, prefix,
                                                     unspecified=unspecified)
    assert [w.label for w in words] == [w.name.lower() for w in words]
    assert all(words.from_label(w.label) is w for w in words)


def test_a_copy_that_drifts_from_the_proto_fails_at_import() -> None:
    with pytest.raises(ContractError, match="Transport"):
        @vocabulary._mirrors(pb.Transport.DESCRIPTOR, "TRANSPORT_")
        class Short(Word):           # one transport missing
            UDP = 1
            TCP = 2
            DOT = 3
    with pytest.raises(ContractError, match="Purpose"):
        @vocabulary._mirrors(pb.Purpose.DESCRIPTOR, "PURPOSE_")
        class Renumbered(Word):      # a number that is not the wire's
            TARGET = 1
            CONTROL = 2
            IDENTITY = 3
            CANDIDATE = 5


def test_an_unknown_label_names_the_choices() -> None:
    with pytest.raises(ValueError, match="'quic' is not one of udp, tcp, dot, doh"):
        Transport.from_label("quic")


def test_the_probe_speaks_the_contracts_words() -> None:
    from blockwatch.probe import observation, webobservation

    assert observation.Transport is Transport and observation.Failure is Failure
    assert observation.Purpose is Purpose
    assert webobservation.Scheme is Scheme and webobservation.TlsVersion is TlsVersion


def test_stray_reasons_are_one_vocabulary() -> None:
    from blockwatch.analysis import observation as analysed
    from blockwatch.probe import observation as probed

    assert probed.StrayReason is analysed.StrayReason is vocabulary.StrayReason
    assert [r.value for r in vocabulary.StrayReason] == ["wrong_id", "runt", "unmatched"]


def test_collector_columns_are_the_wire_columns() -> None:
    assert list(FIELDS) == list(MEASUREMENT_COLUMNS)
    assert list(WEB_FIELDS) == list(WEB_COLUMNS)
    assert list(MEASUREMENT_COLUMNS) == [f.name for f in pb.MeasurementColumns.DESCRIPTOR.fields]
    assert list(WEB_COLUMNS) == [f.name for f in pb.WebObservationColumns.DESCRIPTOR.fields]


# ---- the SQL copies ---------------------------------------------------------


def numbered(words: type[enum.Enum]) -> dict[str, int]:
    """How an SQL Enum8 column stores a vocabulary: a contract Word by its
    wire number; a verdict word (a StrEnum) by declaration order, from 0
    when its first word is '' (none), else from 1."""
    if issubclass(words, Word):
        return {w.label: int(w) for w in words}
    values = [str(w.value) for w in words]
    start = 0 if values[0] == "" else 1
    return {v: i for i, v in enumerate(values, start)}


def _stored_words() -> dict[tuple[str, str], dict[str, int]]:
    """(table, column) -> the words its Enum8 must hold; table "*": any table."""
    from blockwatch.analysis.filters import LAYER_CHOICES
    from blockwatch.analysis.siteverdict import Layer, Party
    from blockwatch.analysis.verdict import Method, Status
    from blockwatch.analysis.webverdicts import WebMethod
    from blockwatch.collector.candidates import SOURCES

    status = numbered(Status)
    layers = {w: i for i, w in enumerate(LAYER_CHOICES, 1)}   # the rollups' --layer
    return {
        ("*", "purpose"): numbered(Purpose),
        ("*", "transport"): numbered(Transport),
        ("*", "failure"): numbered(Failure),
        ("*", "connect_failure"): numbered(Failure),
        ("*", "tls_failure"): numbered(Failure),
        ("*", "http_failure"): numbered(Failure),
        ("*", "scheme"): numbered(Scheme),
        ("*", "tls_version"): numbered(TlsVersion),
        ("*", "verdict"): status,
        ("*", "dns_verdict"): status,
        ("*", "web_verdict"): status,
        ("verdicts", "method"): numbered(Method),
        ("verdicts_daily", "method"): numbered(Method),
        ("web_verdicts", "method"): numbered(WebMethod),
        ("*", "web_layer"): numbered(Layer),
        ("*", "site_layer"): numbered(Layer),
        ("site_verdicts", "layer"): numbered(Layer),
        ("layers_daily", "layer"): layers,
        ("layers_sites_daily", "layer"): layers,
        ("layers_sites_monthly", "layer"): layers,   # 0014
        ("*", "web_party"): numbered(Party),
        ("*", "party"): numbered(Party),
        ("mirror_candidates", "source"): {w: i for i, w in enumerate(SOURCES, 1)},
    }


# Enum8 columns whose words are no contract's and have no Python enum yet.
_OWN_WORDS = {("order_domains", "kind")}

_TABLE = re.compile(r"^\s*(?:CREATE TABLE(?: IF NOT EXISTS)?|ALTER TABLE)\s+(\w+)", re.I)
_COLUMN = re.compile(r"(?:^|[,(]|MODIFY COLUMN|ADD COLUMN(?: IF NOT EXISTS)?)\s*(\w+)\s+$",
                     re.I)


def enum8_columns(migrations: list[Migration]) -> list[tuple[int, str, str, dict[str, int]]]:
    """(migration, table, column, words) for every Enum8 of the migrations, in order."""
    found = []
    for migration in migrations:
        for statement in migration.statements():
            table = _TABLE.match(statement)
            for m in _ENUM8.finditer(statement):
                column = _COLUMN.search(statement[:m.start()])
                assert table and column, f"{migration.version}: {statement[:m.end()]}"
                words = {k: int(v) for k, v in _VALUE.findall(m[1])}
                found.append((migration.version, table[1], column[1], words))
    return found


def expected_words(table: str, column: str) -> dict[str, int] | None:
    words = _stored_words()
    return words.get((table, column), words.get(("*", column)))


def problems(migrations: list[Migration]) -> list[str]:
    """What ties the SQL copies to their vocabularies, as a list of breaches:
    - every Enum8 column has a vocabulary (or is listed in _OWN_WORDS);
    - each definition, old ones included, holds only words of it under their
      numbers (an older one may lack later words);
    - the last definition of each column (what a migrated database has)
      holds the whole vocabulary: a word added to the proto needs a migration."""
    found: list[str] = []
    last: dict[tuple[str, str], dict[str, int]] = {}
    for version, table, column, words in enum8_columns(migrations):
        last[(table, column)] = words
        expected = expected_words(table, column)
        if expected is None:
            if (table, column) not in _OWN_WORDS:
                found.append(f"{version:04d} {table}.{column}: no vocabulary to check against")
            continue
        wrong = {k: v for k, v in words.items() if expected.get(k) != v}
        if wrong:
            found.append(f"{version:04d} {table}.{column}: {wrong} not in {expected}")
    for (table, column), words in last.items():
        expected = expected_words(table, column)
        if expected is not None and words != expected:
            found.append(f"{table}.{column} ends as {words}, not {expected}")
    return found


def test_every_enum8_of_the_migrations_is_its_vocabulary() -> None:
    migrations = load_migrations()
    columns = enum8_columns(migrations)
    assert len(columns) >= 30                        # the parser sees them all
    assert {(t, c) for _, t, c, _ in columns} >= _OWN_WORDS
    assert problems(migrations) == []


@pytest.mark.parametrize(("sql", "breach"), [
    ("ALTER TABLE measurements MODIFY COLUMN transport\n"
     "    Enum8('udp' = 1, 'tcp' = 3, 'dot' = 2, 'doh' = 4);", "measurements.transport"),
    ("ALTER TABLE verdicts MODIFY COLUMN purpose Enum8('target' = 1, 'control' = 2);",
     "verdicts.purpose ends as"),
    ("CREATE TABLE IF NOT EXISTS x\n(\n    at DateTime,\n"
     "    failure Enum8('none' = 0, 'timeout' = 1, 'refused' = 2)\n) ENGINE = Log;",
     "x.failure"),
    ("CREATE TABLE y (id UInt8, color Enum8('red' = 1)) ENGINE = Log;",
     "y.color: no vocabulary"),
    ("ALTER TABLE verdicts_daily MODIFY COLUMN method Enum8('' = 0, 'ede' = 1, 'refused' = 2,"
     " 'nxdomain' = 3, 'nodata' = 4, 'servfail' = 5, 'sinkhole' = 6, 'bogon' = 7,"
     " 'drop' = 8, 'injected' = 9, 'teapot' = 10);", "verdicts_daily.method"),
])
def test_a_drifted_sql_copy_is_caught(sql: str, breach: str) -> None:
    migrations = load_migrations()
    drifted = [*migrations, Migration(len(migrations) + 1, "drift", sql)]
    found = problems(drifted)
    assert any(breach in p for p in found), found


# ---- no hand copies in the rules ---------------------------------------------


def _vocabulary_words() -> set[str]:
    from blockwatch.analysis.observation import Health, Outcome
    from blockwatch.analysis.verdict import Method, Rule, Status

    words = {w.label for e in (Transport, Purpose, Failure) for w in e}
    words |= {str(w.value) for e in (vocabulary.StrayReason, Outcome, Health, Status, Method,
                                     Rule) for w in e}
    return words - {""}


def _string_texts(source: str) -> list[str]:
    """The text of each string literal of a module's source."""
    import io
    import tokenize

    texts = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING:
            body = token.string.lstrip("rbfRBF")
            quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
            texts.append(body[len(quote):-len(quote)])
    return texts


def spelled_words(source: str) -> set[str]:
    """Vocabulary words a module spells itself: a string literal that is one,
    or one quoted as an SQL literal inside a string ('udp')."""
    words = _vocabulary_words()
    found: set[str] = set()
    for text in _string_texts(source):
        if text in words:
            found.add(text)
        found |= {w for w in re.findall(r"'([a-z_0-9]+)'", text) if w in words}
    return found


@pytest.mark.parametrize("module", ["dnsverdicts", "rules_sql"])
def test_the_rules_spell_no_word_themselves(module: str) -> None:
    """dnsverdicts.py and rules_sql.py take every transport, purpose, failure,
    outcome, health, status, method and rule from its enum."""
    from importlib import resources

    source = resources.files("blockwatch.analysis").joinpath(f"{module}.py").read_text()
    assert spelled_words(source) == set()


def test_a_spelled_word_is_seen() -> None:
    assert spelled_words('x = obs.transport == "udp"\n') == {"udp"}
    assert spelled_words("q = f\"multiIf(health = 'fails', {a})\"\n") == {"fails"}
    assert spelled_words('"""A docstring about udp and fails."""\n') == set()


# The columns that hold a contract word, wherever a query names them
# (`r.purpose`, `connect_failure`, `toString(m.transport)`), and a hand-quoted
# word compared with one: `purpose = 'target'`, `purpose IN ('candidate', 'target')`.
_CONTRACT_COMPARISON = re.compile(
    r"\b\w*(?:purpose|transport|failure)\)?\s*(?:=|!=|<>|\bIN\b|\bNOT\s+IN\b)\s*"
    r"(\([^()]*\)|'[^']*')", re.IGNORECASE)


def sql_spelled_words(source: str) -> set[str]:
    """Contract words (transports, purposes, failures) a module's query text
    compares a contract column with, quoted by hand."""
    words = {w.label for e in (Transport, Purpose, Failure) for w in e}
    found: set[str] = set()
    for text in _string_texts(source):
        for match in _CONTRACT_COMPARISON.finditer(text):
            found |= {w for w in re.findall(r"'([^']*)'", match.group(1)) if w in words}
    return found


def _sources(*packages: str) -> dict[str, str]:
    """Module name -> source text of every module of the packages."""
    import importlib
    from pathlib import Path

    out: dict[str, str] = {}
    for package in packages:
        root = Path(importlib.import_module(package).__path__[0])
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            out[name] = path.read_text()
    return out


def test_no_query_compares_a_contract_column_with_a_hand_spelled_word() -> None:
    """The report, web view and discovery SQL take each purpose, transport and
    failure it filters on from the contract (a renamed word then fails at
    import or here, not silently as an empty report)."""
    sources = _sources("blockwatch.analysis", "blockwatch.collector", "blockwatch.probe")
    assert "blockwatch.analysis.webview.evidence" in sources
    spelled = {name: sorted(sql_spelled_words(text)) for name, text in sources.items()}
    assert {name: words for name, words in spelled.items() if words} == {}


def test_a_hand_spelled_word_in_sql_is_seen() -> None:
    assert sql_spelled_words('q = "WHERE r.purpose = \'target\'"\n') == {"target"}
    assert sql_spelled_words(
        "q = \"\"\"purpose IN ('candidate',\n 'target') AND x\"\"\"\n") == {"candidate", "target"}
    assert sql_spelled_words("q = \"countIf(failure != 'none')\"\n") == {"none"}
    assert sql_spelled_words("q = \"toString(m.transport) = 'udp'\"\n") == {"udp"}
    # a status compared with the verdict column is not a contract word's copy
    assert sql_spelled_words("q = \"r.verdict IN ('error', 'unknown')\"\n") == set()
    assert sql_spelled_words("q = \"r.purpose = \" + TARGET\n") == set()


@pytest.mark.parametrize("module", [
    "blockwatch.analysis.queries", "blockwatch.analysis.compliancequeries",
    "blockwatch.analysis.mirrors", "blockwatch.analysis.webview.evidence",
    "blockwatch.collector.discovery", "blockwatch.analysis.webobservation",
    "blockwatch.probe.cli"])
def test_these_modules_spell_no_transport_or_failure(module: str) -> None:
    """Where a transport or failure is a Python value (the probe CLI's
    --resolver transports, the web view's transport filter, the web rules'
    failure classes), it comes from the contract's enum."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    words = {w.label for e in (Transport, Failure) for w in e}
    assert set(_string_texts(Path(spec.origin).read_text())) & words == set()


def test_the_probes_columnar_form_fills_every_contract_column() -> None:
    """probe/wire.py spells each column to fill it: none may be left out."""
    from blockwatch.probe.observation import (
        ExtendedError,
        Measurement,
        Record,
        ResolverRef,
        Response,
        StrayReply,
    )
    from blockwatch.probe.wire import encode_columnar_submit_request, encode_measurement

    m = Measurement(
        measurement_id=b"\x01" * 16, round_id="r", started_at_us=1, duration_us=2,
        domain="a.example", qtype=1, qclass=1, purpose=Purpose.TARGET,
        resolver=ResolverRef("isp", "192.0.2.1", 853, Transport.DOT, "dns.example",
                             "https://dns.example/dns-query"),
        failure=Failure.TIMEOUT, failure_text="t",
        responses=[Response(1, 0, 0x8180, (Record("a.example", 1, 60, "192.0.2.7"),),
                            ("b.example",), 1, 1, True, (ExtendedError(15, "x"),), b"n",
                            b"w", 60, "p", True)],
        reply_count=2, answer_set_count=1, reply_bytes=120, stray_count=1,
        strays=[StrayReply(3, 12, vocabulary.StrayReason.RUNT)], truncated=True)
    columns = pb.SubmitRequest.FromString(
        encode_columnar_submit_request("b", [encode_measurement(m)])).batch.columns
    empty = [name for name in MEASUREMENT_COLUMNS if not len(getattr(columns, name))]
    assert empty == []
    # the collector reads every one of them, by the contract's names
    from blockwatch.collector.servicer import columnar_to_columns

    read = columnar_to_columns(columns)
    assert {n: read[n].to_pylist() for n in MEASUREMENT_COLUMNS} == {
        n: list(getattr(columns, n)) for n in MEASUREMENT_COLUMNS}
