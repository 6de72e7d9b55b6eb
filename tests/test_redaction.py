"""``worker.redaction.redact``: every form a secret takes in a URL or conninfo string is hidden, the rest kept."""

from __future__ import annotations

import pytest

from worker.redaction import is_secret_name, redact

S = "Zq9Secret"  # the secret in every case below


@pytest.mark.parametrize(("given", "shown"), [
    (f"postgresql://wirefeed:{S}@db:5432/wirefeed", "postgresql://wirefeed:***@db:5432/wirefeed"),
    (f"redis://:{S}@redis:6379/0", "redis://:***@redis:6379/0"),
    (f"rediss://default:{S}@redis/0", "rediss://default:***@redis/0"),
    (f"postgresql://u:{S}@x@db/w", "postgresql://u:***@db/w"),  # an unencoded @ in the password
    (f"postgresql://u:{S}:more@db/w", "postgresql://u:***@db/w"),
    (f"postgresql://u@db/w?password={S}&sslmode=require", "postgresql://u@db/w?password=***&sslmode=require"),
    (f"postgresql://db/w?sslmode=require&sslpassword={S}", "postgresql://db/w?sslmode=require&sslpassword=***"),
    (f"https://feeds.example/rss?api_key={S}#top", "https://feeds.example/rss?api_key=***#top"),
    (f"https://feeds.example/rss?x=1&Access-Token={S}", "https://feeds.example/rss?x=1&Access-Token=***"),
    (f"host=db user=w password={S} dbname=w", "host=db user=w password=*** dbname=w"),
    (f"host=db password = '{S} with spaces' dbname=w", "host=db password = *** dbname=w"),
    (f"host=db password='{S}\\'s' dbname=w", "host=db password=*** dbname=w"),
    (f"password={S}", "password=***"),
    (f"cannot reach PostgreSQL at 'host=db password={S}': refused", "cannot reach PostgreSQL at 'host=db password=***"),
    (f"two: redis://:{S}@a/0 and postgresql://u:{S}@b/w", "two: redis://:***@a/0 and postgresql://u:***@b/w"),
])
def test_secrets_are_hidden(given: str, shown: str) -> None:
    out = redact(given)
    assert S not in out
    assert out.startswith(shown) if given.startswith("cannot") else out == shown


@pytest.mark.parametrize("kept", [
    "postgresql://wirefeed@db:5432/wirefeed",  # a user name alone is not a secret
    "https://example.org:8443/news/feed.xml?page=2&lang=en",
    "https://medium.example/@writer/story",
    "host=db port=5432 user=w dbname=w sslmode=require",
    "feed 12: 30 entries, 2 new",
    "",
])
def test_everything_else_is_kept(kept: str) -> None:
    assert redact(kept) == kept


def test_secret_names() -> None:
    assert all(map(is_secret_name, ["password", "PASSWORD", "sslpassword", "client_secret", "x-api-key", "token",
                                    "auth_token", "key", "sig", "pwd"]))
    assert not any(map(is_secret_name, ["sslmode", "user", "host", "page", "lang", "dbname", "author"]))
