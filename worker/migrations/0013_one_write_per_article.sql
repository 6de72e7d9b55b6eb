-- 0013: one write per new article row.
--
-- Until now a new article was written three times: the INSERT, then story_id (story assignment ran after the
-- insert), then ingest_seq (numbered by the deferred trigger of 0004 at commit). Each write of a row is a new
-- row version with new entries in every index of articles, the GIN index of articles.search included. The
-- pipeline now decides the story before the insert (on ids it reserves from the identity sequence) and
-- numbers its rows in the insert itself, holding the same commit-order lock as 0004's deferred trigger
-- (pg_advisory_xact_lock(2003399270)) from before the insert to its commit: the next writer can only draw a
-- larger number once this one's rows are visible, the guarantee 0004 describes.
--
-- Any other writer (an INSERT that leaves ingest_seq out, or a content UPDATE) is numbered at commit as before.
CREATE OR REPLACE FUNCTION wirefeed_ingest_seq_mark() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.ingest_seq IS NOT NULL THEN
        -- numbered by the inserting statement, under the commit-order lock (worker.store.articles)
        NEW.ingest_xid := NULL;
        RETURN NEW;
    END IF;
    NEW.ingest_seq := NULL;
    NEW.ingest_xid := pg_current_xact_id();
    PERFORM set_config('wirefeed.ingest_seq_pending', 'on', true);
    RETURN NEW;
END
$$;
