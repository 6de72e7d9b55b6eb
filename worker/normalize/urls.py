"""Canonical article URLs (pure).

One article has one canonical URL, so the same report linked with different tracking junk is stored once.
What changes and why:

- relative links are resolved against the item's base (``xml:base``) or the feed URL;
- only ``http`` and ``https`` URLs are kept: anything else (``javascript:``, ``mailto:``, ``file:``, ``tag:``)
  is not an article address and gives ``None``;
- scheme and host are lower-cased, an IDN host is written in punycode, a trailing dot on the host is dropped;
- default ports (``:80`` for http, ``:443`` for https) are dropped; an empty path becomes ``/``;
- ``.`` and ``..`` path segments are removed and percent-escapes are written in upper case;
- the fragment is dropped (it never selects a different document), except a ``#!`` "hashbang" route;
- tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ``mc_cid``, ``mc_eid``, ``_hsenc``, ``ocid``,
  ``cmpid`` and the others in :data:`TRACKING_PARAMS`) are removed; every other parameter is kept, in its
  original order and spelling, because ``?id=123`` or ``?p=42`` often *is* the article.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit, urlunsplit

__all__ = ["MAX_URL_LENGTH", "TRACKING_PARAMS", "TRACKING_PREFIXES", "canonicalize_url", "is_tracking_param"]

# Exact parameter names (compared lower-case) that only say where a click came from.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
        "igshid", "igsh", "li_fat_id", "mc_cid", "mc_eid", "mkt_tok", "_hsenc", "_hsmi", "__hstc",
        "__hssc", "__hsfp", "hsctatracking", "ocid", "cmpid", "icid", "_ga", "_gl", "wt.mc_id",
        "wt.mc_ev", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee", "sr_share",
        "vero_id", "vero_conv", "oly_anon_id", "oly_enc_id", "rb_clickid", "s_cid", "ref_src", "ref_url",
        "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4", "xtor",
        "__twitter_impression", "soc_src", "soc_trk", "_openstat", "trk", "trkcampaign", "sc_cid",
        "feedtype", "feedname", "cvid", "smid", "mbid", "campaign_id", "campaign_medium",
        "campaign_name", "campaign_source", "fb_action_ids", "fb_action_types", "fb_ref", "fb_source",
        "ga_source", "ga_medium", "ga_campaign", "ga_content", "ga_term", "spm",
    }
)
# Parameter name prefixes (lower-case) that are tracking whatever follows.
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_", "matomo_", "hsa_", "__s", "itm_", "stm_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Longer is no article's address (browsers and crawlers stop near 2,000 characters) and would overflow
# PostgreSQL's btree row limit (~2.7 KB) on the unique index of articles.url.
MAX_URL_LENGTH = 2048
_CTRL = re.compile(r"[\x00-\x20\x7f]")
_PCT = re.compile(r"%[0-9a-fA-F]{2}")
# characters that must be percent-encoded in a path or query we hand on (spaces, quotes, non-ASCII, ...)
_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%\[\]]|%(?![0-9A-Fa-f]{2})")


def is_tracking_param(name: str) -> bool:
    """True when a query parameter name (already percent-decoded or not) only tracks the click."""
    key = name.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _quote_unsafe(part: str) -> str:
    if _UNSAFE.search(part):
        part = _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), part)
    if "%" in part:
        part = _PCT.sub(lambda m: m.group().upper(), part)
    return part


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if len(out) > 1:
                out.pop()
        elif seg != ".":
            out.append(seg)
    result = "/".join(out)
    if path.endswith(("/.", "/..")):
        result += "/"
    return result if result.startswith("/") else "/" + result


def _clean_query(query: str) -> str:
    kept = []
    for piece in query.split("&"):
        if not piece:
            continue
        name = piece.split("=", 1)[0]
        if "%" in name or "+" in name:
            name = name.replace("+", " ")
            name = _PCT.sub(lambda m: chr(int(m.group()[1:], 16)), name)
        if not is_tracking_param(name):
            kept.append(piece)
    return "&".join(kept)


def _host(netloc_host: str) -> str | None:
    host = netloc_host.rstrip(".").lower()
    if not host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host


# The common case, already canonical but for its query: lower-case scheme and host (no port, no user, no trailing
# dot), a path of characters never escaped, a query likewise, no "%", no fragment. Such a URL comes out of the
# general path below as scheme://host + (path or "/") + its query without tracking parameters; see _simple.
_PATH_CHARS = r"A-Za-z0-9\-._~!$&'()*+,;=:@/"
_SIMPLE = re.compile(rf"(https?)://([a-z0-9-]+(?:\.[a-z0-9-]+)*)([/][{_PATH_CHARS}]*)?(?:\?([{_PATH_CHARS}?]*))?")


def canonicalize_url(url: str, base: str | None = None) -> str | None:
    """The canonical http(s) form of ``url`` (resolved against ``base``), or None when it is not one."""
    if not url:
        return None
    url = url.strip()
    m = _SIMPLE.fullmatch(url)
    if m is not None and "/." not in url:  # no dot segments to remove
        return _simple(m)
    return _canonicalize(url, base)


def _simple(m: re.Match[str]) -> str | None:
    """What :func:`_canonicalize` gives for a URL :data:`_SIMPLE` matched (the test suite checks both agree)."""
    scheme, host, path, query = m.groups()
    canonical = f"{scheme}://{host}{path or '/'}"
    if query:
        query = _clean_query(query)
        if query:
            canonical = f"{canonical}?{query}"
    return canonical if len(canonical) <= MAX_URL_LENGTH else None


def _canonicalize(url: str, base: str | None) -> str | None:
    """The general path of :func:`canonicalize_url`, for a stripped, non-empty ``url``."""
    if _CTRL.search(url):
        # WHATWG: tabs and newlines inside a URL are dropped; other controls make it unusable.
        url = url.replace("\t", "").replace("\n", "").replace("\r", "").strip()
        if _CTRL.search(url.replace(" ", "")):
            return None
    if not url:
        return None
    lowered = url[:8].lower()
    if not lowered.startswith(("http://", "https://")):
        if base and not _has_scheme(url):
            try:
                url = urljoin(base, url)
            except ValueError:
                return None
        elif url.startswith("//"):
            url = "https:" + url
        else:
            return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    host = _host(parts.hostname or "")
    if host is None:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = parts.path or "/"
    if "/." in path or path.startswith("."):
        path = _remove_dot_segments(path)
    path = _quote_unsafe(path)
    query = _quote_unsafe(_clean_query(parts.query)) if parts.query else ""
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    canonical = urlunsplit((scheme, netloc, path, query, _quote_unsafe(fragment)))
    return canonical if len(canonical) <= MAX_URL_LENGTH else None


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def _has_scheme(url: str) -> bool:
    return bool(_SCHEME.match(url)) and not url.startswith("//")
