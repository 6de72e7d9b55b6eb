-- 0002: fetch history, URL aliases after permanent redirects, hard-failure run (issue 3).

-- One row per fetch attempt, for operators to see why a feed stopped. Pruned by age
-- (worker.store.fetches.prune_fetches). outcome: 'modified' | 'not_modified' | 'error'.
CREATE TABLE feed_fetches (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed_id         bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    fetched_at      timestamptz NOT NULL DEFAULT now(),
    url             text NOT NULL,              -- the URL asked for (the feed's URL at the time)
    final_url       text,                       -- where the body came from after redirects
    status          integer,                    -- HTTP status; NULL when no response (timeout, DNS, SSRF)
    outcome         text NOT NULL CHECK (outcome IN ('modified', 'not_modified', 'error')),
    not_modified    boolean NOT NULL DEFAULT false,   -- 304, or a body identical to the last one
    not_modified_by text,                       -- '304' | 'hash'
    bytes           integer NOT NULL DEFAULT 0, -- bytes on the wire
    duration_ms     integer NOT NULL DEFAULT 0,
    entries_seen    integer,                    -- filled in once the body has been processed
    entries_new     integer,
    error_kind      text,
    error_message   text
);
CREATE INDEX feed_fetches_feed_idx ON feed_fetches (feed_id, fetched_at DESC);
CREATE INDEX feed_fetches_fetched_at_idx ON feed_fetches (fetched_at);

-- Old URLs of feeds that moved (301/308): subscribing to one finds the feed instead of making a second.
CREATE TABLE feed_aliases (
    url         text PRIMARY KEY,
    feed_id     bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feed_aliases_feed_idx ON feed_aliases (feed_id);

-- Consecutive hard (permanent-class) failures; a long run of them disables the feed.
ALTER TABLE feeds ADD COLUMN hard_error_count integer NOT NULL DEFAULT 0;
