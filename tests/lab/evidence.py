"""Run the probe's round runner in-process against real servers, and judge what it
recorded the way the collector would: encoded for the wire (columnar form),
converted and validated by the collector, reshaped into the stored row, read
back as the classifier's Observation and classified."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from blockwatch.analysis.dnsverdicts import classify
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.observation import ControlContext
from blockwatch.analysis.storage import observation
from blockwatch.analysis.verdict import Verdict
from blockwatch.collector.columns import storage_table
from blockwatch.collector.servicer import batch_columns
from blockwatch.collector.validation import Limits as CollectorLimits
from blockwatch.collector.validation import validate_batch
from blockwatch.probe.observation import Failure, Measurement, Purpose, Transport
from blockwatch.probe.resolvers import ResolverSpec
from blockwatch.probe.runner import Limits, RoundRunner
from blockwatch.probe.targets import Query
from blockwatch.probe.wire import encode_columnar_submit_request, encode_measurement
from blockwatch.v1 import probe_pb2 as pb


async def measure(specs: list[ResolverSpec], names: list[str], *, qtype: int = 1,
                  limits: Limits | None = None, keep_wire: bool = False) -> list[Measurement]:
    """One round of `names` through `specs`, as the probe records it."""
    endpoints = [(ref, spec) for spec in specs for ref in spec.refs()]
    runner = RoundRunner(endpoints, limits or Limits(timeout_s=2.0, listen_window_s=0.3),
                         keep_wire=keep_wire)
    found: list[Measurement] = []

    def plan() -> Iterator[Query]:
        return iter([Query(n, qtype, 1, Purpose.TARGET) for n in names])

    await runner.run(plan, found.append)
    return found


def stored_row(m: Measurement) -> dict[str, Any]:
    """`m` as the collector stores it (validated first: a rejection raises)."""
    request = pb.SubmitRequest.FromString(
        encode_columnar_submit_request("evidence-1", [encode_measurement(m)]))
    columns = batch_columns(request.batch, CollectorLimits())
    validate_batch("evidence-1", columns, CollectorLimits(), time.time_ns() // 1000)
    return {k: v[0] for k, v in storage_table(columns).to_pydict().items()}


def judge(m: Measurement, ctx: ControlContext | None = None) -> Verdict:
    """The classifier's verdict on `m` after the trip through the collector."""
    r = stored_row(m)
    row = (str(uuid.UUID(bytes=m.measurement_id)), "lab-probe", "IT", 3269, False,
           m.started_at_us, m.started_at_us, r["domain"], r["qtype"],
           Purpose(r["purpose"]).label, r["resolver_name"], Transport(r["transport"]).label,
           Failure(r["failure"]).label, r["rcode"], r["flags"], r["answers.type"],
           r["answers.data"], r["cname_chain"], r["authority_count"], r["ede_codes"],
           r["ede_texts"], r["response_count"], r["later_rcode"], r["later_answer_data"],
           r["parse_error"], r["reply_count"], r["answer_set_count"], r["stray_count"],
           r["stray_reason"])
    return classify(observation(row), ctx or ControlContext(), load_fingerprints())
