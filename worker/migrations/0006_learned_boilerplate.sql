-- 0006: boilerplate learned per feed (paragraphs repeated across many of its items: standing footers,
-- "subscribe" lines), kept as text keys so later fetches with one or two new items still drop them.
ALTER TABLE feeds ADD COLUMN boilerplate_keys text[] NOT NULL DEFAULT '{}';
