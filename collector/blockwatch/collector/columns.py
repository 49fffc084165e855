"""The collector's own, column-oriented forms of a batch.

`MeasurementColumns` is a batch as the wire's columnar form lays it out: one
Arrow array per field of Measurement/Resolver/Response/ResourceRecord/
ExtendedError, each level flattened, with count arrays linking a level to the
next (see `MeasurementColumns` in proto/blockwatch/v1/probe.proto). The
servicer fills it from the wire's repeated fields; validation checks it with
one Arrow or numpy call per column; `storage_table` reshapes it into the
stored layout. Per-row Python work is what limits ingest speed, so nothing
here loops over measurements; and a batch is small (a probe sends 500 by
default), so each call's fixed cost counts as well: numbers are handled in
numpy (~1-3 µs a call), strings and bytes in Arrow (~5-40 µs a call).

The stored layout flattens the first response of a measurement into
scalar/array columns (what a stub resolver would have used); responses after
it keep a compact form in `later_*` columns, enough to analyse on-path
injection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from blockwatch.contract.errors import ContractError
from blockwatch.contract.vocabulary import MEASUREMENT_COLUMNS, ColumnKind


class Level(Enum):
    """The levels of the flattened form; each field has the length of its level."""

    MEASUREMENT = "measurement"
    RESPONSE = "response"
    ANSWER = "answer"
    CNAME = "cname"
    EXTENDED_ERROR = "extended_error"
    STRAY = "stray"


# The wide Arrow type of each kind of wire column (what the wire allows);
# validation bounds the values, and `storage_table` narrows them to the stored types.
ARROW_TYPES: dict[ColumnKind, pa.DataType] = {
    ColumnKind.STRING: pa.string(), ColumnKind.BYTES: pa.binary(), ColumnKind.BOOL: pa.bool_(),
    ColumnKind.INT64: pa.int64(), ColumnKind.UINT32: pa.uint32(),
    ColumnKind.UINT64: pa.uint64(), ColumnKind.ENUM: pa.int32(),
}

# The numpy type each numeric Arrow type is read through (`column`).
NUMPY_TYPES: dict[pa.DataType, type[np.generic]] = {
    pa.bool_(): np.bool_, pa.int64(): np.int64, pa.uint32(): np.uint32,
    pa.uint64(): np.uint64, pa.int32(): np.int32,
}
_EMPTY = {kind: pa.array([], kind) for kind in ARROW_TYPES.values()}

Ints = npt.NDArray[np.int64]
L = TypeVar("L", bound=Enum)


def column(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    """One wire column (a repeated field) as an Arrow array of type `kind`.

    Numbers and booleans go through numpy: protobuf's repeated scalar
    container hands numpy all its values in one C-level copy (`__array__`,
    ~1 ns a value against ~90 ns for `list()` then `pa.array`), and Arrow
    takes the numpy array without copying. Strings and bytes go through a
    list, which pyarrow converts in one C-level call (numpy's fixed-width
    string types would drop trailing NULs; and pyarrow reads a repeated field
    itself through a slower generic path). An empty column costs nothing, and
    one value throughout (an unset field's "", a batch's round) is repeated
    rather than converted item by item."""
    if not len(values):
        return _EMPTY[kind]
    dtype = NUMPY_TYPES.get(kind)
    if dtype is not None:
        return pa.array(np.asarray(values, dtype=dtype), type=kind)
    items = values[:]   # a list (protobuf slices a repeated field into one faster than list())
    first = items[0]
    # the two probes first: a column that varies rarely pays the full count
    if items[-1] == first and items[len(items) // 2] == first and (
            items.count(first) == len(items)):
        return pa.repeat(pa.scalar(first, kind), len(items))
    return pa.array(items, type=kind)


def ends(counts: npt.NDArray[Any]) -> Ints:
    """[0, c0, c0+c1, ...]: item i of the parent level owns items
    ends[i]:ends[i+1] of the level the counts split."""
    out = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def list_offsets(item_ends: Ints) -> pa.Array:
    """`ends` as Arrow list offsets (int32: a batch is far below 2**31 items)."""
    return pa.array(item_ends.astype(np.int32))


def offsets(counts: pa.Array) -> pa.Array:
    """[0, c0, c0+c1, ...] as list offsets."""
    return list_offsets(ends(counts.to_numpy(zero_copy_only=False)))


def leveled(columns: Mapping[str, ColumnKind], levels: Mapping[L, tuple[str, ...]],
            default: L) -> dict[str, tuple[L, pa.DataType]]:
    """Field name -> (level, Arrow type) for every column of the contract: the
    names and types come from the proto; `levels` names the fields not of
    `default`'s level (a name the proto lacks is a ContractError at import)."""
    level_of = {name: level for level, names in levels.items() for name in names}
    unknown = sorted(set(level_of) - set(columns))
    if unknown:
        raise ContractError(f"not columns of the wire contract: {', '.join(unknown)}")
    return {name: (level_of.get(name, default), ARROW_TYPES[kind])
            for name, kind in columns.items()}


