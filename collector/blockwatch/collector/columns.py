"""The collector's own, column-oriented form of a batch.

The servicer fills one list per stored column straight from the protobuf
message (one pass, no per-row objects); validation checks the lists with
builtins (min/max/len over a whole column) and the store hands them to
ClickHouse as Arrow arrays. Per-row Python work is what limits ingest speed,
so nothing here is a per-measurement object.

The first response of a measurement is flattened into scalar/array columns
(what a stub resolver would have used); responses after it keep a compact
form in `later_*` columns, enough to analyse on-path injection.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(slots=True)
class MeasurementColumns:
    measurement_id: list[bytes] = field(default_factory=list)
    round_id: list[str] = field(default_factory=list)
    started_at_us: list[int] = field(default_factory=list)
    duration_us: list[int] = field(default_factory=list)
    domain: list[str] = field(default_factory=list)
    qtype: list[int] = field(default_factory=list)
    qclass: list[int] = field(default_factory=list)
    purpose: list[int] = field(default_factory=list)
    resolver_name: list[str] = field(default_factory=list)
    resolver_address: list[str] = field(default_factory=list)
    resolver_port: list[int] = field(default_factory=list)
    transport: list[int] = field(default_factory=list)
    resolver_tls_name: list[str] = field(default_factory=list)
    resolver_url: list[str] = field(default_factory=list)
    failure: list[int] = field(default_factory=list)
    failure_text: list[str] = field(default_factory=list)
    response_count: list[int] = field(default_factory=list)
    # First response; neutral values (None rcode, zeros, empty) when there is none.
    arrival_us: list[int] = field(default_factory=list)
    rcode: list[int | None] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    answer_name: list[list[str]] = field(default_factory=list)
    answer_type: list[list[int]] = field(default_factory=list)
    answer_ttl: list[list[int]] = field(default_factory=list)
    answer_data: list[list[str]] = field(default_factory=list)
    cname_chain: list[list[str]] = field(default_factory=list)
    authority_count: list[int] = field(default_factory=list)
    additional_count: list[int] = field(default_factory=list)
    edns: list[bool] = field(default_factory=list)
    ede_code: list[list[int]] = field(default_factory=list)
    ede_text: list[list[str]] = field(default_factory=list)
    nsid: list[bytes] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    parse_error: list[str] = field(default_factory=list)
    wire: list[bytes] = field(default_factory=list)
    # Responses 2..n (index j here is responses[j + 1] on the wire).
    later_arrival_us: list[list[int]] = field(default_factory=list)
    later_rcode: list[list[int]] = field(default_factory=list)
    later_flags: list[list[int]] = field(default_factory=list)
    later_size: list[list[int]] = field(default_factory=list)
    later_answer_type: list[list[list[int]]] = field(default_factory=list)
    later_answer_data: list[list[list[str]]] = field(default_factory=list)
    later_ede_code: list[list[list[int]]] = field(default_factory=list)
    later_ede_text: list[list[list[str]]] = field(default_factory=list)
    later_wire: list[list[bytes]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.measurement_id)

    def extend(self, other: MeasurementColumns) -> None:
        """Append another batch's columns (group commit of several batches)."""
        for f in fields(self):
            getattr(self, f.name).extend(getattr(other, f.name))


@dataclass(frozen=True, slots=True)
class Batch:
    """A validated-to-be batch as it arrived: the probe's id and its columns."""

    batch_id: str
    columns: MeasurementColumns


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent a batch, from the registry (never from the batch)."""

    probe_name: str
    country: str
    asn: int
    control: bool
