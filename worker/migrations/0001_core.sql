-- 0001: feeds, articles, sightings, the stories view.
-- Public names (see docs/schema.md) are stable; internal columns may change with a migration.

CREATE TABLE feeds (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url                 text NOT NULL UNIQUE,
    title               text,
    site_url            text,
    language            text,
    default_tz          text,               -- zone for dates written without one; NULL = settings default
    etag                text,
    last_modified       text,
    body_hash           text,               -- hash of the last processed body: unchanged body => not parsed again
    last_fetched_at     timestamptz,
    last_success_at     timestamptz,
    last_new_entry_at   timestamptz,
    next_fetch_at       timestamptz NOT NULL DEFAULT now(),
    poll_interval       integer NOT NULL DEFAULT 1800,   -- seconds, adapted to how often the feed publishes
    claimed_until       timestamptz,        -- set by the scheduler when it enqueues; expires if the message is lost
    error_count         integer NOT NULL DEFAULT 0,      -- consecutive failures; 0 after a success
    last_error          text,
    last_error_kind     text,
    last_error_at       timestamptz,
    disabled_at         timestamptz,
    disabled_reason     text,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- The scheduler's query: due, enabled, not claimed.
CREATE INDEX feeds_due_idx ON feeds (next_fetch_at) WHERE disabled_at IS NULL;

CREATE TABLE articles (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url             text,                   -- canonical URL; NULL when the item had no usable http(s) link
    title           text NOT NULL,
    summary         text,
    content_text    text NOT NULL,
    content_html    text,
    author          text,
    publisher       text,                   -- the outlet that wrote it
    syndicator      text,                   -- the outlet whose feed first carried it, when not the publisher
    language        text,
    published_at    timestamptz NOT NULL,
    published_raw   text,                   -- the date as written, when it was clamped or unreadable
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    content_hash    text NOT NULL,
    story_id        bigint,
    feed_id         bigint REFERENCES feeds (id) ON DELETE SET NULL,  -- the feed it was first seen in
    categories      text[] NOT NULL DEFAULT '{}',
    enclosures      jsonb NOT NULL DEFAULT '[]'
);

-- Exact-duplicate levels 2 and 3: one row per canonical URL, one row per normalised text.
CREATE UNIQUE INDEX articles_url_key ON articles (url) WHERE url IS NOT NULL;
CREATE UNIQUE INDEX articles_content_hash_key ON articles (content_hash);
-- Consumers' obvious queries: recent, by publisher, by story, by language.
CREATE INDEX articles_published_at_idx ON articles (published_at DESC);
CREATE INDEX articles_first_seen_at_idx ON articles (first_seen_at DESC);
CREATE INDEX articles_publisher_idx ON articles (publisher, published_at DESC);
CREATE INDEX articles_story_id_idx ON articles (story_id);
CREATE INDEX articles_feed_id_idx ON articles (feed_id, published_at DESC);

CREATE TABLE article_sightings (
    feed_id         bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    guid            text NOT NULL,          -- the item's guid/id, else its link as given
    article_id      bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    link            text,                   -- the item's link exactly as the feed gave it
    entry_hash      text NOT NULL,          -- hash of the raw item: unchanged items are skipped cheaply
    seen_at         timestamptz NOT NULL DEFAULT now(),   -- first time this (feed, guid) was seen
    changed_at      timestamptz,            -- last time the item came back with new title or text
    PRIMARY KEY (feed_id, guid)
);
CREATE INDEX article_sightings_article_idx ON article_sightings (article_id);
CREATE INDEX article_sightings_feed_seen_idx ON article_sightings (feed_id, seen_at DESC);

CREATE VIEW stories AS
SELECT a.story_id,
       first.title                                              AS title,
       min(a.published_at)                                      AS first_published_at,
       count(*)::integer                                        AS article_count,
       coalesce(array_agg(DISTINCT a.publisher) FILTER (WHERE a.publisher IS NOT NULL), '{}') AS publishers
FROM articles a
JOIN articles first ON first.id = a.story_id
GROUP BY a.story_id, first.title;