# Field name (as in the proto's MeasurementColumns) -> (level, Arrow type).
FIELDS: dict[str, tuple[Level, pa.DataType]] = leveled(MEASUREMENT_COLUMNS, {
    Level.RESPONSE: ("arrival_us", "rcode", "flags", "answer_count", "cname_count",
                     "authority_count", "additional_count", "edns", "extended_error_count",
                     "nsid", "wire", "size", "parse_error", "wire_truncated"),
    Level.ANSWER: ("answer_name", "answer_rtype", "answer_ttl", "answer_data"),
    Level.CNAME: ("cname_chain",),
    Level.EXTENDED_ERROR: ("extended_error_code", "extended_error_text"),
    Level.STRAY: ("stray_arrival_us", "stray_size", "stray_reason"),
}, Level.MEASUREMENT)

# Fields a sender that predates them leaves empty: read as this value for
# every item of their level (no strays at all then, so the stray level stays empty).
NEUTRAL_WHEN_ABSENT: dict[str, object] = {
    "reply_count": 0, "answer_set_count": 0, "reply_bytes": 0, "stray_count": 0,
    "stray_kept_count": 0, "truncated": False, "wire_truncated": False,
}

# Which count field splits a level among the items of its parent level.
COUNTS: dict[Level, tuple[str, Level]] = {
    Level.RESPONSE: ("response_count", Level.MEASUREMENT),
    Level.ANSWER: ("answer_count", Level.RESPONSE),
    Level.CNAME: ("cname_count", Level.RESPONSE),
    Level.EXTENDED_ERROR: ("extended_error_count", Level.RESPONSE),
    Level.STRAY: ("stray_kept_count", Level.MEASUREMENT),
}


@dataclass(frozen=True, slots=True)
class Columns:
    """One Arrow array per column of a columnar form of the contract (`fields`:
    every column with its level and type); `root` is a column of the first
    level, as long as the batch has records."""

    arrays: Mapping[str, pa.Array]
    fields: ClassVar[Mapping[str, tuple[Enum, pa.DataType]]]
    root: ClassVar[str]
    # count column -> its `ends`, computed once: validation and storage_table
    # walk the same levels.
    _ends: dict[str, Ints] = field(default_factory=dict, repr=False, compare=False)
    _lengths: dict[str, npt.NDArray[np.int32]] = field(
        default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.arrays[self.root])

    def __getitem__(self, name: str) -> pa.Array:
        return self.arrays[name]

    @classmethod
    def from_sequences(cls, values: Mapping[str, Sequence[Any]]) -> Self:
        """Arrays from per-field sequences (protobuf repeated fields, lists): one
        C-level conversion per field (`column`)."""
        return cls({name: column(values[name], kind)
                    for name, (_, kind) in cls.fields.items()})

    def numbers(self, name: str) -> npt.NDArray[Any]:
        """A numeric or boolean column as numpy (numbers without a copy)."""
        return np.asarray(self.arrays[name].to_numpy(zero_copy_only=False))

    def ends(self, count: str) -> Ints:
        """`ends` of the count column `count`."""
        found = self._ends.get(count)
        if found is None:
            found = self._ends[count] = ends(self.numbers(count))
        return found

    def lengths(self, name: str) -> npt.NDArray[np.int32]:
        """Each item's length in bytes of the string or bytes column `name`,
        computed once (length checks and content sizes both read them)."""
        found = self._lengths.get(name)
        if found is None:
            found = self._lengths[name] = np.asarray(pc.binary_length(self.arrays[name])
                                                     .to_numpy())
        return found


