"""The ``wirefeed`` command. Thin: parses arguments, calls the pipeline or store, prints results."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worker.cli.safe_text import terminal_safe as safe
from worker.errors import ConfigError, InputError, WirefeedError
from worker.redaction import redact
from worker.settings import Settings, load_settings


def _json_default(value: Any) -> Any:
    """Times as ISO 8601 (UTC offset included), anything else as its string."""
    iso = getattr(value, "isoformat", None)
    return iso() if callable(iso) else str(value)


def _print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, default=_json_default, indent=2) + "\n")


def _connect(settings: Settings):
    from worker.cli.session import connect_or_explain

    return connect_or_explain(settings)


def _require_schema(conn) -> None:
    from worker.migrations import pending

    with conn.transaction():
        missing = pending(conn)
    if missing:
        raise ConfigError(
            f"the database schema is not current ({len(missing)} migration(s) pending, first "
            f"{missing[0].version:04d}_{missing[0].name}): run `wirefeed migrate`")


# --- migrate -------------------------------------------------------------------------------------

def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    from worker.migrations import migrate

    try:
        with _connect(settings) as conn:
            applied = migrate(conn)
    except psycopg.errors.InsufficientPrivilege as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(
            f"the user in DATABASE_URL may not change the schema ({first}): run `wirefeed migrate` as the "
            "database owner; workers can then connect as a member of wirefeed_ingest") from None
    if applied:
        for m in applied:
            print(f"applied {m.version:04d}_{m.name}")
    else:
        print("schema is up to date")
    return 0


# --- feeds ---------------------------------------------------------------------------------------

def cmd_feeds_add(args: argparse.Namespace, settings: Settings) -> int:
    from worker.store import feeds as feed_store

    url = args.url.strip()
    if not url.startswith(("http://", "https://")):
        print(f"error: {safe(redact(url))!r} is not an http(s) URL", file=sys.stderr)
        return 1
    with _connect(settings) as conn:
        _require_schema(conn)
        with conn.transaction():
            known = feed_store.find_feed_id(conn, url)
        if known is None and not args.no_discover:
            from worker.fetch.discover import resolve_subscription

            sub = resolve_subscription(url, settings)  # an HTML page: subscribe the feed it links to
            if sub.discovered_from:
                # an href from the page: printed as text
                print(f"found feed {safe(redact(sub.url))} on {safe(redact(url))}")
            elif sub.note:
                print(f"note: {safe(sub.note)}", file=sys.stderr)
            url = sub.url
        with conn.transaction():
            res = feed_store.add_feed(conn, url, args.name, poll_interval=settings.default_interval)
    print(f"{'added' if res.created else 'already subscribed'}: feed {res.feed_id} {safe(redact(url))}")
    return 0


def cmd_feeds_enable(args: argparse.Namespace, settings: Settings) -> int:
    from worker.store import feeds as feed_store

    with _connect(settings) as conn:
        _require_schema(conn)
        with conn.transaction():
            feed = feed_store.get_feed(conn, args.feed_id)
            if feed is not None and feed_store.is_ingest_only(feed.url):
                print(f"error: feed {args.feed_id} is {feed_store.INGEST_ONLY}; run wirefeed ingest on the file "
                      "instead", file=sys.stderr)
                return 1
            ok = feed_store.enable_feed(conn, args.feed_id)
    if not ok:
        print(f"error: no feed with id {args.feed_id}", file=sys.stderr)
        return 1
    print(f"enabled: feed {args.feed_id} (errors cleared, due now)")
    return 0


def cmd_feeds_history(args: argparse.Namespace, settings: Settings) -> int:
    from worker.store import feeds as feed_store
    from worker.store import fetches as fetch_store

    with _connect(settings) as conn:
        _require_schema(conn)
        if not feed_store.existing_ids(conn, [args.feed_id]):
            print(f"error: no feed with id {args.feed_id}", file=sys.stderr)
            return 1
        rows = fetch_store.recent_fetches(conn, args.feed_id, args.limit)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"feed {args.feed_id}: no fetches recorded yet")
    for r in rows:
        what = r["outcome"] + (f" ({r['not_modified_by']})" if r["not_modified_by"] else "")
        entries = "" if r["entries_seen"] is None else f" entries {r['entries_seen']} ({r['entries_new']} new)"
        error = f" {safe(r['error_kind'])}: {safe(r['error_message'])}" if r["error_kind"] else ""
        print(f"{r['fetched_at']:%Y-%m-%d %H:%M:%S} {r['status'] or '-':>3} {what:<22} {r['bytes']:>9} B "
              f"{r['duration_ms']:>6} ms{entries}{error}")
    return 0


def cmd_feeds_set(args: argparse.Namespace, settings: Settings) -> int:
    """``wirefeed feeds set ID --pages MODE``: a feed's own page mode (``default``: WIREFEED_FETCH_PAGES)."""
    from worker.store import feeds as feed_store

    mode = None if args.pages == "default" else args.pages
    with _connect(settings) as conn:
        _require_schema(conn)
        with conn.transaction():
            ok = feed_store.set_page_mode(conn, args.feed_id, mode)
    if not ok:
        print(f"error: no feed with id {args.feed_id}", file=sys.stderr)
        return 1
    shown = mode or f"default (WIREFEED_FETCH_PAGES={settings.fetch_pages})"
    note = " (WIREFEED_FETCH_PAGES=never is set here: no page is fetched whatever a feed says)" \
        if settings.fetch_pages == "never" and mode not in (None, "never") else ""
    print(f"feed {args.feed_id}: pages {shown}{note}")
    return 0


