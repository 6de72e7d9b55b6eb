-- 0012: the reader role reads exactly what docs/schema.md promises.
--
-- 1. Column-level grants: wirefeed_reader keeps SELECT on the public columns of feeds, articles,
--    article_sightings and article_pages, and loses it on their internal ones (validators, hashes, claims,
--    learned boilerplate, the cursor's transaction id). A column added later is internal until a migration
--    grants it (and docs/schema.md lists it).
-- 2. A feed whose URL carries credentials (user info, or a secret-looking query parameter such as
--    ?token= or ?api_key=) is not visible to the reader at all: row-level security on feeds, with a policy
--    that lets wirefeed_ingest (the workers) see and write every row. The owner (migrations) is not
--    affected.
-- 3. wirefeed_http_link(text) and the view sighting_links: a sighting's link when it is an http(s) URL,
--    NULL otherwise (a feed may give any scheme, javascript: included; article_sightings.link keeps it as
--    given).
--
-- Like 0004, the grants and policies apply only when the roles exist; an administrator who creates the
-- roles later runs the DO block below by hand (it only grants and creates policies: running it again is
-- harmless).

-- 4. feeds.title and site_url are now cleaned before they are stored (worker.normalize.feedmeta); the rows
--    stored before get the part of that SQL can do: no control characters, titles cut to 1,000 characters,
--    a site_url that is not an absolute http(s) URL without blanks or user info dropped.
UPDATE feeds SET title = nullif(left(btrim(regexp_replace(title, '[[:cntrl:][:space:]]+', ' ', 'g')), 1000), '')
WHERE title ~ '[[:cntrl:]]' OR length(title) > 1000;
UPDATE feeds SET site_url = NULL
WHERE site_url !~* '^https?://[^/?#@[:space:]]+([/?#][^[:space:]]*)?$' OR site_url ~ '[[:cntrl:]]'
   OR length(site_url) > 2048;

CREATE FUNCTION wirefeed_url_has_credentials(url text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS
$$
    SELECT url ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@'
        OR EXISTS (
            SELECT 1
            FROM regexp_split_to_table(substring(url FROM '^[^?#]*\?([^#]*)'), '[&;]') AS p(param),
                 LATERAL (SELECT translate(lower(split_part(p.param, '=', 1)), '-_.', '') AS name) n
            WHERE position('=' IN p.param) > 0
              AND (n.name IN ('pass', 'pwd', 'pw', 'key', 'sig', 'auth', 'authorization')
                   OR n.name ~ '(password|passwd|passphrase|secret|token|apikey|accesskey|privatekey|credential|signature|sessionid)'))
$$;

CREATE FUNCTION wirefeed_http_link(link text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS
$$
    SELECT CASE WHEN link ~* '^https?://[^/?#\s]' AND link !~ '[[:cntrl:][:space:]]' THEN link END
$$;

CREATE VIEW sighting_links AS
    SELECT feed_id, guid, article_id, wirefeed_http_link(link) AS link, seen_at, changed_at
    FROM article_sightings;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wirefeed_reader') THEN
        REVOKE SELECT ON feeds, articles, article_sightings, article_pages FROM wirefeed_reader;
        GRANT SELECT (id, url, title, site_url, language, last_fetched_at, last_success_at, last_new_entry_at,
                      next_fetch_at, poll_interval, error_count, last_error, last_error_kind, last_error_at,
                      disabled_at, disabled_reason, created_at, fetch_pages)
            ON feeds TO wirefeed_reader;
        GRANT SELECT (id, url, title, summary, content_text, content_html, author, publisher, syndicator, credit,
                      original_url, language, published_at, published_raw, first_seen_at, updated_at,
                      content_hash, story_id, feed_id, categories, enclosures, ingest_seq, search, text_source)
            ON articles TO wirefeed_reader;
        GRANT SELECT (feed_id, guid, article_id, link, seen_at, changed_at) ON article_sightings TO wirefeed_reader;
        GRANT SELECT (article_id, feed_id, url, status, reason, detail, http_status, final_url, canonical_url,
                      site_name, duplicate_of, feed_words, page_words, requested_at, fetched_at, extracted_at,
                      updated_at)
            ON article_pages TO wirefeed_reader;
        GRANT SELECT ON sighting_links TO wirefeed_reader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wirefeed_reader')
       AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wirefeed_ingest') THEN
        DROP POLICY IF EXISTS feeds_ingest ON feeds;
        DROP POLICY IF EXISTS feeds_reader ON feeds;
        CREATE POLICY feeds_ingest ON feeds TO wirefeed_ingest USING (true) WITH CHECK (true);
        CREATE POLICY feeds_reader ON feeds FOR SELECT TO wirefeed_reader
            USING (NOT coalesce(wirefeed_url_has_credentials(url), false));
        ALTER TABLE feeds ENABLE ROW LEVEL SECURITY;
    END IF;
END
$$;
