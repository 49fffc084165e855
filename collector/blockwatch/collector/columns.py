"""The collector's own, column-oriented forms of a batch.

`MeasurementColumns` is a batch as the wire's columnar form lays it out: one
Arrow array per field of Measurement/Resolver/Response/ResourceRecord/
ExtendedError, each level flattened, with count arrays linking a level to the
next (see `MeasurementColumns` in proto/blockwatch/v1/probe.proto). The
servicer fills it from either wire form; validation checks it with one Arrow
compute call per column; `storage_table` reshapes it into the stored layout.
Per-row Python work is what limits ingest speed, so nothing here loops over
measurements.

The stored layout flattens the first response of a measurement into
scalar/array columns (what a stub resolver would have used); responses after
it keep a compact form in `later_*` columns, enough to analyse on-path
injection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, Self, TypeVar

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

L = TypeVar("L", bound=Enum)


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

    def __len__(self) -> int:
        return len(self.arrays[self.root])

    def __getitem__(self, name: str) -> pa.Array:
        return self.arrays[name]

    @classmethod
    def from_lists(cls, values: Mapping[str, list[object]]) -> Self:
        """Arrays from per-field lists: one C-level conversion per field. (Lists,
        not protobuf repeated fields: pyarrow reads a repeated bytes field
        through a slow generic path, ~60x slower than `list()` then convert.)"""
        return cls({name: pa.array(values[name], type=kind)
                    for name, (_, kind) in cls.fields.items()})


@dataclass(frozen=True, slots=True)
class MeasurementColumns(Columns):
    """A batch's measurements: one Arrow array per name in FIELDS."""

    fields: ClassVar[Mapping[str, tuple[Enum, pa.DataType]]] = FIELDS
    root: ClassVar[str] = "measurement_id"


def fill_absent(values: dict[str, list[object]]) -> dict[str, list[object]]:
    """`values` with the NEUTRAL_WHEN_ABSENT fields an older sender left empty
    filled in for every item of their level."""
    sizes = {Level.MEASUREMENT: len(values["measurement_id"]),
             Level.RESPONSE: len(values["arrival_us"])}
    for name, neutral in NEUTRAL_WHEN_ABSENT.items():
        size = sizes[FIELDS[name][0]]
        if size and not values[name]:
            values[name] = [neutral] * size
    return values


def offsets(counts: pa.Array) -> pa.Array:
    """[0, c0, c0+c1, ...] as int32 list offsets (a batch is far below 2**31 items)."""
    summed = pc.cumulative_sum(counts.cast(pa.int64()))
    return pa.concat_arrays([pa.array([0], pa.int32()), summed.cast(pa.int32())])


_TS = pa.timestamp("us", tz="UTC")
_U16 = pa.uint16()
_U32 = pa.uint32()


