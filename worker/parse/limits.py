"""The size limits every feed reader applies to a body before parsing it (pure constants, shared by
``worker.parse.feed`` and ``worker.parse.lxml_reader``)."""

from __future__ import annotations

MAX_ELEMENTS = 500_000  # tags in one body: feedparser spends ~3 µs per element, so this bounds it to ~1.5 s
MAX_REFERENCES = 2_000_000  # "&" in one body: each is a parser event (~2 µs); a legitimate 10 MB feed has < 1M
