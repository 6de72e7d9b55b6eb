"""A feed's own facts as the feed states them (its title, its site's address), made fit to store: what a
publisher writes there reaches ``feeds``, the reader role and the operator's terminal. Pure."""

from __future__ import annotations

import re

from worker.normalize.html import clean_title
from worker.normalize.urls import MAX_URL_LENGTH

_SITE = re.compile(r"https?://[^\s/?#@]+(?:[/?#]\S*)?", re.IGNORECASE)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def feed_title(text: str | None) -> str | None:
    """One line: no markup or control characters, entities decoded, at most ``TITLE_MAX`` characters; None
    when nothing is left."""
    return clean_title(text) or None


def site_url(text: str | None) -> str | None:
    """The address the feed gives for its site when it is an absolute http(s) URL of at most
    ``MAX_URL_LENGTH`` characters without blanks or control characters (and no user info); None otherwise."""
    if not text:
        return None
    text = text.strip()
    if len(text) > MAX_URL_LENGTH or not _SITE.fullmatch(text) or _UNPRINTABLE.search(text):
        return None
    return text
