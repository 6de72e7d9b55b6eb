-- 0010: article pages. Most feeds carry a sentence and a link; the article is on the page. wirefeed fetches
-- it (robots.txt obeyed), extracts the body and stores it in place of the feed's summary (worker/pipeline_pages.py).
-- docs/schema.md documents the public names.

-- Where content_text came from: the feed's item, or the article's page.
ALTER TABLE articles ADD COLUMN text_source text NOT NULL DEFAULT 'feed'
    CONSTRAINT articles_text_source_check CHECK (text_source IN ('feed', 'page'));
-- The original's address when the article republishes one ("Read the original article on ...", "Source: ...").
ALTER TABLE articles ADD COLUMN original_url text;
-- The outlet credited inside the text (a sign-off such as "(Ahram Online)"), kept as attribution.
ALTER TABLE articles ADD COLUMN credit text;

-- Per-feed page mode (wirefeed feeds set ID --pages ...); NULL: WIREFEED_FETCH_PAGES.
ALTER TABLE feeds ADD COLUMN fetch_pages text
    CONSTRAINT feeds_fetch_pages_check CHECK (fetch_pages IN ('auto', 'always', 'never'));

-- One row per article whose page was wanted: the request, its state, and what the page said.
-- A row is written in the batch transaction that stored the item, so a page is requested once per article:
-- re-ingesting the same item finds it, and a new claim is needed to fetch again. A changed item (new link or
-- title: item_key) starts a new request.
CREATE TABLE article_pages (
    article_id      bigint PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    feed_id         bigint REFERENCES feeds (id) ON DELETE SET NULL,  -- the feed whose item asked for it
    url             text NOT NULL,          -- the page requested: the item's canonical link
    item_key        text NOT NULL,          -- hash of the item's link and title when requested
    status          text NOT NULL DEFAULT 'pending'
                    CONSTRAINT article_pages_status_check
                    CHECK (status IN ('pending', 'fetched', 'extracted', 'kept', 'refused', 'failed')),
    reason          text,                   -- pending: the rule that wanted it; else why it ended so (a kind)
    detail          text,                   -- one line a person can act on
    http_status     integer,
    final_url       text,                   -- after redirects
    canonical_url   text,                   -- the page's rel=canonical / og:url
    site_name       text,
    duplicate_of    bigint REFERENCES articles (id) ON DELETE SET NULL,  -- kept: the article the page is
    feed_undated    boolean NOT NULL DEFAULT false,  -- the item had no date (the page's may be used)
    feed_words      integer,                -- words of the feed's text and of the page's (auto learns from them)
    page_words      integer,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    fetched_at      timestamptz,
    extracted_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- internal: delivery
    claim           integer NOT NULL DEFAULT 0,  -- bumped by each claim; a message of an older claim is stale
    fetch_claim     integer,                -- the claim whose fetch got the body (a redelivery never refetches)
    claimed_until   timestamptz,            -- a claim whose message was lost expires; the sweep claims it again
    attempts        integer NOT NULL DEFAULT 0  -- task starts that did not end in a known way (poison)
);
-- The sweep's query: requests waiting for a fetch or an extraction whose claim expired.
CREATE INDEX article_pages_due_idx ON article_pages (claimed_until NULLS FIRST) WHERE status IN ('pending', 'fetched');
-- auto's history: a feed's most recent pages.
CREATE INDEX article_pages_feed_idx ON article_pages (feed_id, extracted_at DESC) WHERE page_words IS NOT NULL;
-- wirefeed status: outcomes of the last day.
CREATE INDEX article_pages_updated_idx ON article_pages (updated_at);

-- More addresses of one article: a page's canonical URL. An item found later under one of them is the same
-- article (exact dedupe, like articles.url).
CREATE TABLE article_urls (
    url             text PRIMARY KEY,
    article_id      bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    source          text NOT NULL CONSTRAINT article_urls_source_check CHECK (source IN ('canonical')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX article_urls_article_idx ON article_urls (article_id);

-- Two more story decisions, both made when a page arrives: its text is already another article's
-- ('same_text'), or its canonical URL is ('same_url').
ALTER TABLE article_links DROP CONSTRAINT article_links_method_check;
ALTER TABLE article_links ADD CONSTRAINT article_links_method_check
    CHECK (method IN ('new', 'near_duplicate', 'containment', 'same_text', 'same_url'));

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wirefeed_reader') THEN
        GRANT SELECT ON article_pages, article_urls TO wirefeed_reader;
    END IF;
END
$$;
