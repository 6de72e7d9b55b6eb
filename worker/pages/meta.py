"""A page's own metadata: canonical URL, title, author, dates, site, language, publisher, original link (pure).

Read from what publishers write for machines, best first: JSON-LD (schema.org ``Article`` and its kinds),
Open Graph and ``article:*`` properties, named ``<meta>`` tags, then the document (``<title>``, ``<h1>``,
``<html lang>``). The original's link ("Read the original article on …", "Source: …", Google's
``original-source``) is taken from the page's anchors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import html as lxml_html

from worker.normalize.dates import parse_date
from worker.normalize.html import clean_line
from worker.normalize.language import normalize_language
from worker.normalize.urls import canonicalize_url
from worker.pages.model import PageHints

__all__ = ["PageMeta", "read_meta", "read_metadata_hints"]

_ARTICLE_TYPES = {"article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle", "blogposting",
                  "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "socialmediaposting",
                  "liveblogposting", "techarticle", "scholarlyarticle", "report", "posting"}
_ORIGINAL_TEXT = re.compile(
    r"^\s*(?:read (?:the )?(?:original|full) (?:article|story|report)|(?:this (?:article|story) )?(?:was )?"
    r"originally (?:published|appeared)|original (?:article|story|source)|source\s*:)", re.I)
_TIME_PART = re.compile(r"\d{1,2}:\d{2}")


@dataclass(slots=True)
class PageMeta:
    title: str | None = None
    headlines: list[str] = field(default_factory=list)  # every title the page gives (to drop a repeated one)
    description: str | None = None
    author: str | None = None
    published_at: str | None = None
    canonical_url: str | None = None
    site_name: str | None = None
    language: str | None = None  # declared, ISO 639-1
    publisher: str | None = None
    original_url: str | None = None
    og_type: str | None = None
    is_article: bool = False  # JSON-LD or Open Graph says the page is an article
    paywalled: bool = False  # JSON-LD ``isAccessibleForFree: false``


def _metas(tree: Any) -> dict[str, str]:
    """Named and property ``<meta>`` values (lower-cased keys, first wins)."""
    found: dict[str, str] = {}
    for m in tree.iter("meta"):
        key = (m.get("property") or m.get("name") or m.get("itemprop") or m.get("http-equiv") or "").strip().lower()
        value = m.get("content")
        if key and value and value.strip() and key not in found:
            found[key] = value.strip()
    return found


def _jsonld_objects(tree: Any) -> Iterator[dict[str, Any]]:
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json" or not script.text:
            continue
        raw = script.text.strip()
        raw = re.sub(r"^\s*(?://\s*)?<!\[CDATA\[|\]\]>\s*$", "", raw).strip()
        try:
            doc = json.loads(raw, strict=False)
        except ValueError:
            continue
        stack = [doc]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                if isinstance(item.get("@graph"), list):
                    stack.extend(reversed(item["@graph"]))
                yield item


def _types(obj: dict[str, Any]) -> set[str]:
    t = obj.get("@type")
    names = t if isinstance(t, list) else [t]
    return {n.lower() for n in names if isinstance(n, str)}


def _name(value: Any) -> str | None:
    """A person's or organisation's name from a JSON-LD value (string, object or list of them)."""
    if isinstance(value, list):
        names = [n for n in (_name(v) for v in value) if n]
        return ", ".join(dict.fromkeys(names)) or None
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, str):
        value = clean_line(value, 300)
        if value and not value.startswith(("http://", "https://")):
            return value
    return None


def _author(value: str | None) -> str | None:
    if not value or value.startswith(("http://", "https://")):
        return None
    value = re.sub(r"^(?:by|par|por|von)\s+", "", clean_line(value, 300), flags=re.I)
    return value or None


def _date(candidates: list[str]) -> str | None:
    """The first candidate with a time of day, else the first that parses at all, as UTC ISO 8601."""
    parsed = [(c, parse_date(c)) for c in candidates if c]
    usable = [(c, d) for c, d in parsed if d is not None]
    for c, d in usable:
        if _TIME_PART.search(c):
            return d.isoformat()  # type: ignore[union-attr]
    return usable[0][1].isoformat() if usable else None  # type: ignore[union-attr]


def _absolute(url: str | None, base: str | None) -> str | None:
    if not url:
        return None
    url = url.strip()
    if base:
        url = urljoin(base, url)
    return canonicalize_url(url)


def _title_from_document(tree: Any, site: str | None) -> str | None:
    title = clean_line(tree.findtext(".//title"), 500)
    if not title:
        return None
    parts = [p.strip() for p in re.split(r"\s+[|–—-]\s+|\s+::\s+|\s+_", title) if p.strip()]
    if len(parts) > 1:
        if site:
            kept = [p for p in parts if site.lower() not in p.lower() and p.lower() not in site.lower()]
            parts = kept or parts
        return max(parts, key=len)
    return title


def _original_link(tree: Any, page_url: str | None, metas: dict[str, str]) -> str | None:
    for key in ("original-source", "syndication-source"):
        if key in metas:
            return _absolute(metas[key], page_url)
    for link in tree.iter("link"):
        if (link.get("rel") or "").lower() in ("original-source", "original"):
            return _absolute(link.get("href"), page_url)
    page_host = urlsplit(page_url).hostname if page_url else None
    for a in tree.iter("a"):
        href = a.get("href")
        if not href or not _ORIGINAL_TEXT.match(a.text_content() or ""):
            continue
        url = _absolute(href, page_url)
        if url and urlsplit(url).hostname != page_host:
            return url
    return None


def read_meta(tree: Any, page_url: str | None) -> PageMeta:
    """Everything :class:`PageMeta` holds, from a parsed page (read before scripts are pruned)."""
    metas = _metas(tree)
    meta = PageMeta()
    article: dict[str, Any] = {}
    publisher_org = None
    for obj in _jsonld_objects(tree):
        types = _types(obj)
        if types & _ARTICLE_TYPES and not article:
            article = obj
        if "organization" in types or "newsmediaorganization" in types:
            publisher_org = publisher_org or _name(obj)
    meta.og_type = (metas.get("og:type") or "").lower() or None
    meta.is_article = bool(article) or (meta.og_type or "").startswith("article")
    meta.paywalled = article.get("isAccessibleForFree") in (False, "false", "False")

    meta.site_name = clean_line(metas.get("og:site_name"), 200) or _name(article.get("publisher")) \
        or clean_line(metas.get("application-name"), 200) or publisher_org or None
    headlines = [clean_line(v, 500) for v in (metas.get("og:title"), metas.get("twitter:title"),
                                               article.get("headline") if isinstance(article.get("headline"), str)
                                               else None)]
    h1 = tree.find(".//h1")
    if h1 is not None:
        headlines.append(clean_line(h1.text_content(), 500))
    doc_title = _title_from_document(tree, meta.site_name)
    headlines.append(doc_title or "")
    meta.headlines = [h for h in dict.fromkeys(headlines) if h]
    meta.title = meta.headlines[0] if meta.headlines else None
    meta.description = clean_line(metas.get("og:description") or metas.get("description")
                                  or (article.get("description") if isinstance(article.get("description"), str)
                                      else None), 2000) or None

    meta.author = _name(article.get("author")) or _author(metas.get("author")) \
        or _author(metas.get("article:author")) or _author(metas.get("byl")) or _author(metas.get("parsely-author")) \
        or _author(metas.get("sailthru.author")) or _author(metas.get("dc.creator"))
    published = article.get("datePublished")
    dates: list[str] = [published if isinstance(published, str) else "",
             metas.get("article:published_time", ""), metas.get("datepublished", ""),
             metas.get("publishdate", ""), metas.get("pubdate", ""), metas.get("date", ""),
             metas.get("dc.date.issued", ""), metas.get("dc.date", ""), metas.get("sailthru.date", "")]
    time_el = tree.find(".//time[@datetime]")
    if time_el is not None:
        dates.append(time_el.get("datetime") or "")
    meta.published_at = _date(dates)

    canonical = None
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split():
            canonical = _absolute(link.get("href"), page_url)
            break
    meta.canonical_url = canonical or _absolute(metas.get("og:url"), page_url)

    root = tree.getroottree().getroot()
    declared = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") \
        or metas.get("content-language") or metas.get("og:locale") or metas.get("language") or metas.get("dc.language")
    meta.language = normalize_language(declared.replace("_", "-")) if declared else None

    meta.publisher = clean_line(metas.get("citation_publisher"), 200) or _name(article.get("sourceOrganization")) \
        or None
    meta.original_url = _original_link(tree, page_url, metas)
    return meta


def read_metadata_hints(data: bytes) -> PageHints:
    """The page's own title and description as a feed item would carry them (for measuring feed-guided
    extraction on pages that come without a feed)."""
    from worker.pages.decode import decode_page

    tree = lxml_html.document_fromstring(decode_page(data).text)
    meta = read_meta(tree, None)
    return PageHints(title=meta.title, summary=meta.description)
