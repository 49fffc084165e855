"""Column checks shared by measurement and web validation.

A good batch costs one pass per check (a min/max, the lengths), whatever its
size, in numpy where the values are numbers (a call costs a few µs there,
against 5-15 µs for an Arrow compute call with scalar arguments: a batch runs
some fifty checks); only when a check fails is the first offending item located, by the
subclass that knows its levels and paths, so the rejection can name its
record and field. Content sizes are summed per record the same way: each
level's strings and bytes, rolled up into their parents through the counts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from blockwatch.collector.columns import Columns, Ints
from blockwatch.collector.errors import ValidationError

# Labels of [a-z0-9_-], 1-63 long, not starting or ending with '-'. RE2 (Arrow)
# has no look-around, so the ends are spelled out; Python's re reads it alike.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
DOMAIN_PATTERN = rf"^{_LABEL}(?:\.{_LABEL})*$"
# 253 presentation characters without the trailing dot are 255 octets on the
# wire (a length octet per label plus the root), the DNS limit.
MAX_DOMAIN = 253
EARLIEST_US = 1_577_836_800_000_000  # 2020-01-01T00:00:00Z: before blockwatch existed
DAY_US = 86_400_000_000


class ColumnChecker(ABC):
    """Checks over one batch's columns."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self.arrays = columns.arrays

    @abstractmethod
    def locate(self, name: str, index: int) -> tuple[int, str]:
        """(record index, field path) of item `index` of column `name`."""

    def fail(self, name: str, bad: pa.Array | npt.NDArray[np.bool_], message: str) -> NoReturn:
        """Raise for the first True of `bad` (a boolean array as long as `name`)."""
        index = pc.index(pa.array(bad), True).as_py()
        if index < 0:  # pragma: no cover - callers only call this when something failed
            raise AssertionError(f"{name}: a column check failed but no item did")
        record, field = self.locate(name, index)
        raise ValidationError(message, record_index=record, field=field)

    def range(self, name: str, low: int, high: int, message: str = "") -> None:
        values = self.arrays[name]
        if not len(values):
            return
        numbers = values.to_numpy(zero_copy_only=False)
        if int(numbers.min()) < low or int(numbers.max()) > high:
            bad = pc.or_(pc.less(values, low), pc.greater(values, high))
            self.fail(name, bad, message or f"must be in {low}..{high}")

    def length(self, name: str, limit: int, minimum: int = 0) -> None:
        values = self.arrays[name]
        if not len(values):
            return
        lengths = self.columns.lengths(name)
        if int(lengths.min()) < minimum or int(lengths.max()) > limit:
            self.fail(name, (lengths < minimum) | (lengths > limit),
                      f"length must be in {minimum}..{limit}")

    def unique(self, name: str, message: str) -> None:
        """Every value of `name` distinct; else the first repeat is named."""
        values = self.arrays[name]
        if pc.count_distinct(values).as_py() == len(values):
            return
        seen: set[object] = set()
        for i, value in enumerate(values.to_pylist()):
            if value in seen:
                record, field = self.locate(name, i)
                raise ValidationError(message, record_index=record, field=field)
            seen.add(value)

    def ids(self, name: str, what: str) -> None:
        """16-byte ids (UUIDs), each once in the batch."""
        self.length(name, 16, minimum=16)
        self.unique(name, f"repeats an earlier {what} of this batch")

    def started(self, name: str, latest_us: int) -> None:
        self.range(name, EARLIEST_US, latest_us,
                   "must be after 2020-01-01 and at most a day ahead of the collector's clock")

    def domains(self, name: str, *, root: bool) -> None:
        """Lower-case domain names without the trailing dot; "." too if `root`."""
        # Probes use the same few hundred names over and over: each distinct
        # name is checked once per batch, and one that passed before not at
        # all (a regular expression costs ~0.5 µs a name plus its compilation).
        values = self.arrays[name]
        fresh = [d for d in pc.unique(values).to_pylist() if d not in _GOOD_NAMES]
        if not fresh:
            return
        distinct = pa.array(fresh, pa.string())
        good = pc.and_(pc.less_equal(pc.utf8_length(distinct), MAX_DOMAIN),
                       pc.match_substring_regex(distinct, DOMAIN_PATTERN))
        if len(_GOOD_NAMES) > _GOOD_NAMES_MAX:
            _GOOD_NAMES.clear()
        _GOOD_NAMES.update(pc.filter(distinct, good).to_pylist())
        if root:
            good = pc.or_(pc.equal(distinct, "."), good)
        if not pc.all(good).as_py():
            bad = pc.is_in(values, value_set=pc.filter(distinct, pc.invert(good)))
            self.fail(name, bad, "is not a lower-case domain name without the trailing dot")


# Names that passed `domains` (whatever the batch: the test is of the name
# alone), bounded: a flood of distinct names starts it again.
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_MAX = 100_000


def binary_lengths(columns: Columns, names: list[str]) -> Ints:
    """Item by item, the summed lengths of these string/bytes columns of one level."""
    total: Ints = columns.lengths(names[0]).astype(np.int64)
    for name in names[1:]:
        total += columns.lengths(name)
    return total


def rollup(child: npt.NDArray[Any], item_ends: Ints) -> Ints:
    """Per parent, the sum of its items' `child` values (parent i owns items
    item_ends[i]:item_ends[i+1], `Columns.ends`)."""
    summed = np.zeros(len(child) + 1, np.int64)
    np.cumsum(child, out=summed[1:])
    return summed[item_ends[1:]] - summed[item_ends[:-1]]
