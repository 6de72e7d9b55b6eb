-- 0011: workers announce that they are alive, and a claim names the worker that holds it, so the scheduler
-- gives back the claims of a worker that died (its heartbeats stopped) within a minute instead of waiting for
-- the claim to expire (WIREFEED_CLAIM_TIMEOUT_SECONDS, still the last resort). worker/ops/heartbeat.py,
-- worker/store/workers.py; docs/reliability.md.

-- One row per running worker process (the Celery worker's main process; its pool shares the row). The id is
-- made by the worker when it starts, so a restarted worker with the same name is a new row.
CREATE TABLE workers (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,              -- the Celery node name (fetch@host)
    hostname        text NOT NULL,
    pid             integer NOT NULL,
    queues          text[] NOT NULL DEFAULT '{}',
    started_at      timestamptz NOT NULL DEFAULT now(),
    last_heartbeat  timestamptz NOT NULL DEFAULT now()  -- PostgreSQL's clock, never the worker's
);
CREATE INDEX workers_last_heartbeat_idx ON workers (last_heartbeat);

-- The worker whose task holds the claim (set when the task starts under it; NULL while the message waits in
-- the queue). No foreign key: a worker's row goes when it stops or is found dead, and a claim naming a worker
-- with no row is given back like a dead one's.
ALTER TABLE feeds ADD COLUMN claimed_by uuid;
-- Bumped by each claim; a message carries its claim number, and one of an older claim (a late redelivery of a
-- dead worker's message) finds the feed moved on and does nothing.
ALTER TABLE feeds ADD COLUMN claim integer NOT NULL DEFAULT 0;
CREATE INDEX feeds_claimed_by_idx ON feeds (claimed_by) WHERE claimed_until IS NOT NULL;

ALTER TABLE article_pages ADD COLUMN claimed_by uuid;
CREATE INDEX article_pages_claimed_by_idx ON article_pages (claimed_by) WHERE claimed_until IS NOT NULL;

-- A file read by `wirefeed ingest` is the CLI's: workers cannot read it. Such feeds are ingest-only from now
-- on (worker.pipeline.ingest_file disables each with this reason); the ones recorded before are too.
UPDATE feeds SET disabled_at = now(),
       disabled_reason = 'ingest-only: a local file read by wirefeed ingest (workers cannot read it)',
       claimed_until = NULL
 WHERE url LIKE 'file://%' AND disabled_at IS NULL;
