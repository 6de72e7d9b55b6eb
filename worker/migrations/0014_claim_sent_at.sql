-- 0014: a claim whose message is in the broker names no worker (claimed_by NULL) and records when its message
-- was sent. The scheduler gives back such a claim once the queues are empty and it was sent more than
-- WIREFEED_WORKER_DEAD_SECONDS ago: its message was taken from the queue by a worker that never received it
-- (killed in the instant between taking it and naming itself in the claim), instead of waiting for the claim
-- timeout. worker/store/workers.py; docs/reliability.md.
ALTER TABLE feeds ADD COLUMN claim_sent_at timestamptz;