def cmd_story(args: argparse.Namespace, settings: Settings) -> int:
    """``wirefeed story ID|URL``: the article's near-duplicate cluster, each member with why it is in it."""
    from dataclasses import asdict

    from worker.store.stories import story_members

    with _connect(settings) as conn:
        _require_schema(conn)
        members = story_members(conn, args.ref)
    if not members:
        print(f"error: no article with id or canonical URL {safe(args.ref)}", file=sys.stderr)
        return 1
    story_id = members[0].story_id
    if args.json:
        _print_json({"story_id": story_id, "members": [asdict(m) for m in members]})
        return 0
    print(f"story {story_id}: {len(members)} article{'s' if len(members) != 1 else ''}")
    for m in members:
        outlet = m.publisher or "?"
        if m.syndicator:
            outlet += f" (via {m.syndicator})"
        print(f"  {m.article_id:>9}  {m.published_at:%Y-%m-%d %H:%M}  {safe(outlet)} | {safe(m.title)}")
        score = f" {m.score:.3f}" if m.score is not None else ""
        linked = f" to {m.linked_to}" if m.linked_to is not None else ""
        print(f"             {m.method or 'unassigned'}{score}{linked}: {safe(m.reason or '-')}")
    return 0


def cmd_reindex_stories(args: argparse.Namespace, settings: Settings) -> int:
    """``wirefeed reindex-stories [--all]``: rebuild the near-duplicate index after a fingerprint change."""
    from worker.cli.console import progress
    from worker.pipeline_stories import reindex
    from worker.store.stories import count_stale

    with _connect(settings) as conn:
        _require_schema(conn)
        with conn.transaction():
            todo = count_stale(conn, everything=args.all)
        if not todo:
            print("nothing to re-index: every article has a current fingerprint (--all re-indexes them anyway)")
            return 0
        reindexed = assigned = 0
        steps = reindex(conn, everything=args.all, batch=args.batch)
        for step in progress(steps, "re-indexing", enabled=not args.json, total=-(-todo // args.batch)):
            reindexed, assigned = step.reindexed, step.assigned
    if args.json:
        _print_json({"reindexed": reindexed, "assigned": assigned})
    else:
        print(f"re-indexed {reindexed} articles; {assigned} without a fingerprint got a story decision")
    return 0


def cmd_feeds_import(args: argparse.Namespace, settings: Settings) -> int:
    from worker.fetch.local import read_local_file
    from worker.parse.opml import OpmlError, read_opml
    from worker.store import feeds as feed_store

    try:
        outlines = read_opml(read_local_file(Path(args.file), settings.max_feed_bytes))
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    except (OpmlError, InputError) as exc:
        print(f"error: {args.file}: {safe(exc)}", file=sys.stderr)
        return 1
    added = existing = 0
    with _connect(settings) as conn:
        _require_schema(conn)
        with conn.transaction():
            for o in outlines:
                res = feed_store.add_feed(conn, o.url, o.title, poll_interval=settings.default_interval)
                added += res.created
                existing += not res.created
    print(f"imported {len(outlines)} feeds from {args.file}: {added} new, {existing} already subscribed")
    return 0


def cmd_feeds_list(args: argparse.Namespace, settings: Settings) -> int:
    from worker.store import feeds as feed_store

    with _connect(settings) as conn:
        _require_schema(conn)
        rows = feed_store.list_feeds(conn)
    cols = ["id", "url", "title", "last_fetched_at", "next_fetch_at", "error_count", "last_error",
            "disabled_at", "disabled_reason"]
    if args.json:
        _print_json([{c: getattr(r, c) for c in cols} for r in rows])
        return 0
    from worker.cli.console import feeds_table

    feeds_table(rows)
    return 0


# --- ingest / fetch ------------------------------------------------------------------------------

def _isolated(session: Any, item: str, step: Any) -> Any:
    """One input through ``session.run`` (transient database failures retried); any other failure becomes
    that input's error report, and the command goes on with the next input."""
    from worker import retry
    from worker.errors import NEVER_SWALLOW
    from worker.ops.logs import get_logger
    from worker.pipeline import IngestReport

    try:
        return session.run(item, step)
    except NEVER_SWALLOW:
        raise
    except Exception as exc:
        get_logger(__name__).debug("input_failed", input=item, exc_info=True)
        with contextlib.suppress(Exception):  # the connection may be gone: the next step's retry reopens it
            session.conn.rollback()
        kind = retry.classify(exc)
        hint = (" (PostgreSQL stayed unavailable; run the command again once it is back)"
                if kind in ("database", "conflict")
                else " (unexpected: set WIREFEED_LOG_LEVEL=DEBUG for the traceback)")
        return IngestReport(input=item, status="error", error_kind=kind, error=retry.describe(exc, 300) + hint)


def _page_fetchers(settings: Settings) -> tuple[Any, Any]:
    """(robots, politeness) for pages fetched in this process: host limits shared with running workers."""
    from worker.fetch.politeness import HostPoliteness
    from worker.fetch.robots import Robots

    polite = HostPoliteness.from_settings(settings, max_wait=settings.sync_host_wait)
    return Robots(settings, client=polite.client, politeness=polite), polite


def _run_pages(session: Any, settings: Settings, rep: Any, fetchers: tuple[Any, Any]) -> None:
    """The input's pages, after its feed is stored; a failure here is a warning: the feed's items are in."""
    from worker import pipeline
    from worker.errors import NEVER_SWALLOW

    robots, polite = fetchers
    try:
        session.run(f"{rep.input} pages", lambda c: pipeline.fetch_pages_now(c, settings, rep, robots=robots,
                                                                              politeness=polite))
    except NEVER_SWALLOW:
        raise
    except Exception as exc:
        from worker import retry

        print(f"warning: {safe(rep.input)}: pages not fetched: {safe(retry.describe(exc, 300))}", file=sys.stderr)


def _pages_line(pages: dict[str, int]) -> str:
    if not pages:
        return ""
    order = ("extracted", "kept", "refused", "failed", "wait", "skipped")
    parts = [f"{pages[k]} {'waiting' if k == 'wait' else k}" for k in order if pages.get(k)]
    return "; pages: " + ", ".join(parts)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from worker import pipeline
    from worker.cli.console import progress
    from worker.cli.session import Session

    reports = []
    pages = not args.no_pages
    fetchers = _page_fetchers(settings) if pages and settings.fetch_pages != "never" else None
    with Session(settings) as session:
        session.run("schema check", _require_schema)
        for item in progress(args.inputs, "ingesting", enabled=not args.json):
            if item.startswith(("http://", "https://")):
                def step(conn: Any, item: str = item) -> Any:
                    return pipeline.ingest_url(conn, settings, item, pages=pages)
            else:
                def step(conn: Any, item: str = item) -> Any:
                    return pipeline.ingest_file(conn, settings, Path(item), force=args.force, pages=pages)
            rep = _isolated(session, item, step)
            if fetchers is not None and rep.status == "ok":
                _run_pages(session, settings, rep, fetchers)
            reports.append(rep)
            if rep.status != "ok":
                print(f"error: {safe(redact(item))}: {safe(rep.error)}", file=sys.stderr)
            elif rep.note:
                print(f"note: {safe(redact(item))}: {safe(rep.note)}", file=sys.stderr)
    totals = {k: sum(getattr(r, k) for r in reports)
              for k in ("entries", "new_articles", "duplicates", "near_duplicates", "updated", "skipped")}
    totals["inputs"] = len(reports)
    totals["errors"] = sum(r.status != "ok" for r in reports)
    if args.json:
        _print_json({"inputs": [r.as_json() for r in reports], "totals": totals})
    else:
        for r in reports:
            if r.status == "ok":
                extra = " (unchanged since last ingest)" if r.not_modified else ""
                print(f"{safe(redact(r.input))}: {r.entries} entries, {r.new_articles} new, {r.duplicates} duplicates, "
                      f"{r.near_duplicates} near-duplicates, {r.updated} updated, {r.skipped} skipped{extra}"
                      f"{_pages_line(r.pages)}")
        print(f"total: {totals['inputs']} inputs, {totals['errors']} failed, {totals['new_articles']} new articles")
    return 1 if totals["errors"] else 0


def _claim(conn: Any, args: argparse.Namespace, settings: Settings) -> list[tuple[int, int]] | None:
    """The feeds ``wirefeed fetch`` takes (claimed in PostgreSQL), with their claim numbers; None when a named
    feed does not exist."""
    from worker.store import feeds as feed_store

    with conn.transaction():
        if args.all:
            return feed_store.claim_ids(conn, feed_store.all_enabled_ids(conn), claim_seconds=settings.claim_timeout)
        if args.feed_ids:
            unknown = set(args.feed_ids) - set(feed_store.existing_ids(conn, args.feed_ids))
            if unknown:
                print(f"error: no feed with id {', '.join(map(str, sorted(unknown)))}", file=sys.stderr)
                return None
            return feed_store.claim_ids(conn, args.feed_ids, claim_seconds=settings.claim_timeout)
        return feed_store.claim_due(conn, limit=settings.schedule_batch, claim_seconds=settings.claim_timeout)


def cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    from worker import pipeline
    from worker.cli.console import progress
    from worker.cli.session import Session

    with Session(settings) as session:
        session.run("schema check", _require_schema)
        claims = session.run("claim", lambda c: _claim(c, args, settings))
        if claims is None:
            return 1
        ids = [feed_id for feed_id, _ in claims]
        if not ids:
            print("nothing to fetch (no feed due, or every named feed is claimed by a running fetch)")
            return 0
        if not args.sync:
            from worker.app import make_app

            app = make_app(settings)  # by task name: the command line never imports the tasks
            for feed_id, claim in claims:
                app.send_task("wirefeed.fetch_feed", args=(feed_id,), kwargs={"claim": claim})
            print(f"enqueued {len(ids)} feed(s) to the workers: {', '.join(map(str, ids))}")
            return 0
        from worker.fetch.politeness import HostPoliteness

        # shared with running workers; a host still busy after the wait postpones its feed
        polite = HostPoliteness.from_settings(settings, max_wait=settings.sync_host_wait)
        fetchers = _page_fetchers(settings) if settings.fetch_pages != "never" else None
        failed = 0
        for feed_id in progress(ids, "fetching", enabled=True):
            def step(c: Any, feed_id: int = feed_id) -> Any:
                return pipeline.refresh_feed(c, settings, feed_id, politeness=polite)

            rep = _isolated(session, f"feed {feed_id}", step)
            if fetchers is not None and rep.status == "ok":
                _run_pages(session, settings, rep, fetchers)
            if rep.status == "postponed":
                print(f"feed {feed_id}: postponed, {safe(rep.error)}")
                continue
            _print_fetch(feed_id, rep)
            failed += rep.status != "ok"
    return 1 if failed else 0


def _print_fetch(feed_id: int, rep: Any) -> None:
    if rep.status != "ok":
        print(f"error: feed {feed_id} {safe(redact(rep.input))}: {safe(rep.error)}", file=sys.stderr)
    elif rep.not_modified:
        print(f"feed {feed_id}: not modified")
    else:
        print(f"feed {feed_id}: {rep.entries} entries, {rep.new_articles} new, "
              f"{rep.duplicates} duplicates, {rep.near_duplicates} near-duplicates{_pages_line(rep.pages)}")


# --- status / worker / beat ----------------------------------------------------------------------

def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli.status_view import render_status
    from worker.ops.status import collect_status

    doc = collect_status(settings)
    if args.json:
        _print_json(doc)
    else:
        render_status(doc)
    return 0


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    from worker.ops import health

    checks = health.run_checks(settings, workers=args.workers, worker_names=tuple(args.worker),
                               beat=args.beat, beat_max_age=args.beat_max_age, timeout=args.timeout)
    if args.json:
        _print_json(health.report(checks))
    else:
        print(safe(health.render(checks), multiline=True))
    return 0 if all(c.ok for c in checks) else 1


def cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli.extract import cmd_extract as run

    return run(args, settings)


def cmd_celery(kind: str, extra: list[str]) -> int:
    from worker.app import app

    argv = [kind, *extra]
    if kind == "worker" and "--loglevel" not in " ".join(extra) and "-l" not in extra:
        argv += ["--loglevel", "INFO"]
    app.start(argv=argv)
    return 0


# --- wiring --------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wirefeed", description="News feed ingestion into PostgreSQL.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("migrate", help="apply database migrations (idempotent, safe to run concurrently)")

    feeds = sub.add_parser("feeds", help="manage subscriptions").add_subparsers(dest="feeds_command",
                                                                                required=True, metavar="ACTION")
    add = feeds.add_parser("add", help="subscribe a feed (idempotent on URL)")
    add.add_argument("url")
    add.add_argument("--name", help="a display title for the feed")
    add.add_argument("--no-discover", action="store_true",
                     help="subscribe the URL as given, without fetching it to look for a feed link")
    imp = feeds.add_parser("import", help="subscribe every feed of an OPML file")
    imp.add_argument("file")
    lst = feeds.add_parser("list", help="feeds with their state")
    lst.add_argument("--json", action="store_true")
    ena = feeds.add_parser("enable", help="re-enable a disabled feed (clears its errors, fetches it soon)")
    ena.add_argument("feed_id", type=int, metavar="ID")
    his = feeds.add_parser("history", help="a feed's recent fetches: status, bytes, time, entries, errors")
    his.add_argument("feed_id", type=int, metavar="ID")
    his.add_argument("--limit", type=int, default=20)
    his.add_argument("--json", action="store_true")
    fset = feeds.add_parser("set", help="a feed's own settings: --pages auto|always|never|default")
    fset.add_argument("feed_id", type=int, metavar="ID")
    fset.add_argument("--pages", required=True, choices=["auto", "always", "never", "default"],
                      help="when this feed's article pages are fetched (default: WIREFEED_FETCH_PAGES)")

    ing = sub.add_parser("ingest", help="run the whole pipeline on local feed files or URLs, no broker needed")
    ing.add_argument("inputs", nargs="+", metavar="PATH_OR_URL")
    ing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    ing.add_argument("--force", action="store_true", help="re-process files even when unchanged")
    ing.add_argument("--no-pages", action="store_true",
                     help="fetch no article page in this run, whatever WIREFEED_FETCH_PAGES says")

    fetch = sub.add_parser("fetch", help="fetch due (or all / named) feeds now")
    g = fetch.add_mutually_exclusive_group()
    g.add_argument("--all", action="store_true", help="every enabled feed, due or not")
    g.add_argument("feed_ids", nargs="*", type=int, default=[], metavar="FEED_ID")
    fetch.add_argument("--sync", action="store_true", help="fetch in this process instead of the workers")

    sto = sub.add_parser("story", help="an article's story: every copy with its outlet, title, score and reason")
    sto.add_argument("ref", metavar="ID|URL", help="an article id or canonical URL")
    sto.add_argument("--json", action="store_true")

    ri = sub.add_parser("reindex-stories", help="rebuild the near-duplicate index after a fingerprint change")
    ri.add_argument("--all", action="store_true", help="every article, not only those with an old fingerprint")
    ri.add_argument("--batch", type=int, default=500, help="articles per transaction (default 500)")
    ri.add_argument("--json", action="store_true")

    st = sub.add_parser("status", help="queues, workers, feeds due and in error, recent articles")
    st.add_argument("--json", action="store_true")

    hl = sub.add_parser("health", help="exit 0 when PostgreSQL, its schema and Redis are fine (and workers/beat, "
                                       "if asked); 1 otherwise")
    hl.add_argument("--workers", action="store_true", help="also require a Celery worker to answer a ping")
    hl.add_argument("--worker", action="append", default=[], metavar="NAME",
                    help="require this worker (e.g. fetch@host) to answer a ping; repeatable")
    hl.add_argument("--beat", action="store_true", help="also require a fresh heartbeat from beat")
    hl.add_argument("--beat-max-age", type=float, default=None, metavar="SECONDS",
                    help="oldest acceptable beat heartbeat (default: 3 schedule intervals, at least 60)")
    hl.add_argument("--timeout", type=float, default=2.0, metavar="SECONDS", help="worker ping timeout")
    hl.add_argument("--json", action="store_true")

    from worker.cli import extract as extract_cli

    extract_cli.add_parser(sub)

    sub.add_parser("worker", help="start a Celery worker (extra arguments go to Celery)", add_help=False)
    sub.add_parser("beat", help="start Celery beat, the scheduler (extra arguments go to Celery)", add_help=False)
    return p


HANDLERS = {
    "migrate": cmd_migrate,
    "ingest": cmd_ingest,
    "fetch": cmd_fetch,
    "status": cmd_status,
    "health": cmd_health,
    "story": cmd_story,
    "reindex-stories": cmd_reindex_stories,
    "extract": cmd_extract,
    ("feeds", "add"): cmd_feeds_add,
    ("feeds", "import"): cmd_feeds_import,
    ("feeds", "list"): cmd_feeds_list,
    ("feeds", "enable"): cmd_feeds_enable,
    ("feeds", "history"): cmd_feeds_history,
    ("feeds", "set"): cmd_feeds_set,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("worker", "beat"):
        try:
            settings = load_settings()
        except ConfigError as err:
            print(f"error: {safe(redact(err.reason))}", file=sys.stderr)
            return 2
        if argv[0] == "worker" and settings.metrics_port:
            # Before Celery starts: its command line loads installed plugins (Flower's imports prometheus_client),
            # and prometheus_client reads its multiprocess directory once, on that first import.
            from worker.ops.metrics import prepare_multiproc_dir

            prepare_multiproc_dir()
        return cmd_celery(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        from worker.ops.logs import configure

        configure(settings.effective_log_format, settings.log_level)
        key: Any = args.command if args.command != "feeds" else ("feeds", args.feeds_command)
        return HANDLERS[key](args, settings)
    except WirefeedError as err:
        print(f"error: {safe(redact(err.reason))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