def storage_table(c: MeasurementColumns) -> pa.Table:
    """The columns of `measurements` that come from the batch itself, in the
    stored layout. Pure Arrow kernels: no per-row Python.

    A measurement's responses are the next response_count of the response
    level; the first one is picked with `take` (null index when there is none,
    so rcode comes out NULL and other columns are filled with their neutral
    value), the others are `list_slice(start=1)` of the per-measurement lists.
    """
    resp_off = offsets(c["response_count"])
    has = pc.greater(c["response_count"], 0)
    first = pc.if_else(has, resp_off[:-1], pa.scalar(None, pa.int32()))

    def per_response(flat: pa.Array, count: str) -> pa.ListArray:
        return pa.ListArray.from_arrays(offsets(c[count]), flat)

    def first_scalar(name: str, kind: pa.DataType, neutral: object) -> pa.Array:
        taken = pc.take(c[name], first)
        return taken.cast(kind) if neutral is None else pc.fill_null(taken, neutral).cast(kind)

    def first_list(lists: pa.ListArray, count: str, kind: pa.DataType) -> pa.ListArray:
        # Offsets from the first responses' counts (0 where there is none) and
        # the taken lists' values, so rows without a response get [] not NULL.
        n = pc.fill_null(pc.take(c[count], first), 0)
        return pa.ListArray.from_arrays(offsets(n), pc.take(lists, first).flatten().cast(kind))

    def later(flat: pa.Array, kind: pa.DataType) -> pa.ListArray:
        lists = pa.ListArray.from_arrays(resp_off, flat)
        return pc.list_slice(lists, 1).cast(pa.list_(kind))

    def per_stray(flat: pa.Array) -> pa.ListArray:
        return pa.ListArray.from_arrays(offsets(c["stray_kept_count"]), flat)

    answer_type = per_response(c["answer_rtype"], "answer_count")
    answer_data = per_response(c["answer_data"], "answer_count")
    ede_code = per_response(c["extended_error_code"], "extended_error_count")
    ede_text = per_response(c["extended_error_text"], "extended_error_count")
    s = pa.string()
    columns: dict[str, pa.Array] = {
        "measurement_id": c["measurement_id"].cast(pa.binary(16)),
        "round_id": c["round_id"],
        "started_at": c["started_at_us"].cast(_TS),
        "duration_us": c["duration_us"],
        "domain": c["domain"],
        "qtype": c["qtype"].cast(_U16),
        "qclass": c["qclass"].cast(_U16),
        "purpose": c["purpose"].cast(pa.int8()),
        "resolver_name": c["resolver_name"],
        "resolver_address": c["resolver_address"],
        "resolver_port": c["resolver_port"].cast(_U16),
        "transport": c["resolver_transport"].cast(pa.int8()),
        "resolver_tls_name": c["resolver_tls_name"],
        "resolver_url": c["resolver_url"],
        "failure": c["failure"].cast(pa.int8()),
        "failure_text": c["failure_text"],
        "response_count": c["response_count"].cast(pa.uint8()),
        "arrival_us": first_scalar("arrival_us", _U32, 0),
        "rcode": first_scalar("rcode", _U16, None),
        "flags": first_scalar("flags", _U16, 0),
        "answers.name": first_list(per_response(c["answer_name"], "answer_count"),
                                   "answer_count", s),
        "answers.type": first_list(answer_type, "answer_count", _U16),
        "answers.ttl": first_list(per_response(c["answer_ttl"], "answer_count"),
                                  "answer_count", _U32),
        "answers.data": first_list(answer_data, "answer_count", s),
        "cname_chain": first_list(per_response(c["cname_chain"], "cname_count"),
                                  "cname_count", s),
        "authority_count": first_scalar("authority_count", _U16, 0),
        "additional_count": first_scalar("additional_count", _U16, 0),
        "edns": first_scalar("edns", pa.bool_(), False),
        "ede_codes": first_list(ede_code, "extended_error_count", _U16),
        "ede_texts": first_list(ede_text, "extended_error_count", s),
        "nsid": first_scalar("nsid", pa.binary(), b""),
        "response_size": first_scalar("size", _U32, 0),
        "parse_error": first_scalar("parse_error", s, ""),
        "wire": first_scalar("wire", pa.binary(), b""),
        "later_arrival_us": later(c["arrival_us"], _U32),
        "later_rcode": later(c["rcode"], _U16),
        "later_flags": later(c["flags"], _U16),
        "later_size": later(c["size"], _U32),
        "later_answer_types": later(answer_type, pa.list_(_U16)),
        "later_answer_data": later(answer_data, pa.list_(s)),
        "later_ede_codes": later(ede_code, pa.list_(_U16)),
        "later_ede_texts": later(ede_text, pa.list_(s)),
        "later_wire": later(c["wire"], pa.binary()),
        "reply_count": c["reply_count"],
        "answer_set_count": c["answer_set_count"],
        "reply_bytes": c["reply_bytes"],
        "stray_count": c["stray_count"],
        "stray_arrival_us": per_stray(c["stray_arrival_us"]),
        "stray_size": per_stray(c["stray_size"]),
        "stray_reason": per_stray(c["stray_reason"]),
        "truncated": c["truncated"],
        "wire_truncated": first_scalar("wire_truncated", pa.bool_(), False),
        "later_wire_truncated": later(c["wire_truncated"], pa.bool_()),
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
