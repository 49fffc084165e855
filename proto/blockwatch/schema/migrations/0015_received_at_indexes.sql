-- Minmax skip indexes on received_at (issue 15). The background pass selects
-- what arrived since its watermark by received_at, which neither the ordering
-- key nor the partition key holds, so each chunk read that column of every
-- part, and a chunk's cost grew with the table. Parts are written in arrival
-- order and merged with parts of similar age, so an index per granule skips
-- every part older than the watermark. (started_at, the other filter of a
-- chunk, needs none: the partition key's per-part min-max already prunes it.)
-- MATERIALIZE builds the index for parts already stored (a background
-- mutation; until it is done those parts are read as before). Additive.
ALTER TABLE measurements ADD INDEX IF NOT EXISTS received_at_minmax received_at TYPE minmax GRANULARITY 1;
ALTER TABLE verdicts ADD INDEX IF NOT EXISTS received_at_minmax received_at TYPE minmax GRANULARITY 1;
ALTER TABLE web_observations ADD INDEX IF NOT EXISTS received_at_minmax received_at TYPE minmax GRANULARITY 1;
ALTER TABLE web_verdicts ADD INDEX IF NOT EXISTS received_at_minmax received_at TYPE minmax GRANULARITY 1;
ALTER TABLE site_verdicts ADD INDEX IF NOT EXISTS received_at_minmax received_at TYPE minmax GRANULARITY 1;
ALTER TABLE measurements MATERIALIZE INDEX received_at_minmax;
ALTER TABLE verdicts MATERIALIZE INDEX received_at_minmax;
ALTER TABLE web_observations MATERIALIZE INDEX received_at_minmax;
ALTER TABLE web_verdicts MATERIALIZE INDEX received_at_minmax;
ALTER TABLE site_verdicts MATERIALIZE INDEX received_at_minmax;
