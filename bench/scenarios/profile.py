"""Where the time of an ingest goes: the pipeline in this process on a slice of the main set, each stage timed
(wall and this process's CPU), the PostgreSQL backend's own CPU read from ``/proc``, and the functions with
the most CPU time (cProfile, in a second pass). Two what-if runs beside it, each on a fresh database: the
same ingest with the full-text trigger of ``articles.search`` disabled, and with story assignment skipped
(every article its own story), so the report can say what each of those costs.
"""

from __future__ import annotations

import collections
import cProfile
import io
import os
import pstats
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.scenarios._util import create_db, drop_db

_STAGES = (
    ("pipeline", "parse_feed"),
    ("pipeline.article_store", "known_entries"),
    ("pipeline", "normalize_entries"),
    ("pipeline.article_store", "store_batch"),
    ("pipeline", "decide_stories"),  # inside store_batch: timed on its own line (stages are exclusive)
    ("pipeline", "write_stories"),
    ("pipeline.feed_store", "apply_update"),
    ("pipeline.article_store", "notify_new"),
)


def _backend_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # PostgreSQL on another host or in a container: not readable
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _timed_stages(pipeline: Any, conn_pid: int) -> Iterator[dict[str, list[float]]]:
    """Wrap the pipeline's stage functions: {stage: [wall, cpu, backend cpu]}."""
    totals: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
    saved: list[tuple[Any, str, Callable[..., Any]]] = []
    stack: list[list[float]] = []
    for owner, name in _STAGES:
        mod = pipeline
        for part in owner.split(".")[1:]:
            mod = getattr(mod, part)
        fn = getattr(mod, name)

        def wrapper(*a: Any, __fn: Callable[..., Any] = fn, __name: str = name, **k: Any) -> Any:
            start = (time.perf_counter(), time.process_time(), _backend_cpu(conn_pid))
            stack.append([0.0, 0.0, 0.0])
            try:
                return __fn(*a, **k)
            finally:
                inner = stack.pop()
                end = (time.perf_counter(), time.process_time(), _backend_cpu(conn_pid))
                incl = [e - b for e, b in zip(end, start, strict=True)]
                t = totals[__name]
                for i in range(3):
                    t[i] += incl[i] - inner[i]  # a stage called inside another counts once, on its own line
                if stack:
                    for i in range(3):
                        stack[-1][i] += incl[i]

        saved.append((mod, name, fn))
        setattr(mod, name, wrapper)
    try:
        yield totals
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)


def _ingest(url: str, paths: list[Path], *, profile: bool = False, stages: bool = False,
            no_stories: bool = False) -> dict[str, Any]:
    from worker import pipeline
    from worker.settings import Settings

    settings = Settings(DATABASE_URL=url)  # type: ignore[call-arg]
    out: dict[str, Any] = {}
    from worker.store.db import connect

    with connect(url) as conn:  # the session settings wirefeed's own connections get
        pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
        conn.commit()
        pipeline.ingest_file(conn, settings, paths[0])  # warm-up (language model, imports): not counted
        rest = paths[1:]
        saved_decide = pipeline.decide_stories
        if no_stories:
            from worker.pipeline_stories import StoryStep
            from worker.stories.decide import StoryLink

            def own_story(c: psycopg.Connection, new: list[tuple[int, Any]], changed: Any) -> StoryStep:
                links = {aid: StoryLink(aid, aid, None, "new", None, "bench: story assignment skipped")
                         for aid, _ in new}
                return StoryStep([], {}, links, [], [])

            pipeline.decide_stories = own_story  # type: ignore[assignment]
        prof = cProfile.Profile(time.process_time) if profile else None
        try:
            with _timed_stages(pipeline, pid) if stages else _null() as totals:
                w0, c0, b0 = time.perf_counter(), time.process_time(), _backend_cpu(pid)
                if prof:
                    prof.enable()
                n = 0
                for p in rest:
                    n += pipeline.ingest_file(conn, settings, p).entries
                if prof:
                    prof.disable()
                out.update(entries=n, wall_s=time.perf_counter() - w0, cpu_s=time.process_time() - c0,
                           backend_cpu_s=_backend_cpu(pid) - b0)
                if totals is not None:
                    out["stages"] = {k: list(v) for k, v in totals.items()}
        finally:
            pipeline.decide_stories = saved_decide
    if prof:
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        st.sort_stats("tottime").print_stats(25)
        out["top_tottime"] = _trim(buf.getvalue())
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(35)
        out["top_cumulative"] = _trim(buf.getvalue())
    return out


@contextmanager
def _null() -> Iterator[None]:
    yield None


def _trim(text: str) -> str:
    root = str(Path(__file__).resolve().parents[2]) + "/"
    lines = [ln.replace(root, "") for ln in text.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return "\n".join(ln[:170] for ln in lines[start:])


def run(paths: list[Path]) -> dict[str, Any]:
    out: dict[str, Any] = {"feeds": len(paths) - 1}
    for key, kw, prep in (
        ("stages", {"stages": True}, None),
        ("profile", {"profile": True}, None),
        ("no_search_trigger", {}, "search"),
        ("no_stories", {"no_stories": True}, None),
    ):
        name = f"wirefeed_bench_profile_{key}"
        url = create_db(name)
        try:
            if prep:
                with psycopg.connect(url) as conn:
                    names = [r[0] for r in conn.execute(
                        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'articles'::regclass AND NOT tgisinternal "
                        "AND tgname LIKE %s", (f"%{prep}%",)).fetchall()]
                    for t in names:
                        conn.execute(sql.SQL("ALTER TABLE articles DISABLE TRIGGER {}").format(sql.Identifier(t)))
                    conn.commit()
                out[f"{key}_disabled"] = names
            out[key] = _ingest(url, paths, **kw)
        finally:
            drop_db(name)
    return out
