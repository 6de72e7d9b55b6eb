-- 0004: the consumers' interface (issue 7): a commit-ordered cursor, full-text search, and two roles.
-- docs/schema.md documents every public name; docs/consumers.md shows how to use them.

------------------------------------------------------------------------------------------------------
-- 1. articles.ingest_seq: a cursor in COMMIT order.
--
-- An identity id is handed out when a row is inserted, not when its transaction commits: a batch that
-- takes id 10 and commits after the batch holding id 11 would be skipped by a consumer that had already
-- read "everything after 10". ingest_seq is instead assigned at commit time, by a deferred trigger,
-- under a transaction-level advisory lock. PostgreSQL releases that lock only after the commit is visible,
-- so the next transaction can only take a larger number once every smaller number is readable:
-- "WHERE ingest_seq > :last ORDER BY ingest_seq" never skips a row. Gaps are possible (a commit that
-- failed after its numbers were drawn); order and completeness are what is promised.
-- A row gets a new ingest_seq whenever its content changes (title, text, URL, story...), so a consumer
-- that catches up sees corrections too; consumers upsert by id.
------------------------------------------------------------------------------------------------------

CREATE SEQUENCE articles_ingest_seq AS bigint;

ALTER TABLE articles ADD COLUMN ingest_seq bigint;
-- Internal: the transaction that last wrote the row's content, until its ingest_seq is assigned.
ALTER TABLE articles ADD COLUMN ingest_xid xid8;

-- Existing rows keep their id order.
UPDATE articles a SET ingest_seq = s.seq
FROM (SELECT id, nextval('articles_ingest_seq') AS seq FROM (SELECT id FROM articles ORDER BY id) o) s
WHERE a.id = s.id;

CREATE UNIQUE INDEX articles_ingest_seq_key ON articles (ingest_seq);
-- Rows waiting for their number: only the rows of transactions in flight (tiny).
CREATE INDEX articles_ingest_pending_idx ON articles (ingest_xid) WHERE ingest_seq IS NULL;

-- BEFORE INSERT / content UPDATE: the row waits for a number; this transaction has work at commit.
CREATE FUNCTION wirefeed_ingest_seq_mark() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.ingest_seq := NULL;
    NEW.ingest_xid := pg_current_xact_id();
    PERFORM set_config('wirefeed.ingest_seq_pending', 'on', true);
    RETURN NEW;
END
$$;

-- Deferred to commit: number every waiting row of this transaction (in id order), once per transaction.
CREATE FUNCTION wirefeed_ingest_seq_assign() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('wirefeed.ingest_seq_pending', true), '') <> 'on' THEN
        RETURN NULL;
    END IF;
    -- Commit-order lock (key 0x77697266, "wirf"); held until this transaction's commit is visible.
    PERFORM pg_advisory_xact_lock(2003399270);
    UPDATE articles a SET ingest_seq = s.seq
    FROM (SELECT id, nextval('articles_ingest_seq') AS seq
          FROM (SELECT id FROM articles
                WHERE ingest_seq IS NULL AND ingest_xid = pg_current_xact_id()
                ORDER BY id) o) s
    WHERE a.id = s.id;
    PERFORM set_config('wirefeed.ingest_seq_pending', 'off', true);
    RETURN NULL;
END
$$;

CREATE TRIGGER articles_ingest_seq_mark_ins
    BEFORE INSERT ON articles
    FOR EACH ROW EXECUTE FUNCTION wirefeed_ingest_seq_mark();

CREATE TRIGGER articles_ingest_seq_mark_upd
    BEFORE UPDATE ON articles
    FOR EACH ROW
    WHEN ((OLD.title, OLD.summary, OLD.content_hash, OLD.url, OLD.author, OLD.publisher, OLD.language,
           OLD.published_at, OLD.story_id)
          IS DISTINCT FROM
          (NEW.title, NEW.summary, NEW.content_hash, NEW.url, NEW.author, NEW.publisher, NEW.language,
           NEW.published_at, NEW.story_id))
    EXECUTE FUNCTION wirefeed_ingest_seq_mark();

CREATE CONSTRAINT TRIGGER articles_ingest_seq_assign
    AFTER INSERT OR UPDATE ON articles
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.ingest_seq IS NULL)
    EXECUTE FUNCTION wirefeed_ingest_seq_assign();

------------------------------------------------------------------------------------------------------
-- 2. Full-text search: articles.search, language-aware where the language is known.
------------------------------------------------------------------------------------------------------

