"""Syndication boilerplate removal and attribution (pure). STUB: owned by the stories work (issue 5)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Cleaned:
    paragraphs: list[str]
    credit: str | None = None  # the original outlet named by a syndicator's wrapper, if any
    removed: list[str] = field(default_factory=list)  # what was cut, for debugging


def strip_boilerplate(paragraphs: list[str], feed_title: str | None = None) -> Cleaned:
    """Remove syndication wrappers (header credit line, "Read the original…", copyright footers)."""
    return Cleaned(paragraphs=list(paragraphs))
