-- Wider merges for the tables ingest writes to (issue 15). The group commit
-- writes a part every ~125 ms under load (8 a second of ~6.6k rows at 50k/s);
-- with the default merge_selector_base (5) each row of `measurements` was
-- merged again about six times (parts up to level 8 after 2 minutes), a
-- quarter of a 2-core collector. At 20 a merge waits for about 20 parts of a
-- size and a row is rewritten 2-3 times: 52.8k rows/s of `measurements` cost
-- 0.64 cores with the default, 0.39 at 20 (inserts and merges, measured with
-- the run's own rows). The price is more parts alive at once (tens, not
-- thousands), which the pass's queries skip by their received_at index.
ALTER TABLE measurements MODIFY SETTING merge_selector_base = 20;
ALTER TABLE web_observations MODIFY SETTING merge_selector_base = 20
