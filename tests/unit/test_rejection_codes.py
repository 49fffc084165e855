"""Why a batch was refused is one contract word, `RejectionCode` in
blockwatch.contract (probe.proto's Rejection.Code): the probe decides what to
do with a batch by it, and the collector answers with it and names it in its
metrics (`blockwatch_rejections_total{reason}`) and logs (`code=`) by its
label, never by a copy of its own."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from blockwatch.v1 import probe_pb2 as pb
from tests.unit.test_contract_vocabulary import _string_texts


def _descriptor_codes() -> dict[str, int]:
    values = pb.Rejection.DESCRIPTOR.enum_types_by_name["Code"].values
    return {v.name.removeprefix("CODE_"): v.number for v in values}


def test_the_contract_holds_the_rejection_codes() -> None:
    from blockwatch.contract.vocabulary import RejectionCode

    assert {c.name: int(c) for c in RejectionCode} == _descriptor_codes()
    assert RejectionCode.TOO_LARGE.label == "too_large"   # what the metrics say
    assert RejectionCode.from_label("invalid") is RejectionCode.INVALID


def test_the_probe_decides_by_the_contracts_codes() -> None:
    from blockwatch.contract.vocabulary import RejectionCode
    from blockwatch.probe import wire

    assert wire.RejectionCode is RejectionCode
    answer = wire.decode_submit_response(pb.SubmitResponse(batch_id="b", rejection=pb.Rejection(
        code=pb.Rejection.CODE_TOO_LARGE, reason="over", record_index=-1)).SerializeToString())
    assert isinstance(answer, wire.BatchRejection) and answer.code is RejectionCode.TOO_LARGE


@pytest.mark.parametrize("module", ["blockwatch.collector.servicer", "blockwatch.probe.wire",
                                    "blockwatch.probe.upload"])
def test_no_side_spells_a_rejection_code_itself(module: str) -> None:
    """Neither a code's name as a label ("too_large") nor its generated constant
    (pb.Rejection.CODE_INVALID) outside the contract."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text()
    labels = {name.lower() for name in _descriptor_codes()}
    assert set(_string_texts(source)) & labels == set()
    assert [name for name in _descriptor_codes() if f"CODE_{name}" in source] == []