@dataclass(frozen=True, slots=True)
class MeasurementColumns(Columns):
    """A batch's measurements: one Arrow array per name in FIELDS."""

    fields: ClassVar[Mapping[str, tuple[Enum, pa.DataType]]] = FIELDS
    root: ClassVar[str] = "measurement_id"


def fill_absent(c: MeasurementColumns) -> MeasurementColumns:
    """`c` with the NEUTRAL_WHEN_ABSENT fields an older sender left empty
    filled in for every item of their level."""
    sizes = {Level.MEASUREMENT: len(c), Level.RESPONSE: len(c["arrival_us"])}
    missing = {name: neutral for name, neutral in NEUTRAL_WHEN_ABSENT.items()
               if sizes[FIELDS[name][0]] and not len(c[name])}
    if not missing:
        return c
    arrays = dict(c.arrays)
    for name, neutral in missing.items():
        level, kind = FIELDS[name]
        arrays[name] = pa.repeat(pa.scalar(neutral, kind), sizes[level])
    return MeasurementColumns(arrays)


def spans(item_ends: Ints, parents: Ints) -> tuple[Ints, Ints]:
    """The items of these parents, end to end: (list offsets, one per parent
    plus one, and the items' indices), where parent p owns items
    item_ends[p]:item_ends[p+1]. A parent index of -1 owns no items."""
    some = parents >= 0
    picked = parents[some]
    starts = np.zeros(len(parents), np.int64)
    sizes = np.zeros(len(parents), np.int64)
    starts[some] = item_ends[picked]
    sizes[some] = item_ends[picked + 1] - starts[some]
    list_ends = ends(sizes)
    items = np.arange(list_ends[-1], dtype=np.int64) - np.repeat(list_ends[:-1] - starts, sizes)
    return list_ends, items


_TS = pa.timestamp("us", tz="UTC")
_U16 = pa.uint16()
_U32 = pa.uint32()


def take(values: pa.Array, items: Ints) -> pa.Array:
    """values[items] for increasing, distinct `items` (so as many as there are
    values means all of them: the common batch, one response a measurement,
    costs no copy)."""
    if len(items) == len(values):
        return values
    if not len(items):
        return values.slice(0, 0)
    return values.take(pa.array(items))


