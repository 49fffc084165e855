"""The wire contract's vocabulary in plain Python, for every component.

proto/blockwatch/v1/probe.proto is the contract. This package turns its words
(transports, purposes, failures, schemes, TLS versions, rejection codes,
column names) into enums and tuples once, checked against the generated
descriptor when imported, and holds the exception bases the components
share. It imports nothing heavier than protobuf (the probe's base install
has it), and no module here hands protobuf types on.
"""
