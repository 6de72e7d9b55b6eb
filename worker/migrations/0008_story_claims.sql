-- 0008: story_claims replaces the advisory locks of story assignment (worker.stories.claim_keys).
--
-- A batch inserts one row per candidate key of its articles (sorted, ON CONFLICT DO NOTHING) before it
-- looks any key up, and deletes them again before it commits. A second batch that shares a key waits on the
-- unique index until the first one has committed, then looks up and sees its rows: copies of one story that
-- reach two workers at once still become one story. Unlike advisory locks, these waits need no entry in
-- PostgreSQL's shared lock table (max_locks_per_transaction × max_connections entries for every backend
-- together), so a 50-article batch (about 1,750 keys) no longer falls back to one exclusive batch-wide lock
-- that made workers assign stories one at a time.
-- UNLOGGED: a claim lives only as long as its transaction; nothing in it has to survive a crash (an unlogged
-- table is emptied on crash recovery) and it writes no WAL.
CREATE UNLOGGED TABLE story_claims (
    band_key        bigint PRIMARY KEY
);
