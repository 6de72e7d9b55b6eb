"""robots.txt for article pages (worker.fetch.robots) against loopback servers and this session's Redis: the
rules protego reads, one fetch per site shared through Redis with its expiry, 4xx allows, 5xx waits."""

from __future__ import annotations

import pytest
import redis

from tests.httpserver import FeedServer, Route
from worker.fetch.robots import KEY_PREFIX, Robots, RobotsUnavailable, origin_of
from worker.settings import defaults

RULES = b"""User-agent: otherbot
Disallow: /

User-agent: *
Disallow: /private/
Allow: /private/open-*.html
Disallow: /*.pdf$
Crawl-delay: 2
"""


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://Example.org/a/b?c=1#f", "http://example.org"),  # host lower-cased, path dropped
        ("https://example.org:443/x", "https://example.org"),  # the default port dropped
        ("http://example.org:8080/x", "http://example.org:8080"),  # another port is another site
        ("http://[::1]:9000/x", "http://[::1]:9000"),  # IPv6 literals keep their brackets
    ],
)
def test_origin_of(url: str, origin: str) -> None:
    assert origin_of(url) == origin


def _robots(redis_url: str, **over: object) -> Robots:
    settings = defaults().model_copy(update={"allow_private_addresses": True, "redis_url": redis_url,
                                             "robots_ttl": 3600, "robots_retry": 120, **over})
    return Robots(settings, client=redis.Redis.from_url(redis_url))


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/stories/1.html", True),  # no rule
        ("/private/secret.html", False),  # Disallow: /private/
        ("/private/open-day.html", True),  # the longer Allow wins
        ("/files/report.pdf", False),  # a wildcard with an end anchor
        ("/files/report.pdf.html", True),  # ... which this does not match
    ],
)
def test_rules_for_wirefeed(clean_redis: str, path: str, allowed: bool) -> None:
    with FeedServer() as srv:
        srv.route("/robots.txt", Route(body=RULES, headers={"Content-Type": "text/plain"}))
        verdict = _robots(clean_redis).check(srv.url(path))
    assert verdict.allowed is allowed, verdict.why
    assert verdict.crawl_delay == 2.0


def test_one_fetch_per_site_shared_through_redis_with_its_expiry(clean_redis: str) -> None:
    with FeedServer() as srv:
        srv.route("/robots.txt", Route(body=RULES))
        first, second = _robots(clean_redis), _robots(clean_redis)  # two workers
        assert first.check(srv.url("/a.html")).allowed
        assert not second.check(srv.url("/private/b.html")).allowed
        assert len(srv.hits_on("/robots.txt")) == 1 and first.fetched == 1 and second.fetched == 0
    ttl = redis.Redis.from_url(clean_redis).ttl(KEY_PREFIX + origin_of(srv.base))
    assert 0 < ttl <= 3600


@pytest.mark.parametrize("status", [404, 410, 401, 403])
def test_4xx_means_every_page_may_be_fetched(clean_redis: str, status: int) -> None:
    with FeedServer() as srv:
        srv.route("/robots.txt", Route(status=status, body=b"no"))
        verdict = _robots(clean_redis).check(srv.url("/private/x.html"))
    assert verdict.allowed and str(status) in verdict.why


@pytest.mark.parametrize("status", [500, 503, 429])
def test_5xx_and_429_mean_wait_and_the_answer_is_kept_briefly(clean_redis: str, status: int) -> None:
    with FeedServer() as srv:
        srv.route("/robots.txt", Route(status=status, body=b"busy"))
        robots = _robots(clean_redis)
        for _ in range(2):
            with pytest.raises(RobotsUnavailable) as err:
                robots.check(srv.url("/a.html"))
            assert err.value.retry_after == 120
        assert len(srv.hits_on("/robots.txt")) == 1  # the other pages of the site wait without asking again
    assert 0 < redis.Redis.from_url(clean_redis).ttl(KEY_PREFIX + origin_of(srv.base)) <= 120


def test_without_redis_each_process_keeps_its_own_copy() -> None:
    settings = defaults().model_copy(update={"allow_private_addresses": True})
    robots = Robots(settings, client=redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2))
    with FeedServer() as srv:
        srv.route("/robots.txt", Route(body=RULES))
        assert not robots.check(srv.url("/private/x.html")).allowed
        assert robots.check(srv.url("/x.html")).allowed
        assert len(srv.hits_on("/robots.txt")) == 1
