-- Injection evidence beyond the kept responses (issue 10, items 1, 6, 7):
-- every reply to a query is counted even when only the first and the last
-- distinct ones are kept; stray replies (wrong id, runt, unmatched) that raced
-- a query are kept with it (the first few; all counted); raw bytes cut to the
-- probe's bound say so, and `size` keeps the whole length.
-- Rows stored before this migration read 0 / false / [] (0 counts: unknown).
ALTER TABLE measurements
    ADD COLUMN IF NOT EXISTS reply_count UInt32 CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS answer_set_count UInt32 CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS reply_bytes UInt64 CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS stray_count UInt32 CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS stray_arrival_us Array(UInt32),
    ADD COLUMN IF NOT EXISTS stray_size Array(UInt32),
    ADD COLUMN IF NOT EXISTS stray_reason Array(LowCardinality(String)),
    ADD COLUMN IF NOT EXISTS truncated Bool,
    ADD COLUMN IF NOT EXISTS wire_truncated Bool,
    ADD COLUMN IF NOT EXISTS later_wire_truncated Array(Bool);
