"""Terminal output: rich tables and progress bars on a TTY, plain quiet output when piped.

Text that came from a feed, a page, a server or the database (titles, URLs, error messages) is printed as
text: :func:`terminal_safe` shows its control characters as escapes (an ESC sequence cannot retitle the
terminal or hide a line), and in rich output it is a :class:`rich.text.Text`, never markup (``[link=...]`` or
``[/]`` in a feed title is printed as written).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from worker.cli.safe_text import terminal_safe
from worker.feed_state.model import Feed
from worker.redaction import redact

T = TypeVar("T")

def plain(value: object, style: str = "") -> Text:
    """A rich cell holding ``value`` as literal, terminal-safe text (never parsed as markup or emoji codes)."""
    return Text(terminal_safe(value), style=style)


def ago(ts: datetime | None) -> str:
    """How long ago (or, for a future time, how soon) ``ts`` is: "5m ago", "in 2h", "never"."""
    if ts is None:
        return "never"
    secs = (datetime.now(UTC) - ts).total_seconds()
    if secs < 0:
        secs = -secs
        return f"in {span(secs)}"
    return f"{span(secs)} ago"


def span(secs: float) -> str:
    """A duration in its largest sensible unit: "45s", "12m", "3h", "2d"."""
    if secs < 90:
        return f"{int(secs)}s"
    if secs < 5400:
        return f"{int(secs // 60)}m"
    if secs < 172800:
        return f"{int(secs // 3600)}h"
    return f"{int(secs // 86400)}d"


def progress(items: Iterable[T], label: str, *, enabled: bool = True, total: int | None = None) -> Iterator[T]:
    """Yield ``items``, drawing a progress bar on stderr when it is a terminal and there is more than one
    (``total``: the count, for an iterator that has no length)."""
    count = total if total is not None else len(items) if isinstance(items, Sequence) else 0
    if not enabled or count < 2 or not sys.stderr.isatty():
        yield from items
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=count)
        for item in items:
            yield item
            bar.advance(task)


def feeds_table(rows: Iterable[Feed]) -> None:
    table = Table(title="feeds", show_lines=False)
    for col in ("id", "state", "title / url", "last fetch", "next fetch", "errors", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        if r.disabled_at:
            state, reason = plain("disabled", "red"), r.disabled_reason or ""
        elif r.error_count:
            state, reason = plain("failing", "yellow"), r.last_error or ""
        else:
            state, reason = plain("ok", "green"), ""
        url = redact(r.url)  # a feed URL may carry credentials (user:password@, ?token=)
        name = Text.assemble(plain(r.title), "\n", plain(url, "dim")) if r.title else plain(url)
        table.add_row(str(r.id), state, name, ago(r.last_fetched_at),
                      "-" if r.disabled_at else ago(r.next_fetch_at), str(r.error_count), plain(reason))
    Console().print(table)
