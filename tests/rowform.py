"""What a 0.1 probe sent: a Batch in the row form (`repeated Measurement
measurements = 2`), which the contract has since reserved. Built from that old
schema with protobuf itself, so the bytes are exactly an old probe's."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from blockwatch.v1 import probe_pb2 as pb


def _old_batch_class() -> Any:
    f = descriptor_pb2.FileDescriptorProto(
        name="blockwatch/v0_1/batch.proto", package="blockwatch.v0_1", syntax="proto3",
        dependency=[pb.DESCRIPTOR.name])
    m = f.message_type.add(name="Batch")
    m.field.add(name="batch_id", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    m.field.add(name="measurements", number=2,
                type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
                type_name=".blockwatch.v1.Measurement")
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(f.name)
    except KeyError:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("blockwatch.v0_1.Batch"))


OLD_BATCH = _old_batch_class()


def row_form_batch(batch_id: str, payloads: list[bytes]) -> pb.Batch:
    """A 0.1 probe's batch of these serialized measurements, as today's
    collector parses it (the measurements are unknown fields to it)."""
    old = OLD_BATCH(batch_id=batch_id,
                    measurements=[pb.Measurement.FromString(p) for p in payloads])
    return pb.Batch.FromString(old.SerializeToString())


def row_form_request(batch_id: str, payloads: list[bytes]) -> pb.SubmitRequest:
    request = pb.SubmitRequest()
    request.batch.CopyFrom(row_form_batch(batch_id, payloads))
    return request
