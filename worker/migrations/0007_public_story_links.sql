-- 0007: article_links joins the public schema: consumers may see why two articles are one story
-- (issue 5). The reader role may read it; its columns are documented in docs/schema.md.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wirefeed_reader') THEN
        GRANT SELECT ON article_links TO wirefeed_reader;
    END IF;
END
$$;
