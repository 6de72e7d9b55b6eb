"""Field rules every XML reader shares (pure), so feedparser's adapter and the lxml reader build the same model."""

from __future__ import annotations

from typing import Any

__all__ = ["Enclosures", "positive_int", "text", "update_period_minutes"]

_PERIOD_MINUTES = {"hourly": 60, "daily": 1440, "weekly": 10080, "monthly": 43200, "yearly": 525600}


def text(value: Any) -> str | None:
    """``value`` as a string, None when missing or only white space."""
    if value is None:
        return None
    s = value if isinstance(value, str) else str(value)
    return s if s.strip() else None


def positive_int(value: Any) -> int | None:
    """A count or size written as text (``"12"``); None when unreadable or outside 1 .. 10**7 - 1."""
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if 0 < n < 10**7 else None


def update_period_minutes(period: Any, frequency: Any) -> int | None:
    """``sy:updatePeriod`` / ``sy:updateFrequency`` as minutes between updates (None when not given)."""
    if not period:
        return None
    minutes = _PERIOD_MINUTES.get(str(period).strip().lower())
    if minutes is None:
        return None
    return max(1, minutes // (positive_int(frequency) or 1))


class Enclosures:
    """An item's enclosures in the order added, one per URL: ``{"url", "type", "length"}``."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._seen: set[str] = set()

    def add(self, url: Any, typ: Any, length: Any) -> None:
        found = text(url)
        if found is None or found in self._seen:
            return
        self._seen.add(found)
        self.items.append({"url": found.strip(), "type": text(typ), "length": positive_int(length)})
