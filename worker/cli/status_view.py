"""``wirefeed status`` on a terminal: the document ``worker.ops.status.collect_status`` builds, as a table.
Stored text (feed errors, URLs) is printed as text, never markup (``worker.cli.console.plain``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from worker.cli.console import ago, plain, span


def _age(iso: str | None) -> str:
    return f"{iso[:19].replace('T', ' ')} UTC ({ago(datetime.fromisoformat(iso))})" if iso else "never"


def render_status(doc: dict[str, Any]) -> None:
    c = Console()
    ok = "[green]ok[/green]"
    t = Table(title="wirefeed status", show_header=False, title_justify="left")
    t.add_column("what", style="bold")
    t.add_column("value", overflow="fold")
    t.add_row("database", ok if doc["database"] == "ok" else "[red]unreachable[/red]")
    t.add_row("broker", ok if doc["broker"] == "ok" else "[red]unreachable[/red]")
    if "workers" in doc:
        w = doc["workers"]
        style = "green" if w["alive"] else "red"
        t.add_row("workers alive", Text.assemble(plain(w["alive"], style), " ", plain(", ".join(w["names"]))))
        t.add_row("queues", ", ".join(f"{q}: {n} waiting" for q, n in doc["queues"].items())
                  + f"; {doc['in_flight']} in flight")
        b = doc["beat"]
        t.add_row("beat", f"last tick {span(b['age_seconds'])} ago" if b["age_seconds"] is not None
                  else "[yellow]no heartbeat[/yellow]")
    if "feeds" in doc:
        f = doc["feeds"]
        t.add_row("feeds", f"{f['total']} total: [green]{f['healthy']} healthy[/green], "
                           f"[yellow]{f['backing_off']} backing off[/yellow], [red]{f['disabled']} disabled[/red]")
        t.add_row("due now", f"{f['due']} (most overdue waits {span(f['scheduler_lag_seconds'])})")
        a = doc["articles"]
        t.add_row("articles", f"{a['total']} total, {a['last_hour']} in the last hour, {a['last_day']} in the last day")
        t.add_row("last ingest", _age(a["last_ingest_at"]))
    if "pages" in doc:
        p = doc["pages"]
        failed = ", ".join(f"{k} {n}" for k, n in p["failed_by_reason"].items())
        t.add_row("pages", plain(f"{p['pending']} waiting for a fetch, {p['fetched']} for extraction; last day: "
                                 f"{p['extracted_last_day']} extracted, {p['kept_last_day']} kept the feed's text, "
                                 f"{p['refused_last_day']} refused by robots.txt, {p['failed_last_day']} failed"
                                 + (f" ({failed})" if failed else "")))
    for p in doc["problems"]:  # exception text from PostgreSQL or Redis: printed as text
        t.add_row("[red]problem[/red]", plain(p))
    c.print(t)
    if doc.get("feeds", {}).get("top_errors"):
        e = Table(title="top error reasons", title_justify="left")
        e.add_column("kind")
        e.add_column("feeds", justify="right")
        e.add_column("example", overflow="fold")
        for row in doc["feeds"]["top_errors"]:
            e.add_row(plain(row["kind"]), str(row["feeds"]), plain(row["example"] or ""))  # a feed's error text
        c.print(e)