class _Shaper:
    """What storage_table needs of one batch: which response is each
    measurement's first (or none), which are later, and the items (answers,
    names, errors) of each, as numpy indices; each column then costs one
    numpy gather or one Arrow `take` (none when it keeps every item)."""

    def __init__(self, c: MeasurementColumns) -> None:
        self.c = c
        resp_ends = c.ends("response_count")
        self.has = c.numbers("response_count") > 0
        # the first response's index, -1 for a measurement without one
        self.first = np.where(self.has, resp_ends[:-1], -1)
        later = np.ones(int(resp_ends[-1]), np.bool_)
        later[self.first[self.has]] = False
        self.later = np.flatnonzero(later)
        self.later_offsets = list_offsets(
            ends(c.numbers("response_count") - self.has))
        self.all_present = bool(self.has.all())
        self._spans: dict[tuple[str, str], tuple[pa.Array, Ints]] = {}

    def _items(self, count: str, which: str) -> tuple[pa.Array, Ints]:
        """(int32 list offsets, item indices) of the `first` or `later` responses' items."""
        key = (count, which)
        if key not in self._spans:
            parents = self.first if which == "first" else self.later
            list_ends, items = spans(self.c.ends(count), parents)
            self._spans[key] = (list_offsets(list_ends), items)
        return self._spans[key]

    def first_number(self, name: str, kind: pa.DataType, neutral: int | None) -> pa.Array:
        """The first response's value, `neutral` where there is none (NULL if None)."""
        values = self.c.numbers(name)
        if self.all_present:
            return pa.array(values[self.first].astype(_NUMPY_OF[kind]), type=kind)
        out = np.zeros(len(self.has), _NUMPY_OF[kind])
        if neutral:
            out[:] = neutral
        out[self.has] = values[self.first[self.has]]
        return pa.array(out, type=kind, mask=None if neutral is not None else ~self.has)

    def first_value(self, name: str, neutral: object) -> pa.Array:
        """The first response's string or bytes, `neutral` where there is none."""
        if self.all_present:
            return take(self.c[name], self.first)
        taken = self.c[name].take(pa.array(self.first, mask=~self.has))
        return taken.fill_null(neutral)

    def _gather(self, name: str, items: Ints, kind: pa.DataType) -> pa.Array:
        """Items `items` of the column `name`, as `kind` (values validated to fit)."""
        dtype = _NUMPY_OF.get(kind)
        if dtype is None:   # strings and bytes
            return take(self.c[name], items)
        return pa.array(self.c.numbers(name)[items].astype(dtype), type=kind)

    def first_list(self, name: str, count: str, kind: pa.DataType) -> pa.ListArray:
        """The first response's items ([] where there is none)."""
        item_offsets, items = self._items(count, "first")
        return pa.ListArray.from_arrays(item_offsets, self._gather(name, items, kind))

    def later_value(self, name: str, kind: pa.DataType) -> pa.ListArray:
        """Per measurement, the value of each response after the first."""
        return pa.ListArray.from_arrays(self.later_offsets, self._gather(name, self.later, kind))

    def later_list(self, name: str, count: str, kind: pa.DataType) -> pa.ListArray:
        """Per measurement, the items of each response after the first."""
        item_offsets, items = self._items(count, "later")
        inner = pa.ListArray.from_arrays(item_offsets, self._gather(name, items, kind))
        return pa.ListArray.from_arrays(self.later_offsets, inner)

    def narrow(self, name: str, kind: pa.DataType) -> pa.Array:
        """A measurement-level number in its stored (narrower) type."""
        return pa.array(self.c.numbers(name).astype(_NARROW[kind]), type=kind)

    def per_stray(self, name: str) -> pa.ListArray:
        return pa.ListArray.from_arrays(
            list_offsets(self.c.ends("stray_kept_count")), self.c[name])


# The narrow stored types' numpy types (validation bounds every value to fit).
_NARROW: dict[pa.DataType, type[np.generic]] = {
    pa.uint8(): np.uint8, _U16: np.uint16, _U32: np.uint32, pa.int8(): np.int8,
}
_NUMPY_OF = {**NUMPY_TYPES, **_NARROW}