-- ISO 639-1 code (or a tag such as 'en-GB' / 'pt_BR') -> the text search configuration PostgreSQL
-- ships for it; 'simple' (no stemming, no stop words) for everything else, NULL included.
-- IMMUTABLE so a generated column can use it; configurations are schema-qualified.
CREATE FUNCTION wirefeed_ts_config(lang text) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE lower(split_part(replace(coalesce(lang, ''), '_', '-'), '-', 1))
        WHEN 'ar' THEN 'pg_catalog.arabic'::regconfig
        WHEN 'hy' THEN 'pg_catalog.armenian'::regconfig
        WHEN 'eu' THEN 'pg_catalog.basque'::regconfig
        WHEN 'ca' THEN 'pg_catalog.catalan'::regconfig
        WHEN 'da' THEN 'pg_catalog.danish'::regconfig
        WHEN 'nl' THEN 'pg_catalog.dutch'::regconfig
        WHEN 'en' THEN 'pg_catalog.english'::regconfig
        WHEN 'fi' THEN 'pg_catalog.finnish'::regconfig
        WHEN 'fr' THEN 'pg_catalog.french'::regconfig
        WHEN 'de' THEN 'pg_catalog.german'::regconfig
        WHEN 'el' THEN 'pg_catalog.greek'::regconfig
        WHEN 'hi' THEN 'pg_catalog.hindi'::regconfig
        WHEN 'hu' THEN 'pg_catalog.hungarian'::regconfig
        WHEN 'id' THEN 'pg_catalog.indonesian'::regconfig
        WHEN 'ga' THEN 'pg_catalog.irish'::regconfig
        WHEN 'it' THEN 'pg_catalog.italian'::regconfig
        WHEN 'lt' THEN 'pg_catalog.lithuanian'::regconfig
        WHEN 'ne' THEN 'pg_catalog.nepali'::regconfig
        WHEN 'no' THEN 'pg_catalog.norwegian'::regconfig
        WHEN 'nb' THEN 'pg_catalog.norwegian'::regconfig
        WHEN 'nn' THEN 'pg_catalog.norwegian'::regconfig
        WHEN 'pt' THEN 'pg_catalog.portuguese'::regconfig
        WHEN 'ro' THEN 'pg_catalog.romanian'::regconfig
        WHEN 'ru' THEN 'pg_catalog.russian'::regconfig
        WHEN 'sr' THEN 'pg_catalog.serbian'::regconfig
        WHEN 'es' THEN 'pg_catalog.spanish'::regconfig
        WHEN 'sv' THEN 'pg_catalog.swedish'::regconfig
        WHEN 'ta' THEN 'pg_catalog.tamil'::regconfig
        WHEN 'tr' THEN 'pg_catalog.turkish'::regconfig
        WHEN 'yi' THEN 'pg_catalog.yiddish'::regconfig
        ELSE 'pg_catalog.simple'::regconfig
    END
$$;

-- articles.search: title weighted A, text B, in the configuration of the article's language.
-- Kept by a trigger that runs only when title, content_text or language change. (A STORED generated
-- column computes the same expression, but PostgreSQL recomputes it on EVERY update of the row: the
-- pipeline sets story_id right after the insert and the cursor above numbers rows at commit, so each
-- new article paid for to_tsvector three times; measured 838 -> 531 rows/s for 3 KB articles, against
-- about 1,000 rows/s this way.) Bounded input (title 1,000, text 100,000 characters) keeps every row under
-- the 1 MB tsvector limit, so a huge item can never make its insert fail.
CREATE FUNCTION wirefeed_search_vector(title text, content_text text, lang text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector(wirefeed_ts_config(lang), left(coalesce(title, ''), 1000)), 'A') ||
           setweight(to_tsvector(wirefeed_ts_config(lang), left(coalesce(content_text, ''), 100000)), 'B')
$$;

ALTER TABLE articles ADD COLUMN search tsvector;
UPDATE articles SET search = wirefeed_search_vector(title, content_text, language);

CREATE FUNCTION wirefeed_search_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := wirefeed_search_vector(NEW.title, NEW.content_text, NEW.language);
    RETURN NEW;
END
$$;

CREATE TRIGGER articles_search_update
    BEFORE INSERT OR UPDATE OF title, content_text, language ON articles
    FOR EACH ROW EXECUTE FUNCTION wirefeed_search_update();

CREATE INDEX articles_search_idx ON articles USING gin (search);

------------------------------------------------------------------------------------------------------
-- 3. Roles (cluster-wide, so created only when missing). NOLOGIN: an operator grants them to login users:
--      CREATE ROLE analyst LOGIN PASSWORD '...' IN ROLE wirefeed_reader;
--      CREATE ROLE ingest_svc LOGIN PASSWORD '...' IN ROLE wirefeed_ingest;
-- wirefeed_reader: SELECT on the public tables and views only (docs/schema.md), nothing else.
-- wirefeed_ingest: what the workers need: read and write rows, use sequences; no DDL (migrations run as
-- the owner of the schema).
------------------------------------------------------------------------------------------------------

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['wirefeed_reader', 'wirefeed_ingest'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN NULL;  -- another database's migration won
                WHEN insufficient_privilege THEN
                    RAISE WARNING 'cannot create role % (needs CREATEROLE); ask an administrator to run: '
                                  'CREATE ROLE % NOLOGIN; then run wirefeed migrate again', r, r;
            END;
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wirefeed_reader') THEN
        GRANT USAGE ON SCHEMA public TO wirefeed_reader;
        GRANT SELECT ON feeds, articles, article_sightings, stories TO wirefeed_reader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wirefeed_ingest') THEN
        GRANT USAGE ON SCHEMA public TO wirefeed_ingest;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO wirefeed_ingest;
        REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM wirefeed_ingest;
        GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO wirefeed_ingest;
        -- tables and sequences later migrations create (as this same owner) are covered too
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO wirefeed_ingest;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO wirefeed_ingest;
    END IF;
END
$$;
