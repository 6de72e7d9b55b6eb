-- 0005: delivery attempts per (task, feed), for poison detection (issue 6).
--
-- Celery's own retry counter does not survive a redelivery: a message handed back after its worker was
-- killed (task_reject_on_worker_lost), or re-sent by the scheduler after its claim expired, starts again at
-- retries = 0. A feed whose body crashes or hangs the worker every time would so be retried forever.
-- Each feed task therefore counts its starts here (own committed statement, before any work), and clears
-- the row when it ends in a known way (success, recorded bad input, a transient error it will retry).
-- A row whose count reaches the poison threshold means "started N times, never finished": the task records
-- an "internal" error on the feed, schedules it with backoff and stops. Rows older than a day restart at 1.
CREATE TABLE task_attempts (
    task        text NOT NULL,              -- 'fetch' | 'process'
    feed_id     bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    attempts    integer NOT NULL DEFAULT 1,
    first_at    timestamptz NOT NULL DEFAULT now(),
    last_at     timestamptz NOT NULL DEFAULT now(),
    last_error  text,                       -- the last unexpected exception, one line
    PRIMARY KEY (task, feed_id)
);
