-- 0009: the columns docs/schema.md promises never change, kept unchanged by the database itself.
--
-- articles.first_seen_at and article_sightings.seen_at are set when the row is inserted; articles.url may
-- be filled in once (a later copy of an item that had no usable link) and is never changed after that.
-- The pipeline already writes them that way (url = coalesce(url, ...)); these triggers turn a mistake in
-- any writer into an error instead of a silent change consumers would never see. check_violation: the
-- task boundary takes it for a bug, not for bad input or an outage.
CREATE FUNCTION wirefeed_keep_article_identity() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.first_seen_at IS DISTINCT FROM OLD.first_seen_at THEN
        RAISE EXCEPTION 'articles.first_seen_at never changes (article %)', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.url IS NOT NULL AND NEW.url IS DISTINCT FROM OLD.url THEN
        RAISE EXCEPTION 'articles.url never changes once set (article %)', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER articles_keep_identity
    BEFORE UPDATE OF first_seen_at, url ON articles
    FOR EACH ROW EXECUTE FUNCTION wirefeed_keep_article_identity();

CREATE FUNCTION wirefeed_keep_sighting_seen_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seen_at IS DISTINCT FROM OLD.seen_at THEN
        RAISE EXCEPTION 'article_sightings.seen_at never changes (feed %, guid %)', OLD.feed_id, OLD.guid
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER article_sightings_keep_seen_at
    BEFORE UPDATE OF seen_at ON article_sightings
    FOR EACH ROW EXECUTE FUNCTION wirefeed_keep_sighting_seen_at();
