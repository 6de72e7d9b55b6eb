-- 0003: near-duplicate stories (issue 5).
-- article_fingerprints: the MinHash signature of each article's cleaned text, and the candidate keys it is
--   indexed under (so an updated article can take its old keys out of the index).
-- article_bands: the candidate index. One row per (key, article): LSH band keys of the signature, lead keys
--   (bottom-k sketch of the opening words: summary-only copies) and a title key. A new article looks its keys
--   up with index-only scans capped per key, so the cost per article stays flat as the table grows.
-- article_links: one row per article: the story decision and why (method, score, reason).

CREATE TABLE article_fingerprints (
    article_id      bigint PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    scheme          smallint NOT NULL,          -- fingerprint parameters version (worker.stories.SCHEME)
    signature       bytea NOT NULL,             -- MinHash: NUM_PERM little-endian uint32
    shingle_count   integer NOT NULL,
    word_count      integer NOT NULL,
    keys            bigint[] NOT NULL,          -- the article_bands keys this article is indexed under
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- No foreign key: it would cost one lookup per key on every insert. Rows of a deleted article are ignored
-- (lookups join article_fingerprints) and removed by worker.stories.prune_bands().
CREATE TABLE article_bands (
    band_key        bigint NOT NULL,
    article_id      bigint NOT NULL
);
CREATE INDEX article_bands_key_idx ON article_bands (band_key, article_id);

CREATE TABLE article_links (
    article_id      bigint PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    linked_to       bigint REFERENCES articles (id) ON DELETE SET NULL,  -- the earlier copy it matched
    story_id        bigint NOT NULL,
    method          text NOT NULL CHECK (method IN ('new', 'near_duplicate', 'containment')),
    score           real,                       -- the score the decision rests on (Jaccard or containment)
    jaccard         real,
    containment     real,
    reason          text NOT NULL,              -- human-readable: scores, tolerated or disagreeing facts
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX article_links_story_idx ON article_links (story_id);
CREATE INDEX article_links_linked_to_idx ON article_links (linked_to) WHERE linked_to IS NOT NULL;
