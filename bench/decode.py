"""The collector's CPU per measurement on the decode path alone, in one
thread: SubmitRequest bytes -> the Arrow table `Store.insert` receives, the
work the grpc.aio event loop does for every batch before it can queue it.
Prints name=value lines.

    python bench/decode.py [--batches 40] [--batch-size 5000] [--repeat 5]

Steps, each timed over all batches with time.process_time (CPU, not wall:
the machine is shared), the best of `--repeat` rounds, in µs per measurement:
  decode_parse_us      pb.SubmitRequest.FromString (grpc's deserializer)
  decode_arrow_us      the repeated fields into Arrow (columnar_to_columns)
    decode_numbers_us    ... of which the numeric and boolean fields
    decode_texts_us      ... of which the string and bytes fields
  validate_us          check_structure + validate_batch
  storage_table_us     storage_table (the stored layout)
  decode_us_per_measurement   the whole path as the servicer runs it
                              (parse, batch_columns, validate_batch,
                              storage_table)

Batches are bench/ingest.py's: built by the probe's adapter, one response
with two A records per measurement.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.ingest import prepare
from blockwatch.collector import servicer
from blockwatch.collector.columns import (
    FIELDS,
    NUMPY_TYPES,
    MeasurementColumns,
    column,
    storage_table,
)
from blockwatch.collector.validation import Limits, check_structure, validate_batch
from blockwatch.v1 import probe_pb2 as pb

T = TypeVar("T")
R = TypeVar("R")


def best(repeat: int, items: list[T], step: Callable[[T], R]) -> tuple[float, list[R]]:
    """The least CPU seconds of `repeat` rounds of `step` over every item, and
    the last round's results."""
    least = float("inf")
    results: list[R] = []
    for _ in range(repeat):
        results = []
        gc.collect()
        t0 = time.process_time()
        for item in items:
            results.append(step(item))
        least = min(least, time.process_time() - t0)
    return least, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    requests = [data for stream in prepare(args.batches * args.batch_size, args.batch_size, 1)
                for _, data in stream]
    measurements = int(args.batches * args.batch_size)
    limits = Limits()
    now_us = time.time_ns() // 1000
    servicer.warm_up(limits)

    def per_measurement(seconds: float) -> float:
        return seconds * 1e6 / measurements

    parse_s, parsed = best(args.repeat, requests, pb.SubmitRequest.FromString)
    wire = [p.batch.columns for p in parsed]
    arrow_s, columns = best(args.repeat, wire, servicer.columnar_to_columns)

    def fields(numeric: bool) -> Callable[[pb.MeasurementColumns], object]:
        names = [(n, kind) for n, (_, kind) in FIELDS.items() if (kind in NUMPY_TYPES) == numeric]
        return lambda m: [column(getattr(m, n), kind) for n, kind in names]

    numbers_s, _ = best(args.repeat, wire, fields(numeric=True))
    texts_s, _ = best(args.repeat, wire, fields(numeric=False))

    def validate(c: MeasurementColumns) -> None:
        check_structure(c)
        validate_batch("bench", c, limits, now_us)

    validate_s, _ = best(args.repeat, columns, validate)
    table_s, _ = best(args.repeat, columns, storage_table)

    def whole(data: bytes) -> object:
        batch = pb.SubmitRequest.FromString(data).batch
        c = servicer.batch_columns(batch, limits)
        validate_batch(batch.batch_id, c, limits, now_us)
        return storage_table(c)

    whole_s, _ = best(args.repeat, requests, whole)
    print(f"measurements={measurements}")
    print(f"batch_size={args.batch_size}")
    print(f"decode_parse_us={per_measurement(parse_s):.3f}")
    print(f"decode_arrow_us={per_measurement(arrow_s):.3f}")
    print(f"decode_numbers_us={per_measurement(numbers_s):.3f}")
    print(f"decode_texts_us={per_measurement(texts_s):.3f}")
    print(f"validate_us={per_measurement(validate_s):.3f}")
    print(f"storage_table_us={per_measurement(table_s):.3f}")
    print(f"decode_us_per_measurement={per_measurement(whole_s):.3f}")


if __name__ == "__main__":
    main()