def storage_table(c: MeasurementColumns) -> pa.Table:
    """The columns of `measurements` that come from the batch itself, in the
    stored layout. Numpy and Arrow kernels: no per-row Python. The batch must
    be valid (`validate_batch` bounds every number to its stored type).

    A measurement's responses are the next response_count of the response
    level; the first one's fields become the measurement's own (rcode NULL and
    the other columns their neutral value when there is none), the others are
    kept as lists in the `later_*` columns.
    """
    x = _Shaper(c)
    s = pa.string()
    columns: dict[str, pa.Array] = {
        "measurement_id": c["measurement_id"].cast(pa.binary(16)),
        "round_id": c["round_id"],
        "started_at": c["started_at_us"].view(_TS),
        "duration_us": c["duration_us"],
        "domain": c["domain"],
        "qtype": x.narrow("qtype", _U16),
        "qclass": x.narrow("qclass", _U16),
        "purpose": x.narrow("purpose", pa.int8()),
        "resolver_name": c["resolver_name"],
        "resolver_address": c["resolver_address"],
        "resolver_port": x.narrow("resolver_port", _U16),
        "transport": x.narrow("resolver_transport", pa.int8()),
        "resolver_tls_name": c["resolver_tls_name"],
        "resolver_url": c["resolver_url"],
        "failure": x.narrow("failure", pa.int8()),
        "failure_text": c["failure_text"],
        "response_count": x.narrow("response_count", pa.uint8()),
        "arrival_us": x.first_number("arrival_us", _U32, 0),
        "rcode": x.first_number("rcode", _U16, None),
        "flags": x.first_number("flags", _U16, 0),
        "answers.name": x.first_list("answer_name", "answer_count", s),
        "answers.type": x.first_list("answer_rtype", "answer_count", _U16),
        "answers.ttl": x.first_list("answer_ttl", "answer_count", _U32),
        "answers.data": x.first_list("answer_data", "answer_count", s),
        "cname_chain": x.first_list("cname_chain", "cname_count", s),
        "authority_count": x.first_number("authority_count", _U16, 0),
        "additional_count": x.first_number("additional_count", _U16, 0),
        "edns": x.first_number("edns", pa.bool_(), False),
        "ede_codes": x.first_list("extended_error_code", "extended_error_count", _U16),
        "ede_texts": x.first_list("extended_error_text", "extended_error_count", s),
        "nsid": x.first_value("nsid", b""),
        "response_size": x.first_number("size", _U32, 0),
        "parse_error": x.first_value("parse_error", ""),
        "wire": x.first_value("wire", b""),
        "later_arrival_us": x.later_value("arrival_us", _U32),
        "later_rcode": x.later_value("rcode", _U16),
        "later_flags": x.later_value("flags", _U16),
        "later_size": x.later_value("size", _U32),
        "later_answer_types": x.later_list("answer_rtype", "answer_count", _U16),
        "later_answer_data": x.later_list("answer_data", "answer_count", s),
        "later_ede_codes": x.later_list("extended_error_code", "extended_error_count", _U16),
        "later_ede_texts": x.later_list("extended_error_text", "extended_error_count", s),
        "later_wire": x.later_value("wire", pa.binary()),
        "reply_count": c["reply_count"],
        "answer_set_count": c["answer_set_count"],
        "reply_bytes": c["reply_bytes"],
        "stray_count": c["stray_count"],
        "stray_arrival_us": x.per_stray("stray_arrival_us"),
        "stray_size": x.per_stray("stray_size"),
        "stray_reason": x.per_stray("stray_reason"),
        "truncated": c["truncated"],
        "wire_truncated": x.first_number("wire_truncated", pa.bool_(), False),
        "later_wire_truncated": x.later_value("wire_truncated", pa.bool_()),
    }
    return pa.Table.from_pydict(columns)


@dataclass(frozen=True, slots=True)
class Batch:
    """A validated batch as it arrived: the probe's id and its rows in the
    stored layout (`storage_table`), without the per-batch constant columns."""

    batch_id: str
    table: pa.Table
    web: pa.Table | None = None      # its web observations (webcolumns.web_storage_table)

    def __len__(self) -> int:
        return int(self.table.num_rows)

    @property
    def web_rows(self) -> int:
        return 0 if self.web is None else int(self.web.num_rows)


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent a batch, from the registry (never from the batch)."""

    probe_name: str
    country: str
    asn: int
    control: bool
