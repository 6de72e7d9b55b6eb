"""One settings object, read from the environment (and an optional ``.env``), validated at start."""

from __future__ import annotations

import os
import re
import sys
import urllib.parse
from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.errors import ConfigError
from worker.redaction import redact

_UNPARSED = "not a valid PostgreSQL URL or conninfo string"


class Settings(BaseSettings):
    """Every knob wirefeed has. Contract names have no prefix; the rest are ``WIREFEED_*``."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field("postgresql://localhost/wirefeed", alias="DATABASE_URL")
    redis_url: str = Field("redis://localhost:6379/0", alias="REDIS_URL")
    allow_private_addresses: bool = Field(False, alias="WIREFEED_ALLOW_PRIVATE_ADDRESSES")
    max_feed_bytes: int = Field(10 * 1024 * 1024, alias="WIREFEED_MAX_FEED_BYTES", gt=0)
    # entries read from one body (the first ones in document order); the rest are ignored with a note
    max_entries_per_feed: int = Field(1000, alias="WIREFEED_MAX_ENTRIES_PER_FEED", gt=0)
    log_format: Literal["json", "console"] | None = Field(None, alias="WIREFEED_LOG_FORMAT")
    log_level: str = Field("INFO", alias="WIREFEED_LOG_LEVEL")

    # fetching
    connect_timeout: float = Field(10.0, alias="WIREFEED_CONNECT_TIMEOUT", gt=0)
    read_timeout: float = Field(30.0, alias="WIREFEED_READ_TIMEOUT", gt=0)
    fetch_deadline: float = Field(60.0, alias="WIREFEED_FETCH_DEADLINE", gt=0)
    contact_url: str = Field("https://github.com/wirefeed/wirefeed", alias="WIREFEED_CONTACT_URL")
    host_max_in_flight: int = Field(2, alias="WIREFEED_HOST_MAX_IN_FLIGHT", gt=0)
    host_min_gap: float = Field(1.0, alias="WIREFEED_HOST_MIN_GAP_SECONDS", ge=0)
    # A fetch task whose host is busy comes back after the wait (up to this long, this many times);
    # a longer wait, or one more, moves the feed's next fetch instead and ends the task.
    host_busy_wait_max: float = Field(60.0, alias="WIREFEED_HOST_BUSY_WAIT_MAX_SECONDS", gt=0)
    host_busy_waits: int = Field(8, alias="WIREFEED_HOST_BUSY_WAITS", ge=0)
    sync_host_wait: float = Field(30.0, alias="WIREFEED_SYNC_HOST_WAIT_SECONDS", ge=0)  # `fetch --sync` sleeps
    # PEM file of extra certificate authorities trusted for HTTPS feeds, beside the default bundle (a private
    # CA; the tests' throwaway one)
    extra_ca_file: str | None = Field(None, alias="WIREFEED_EXTRA_CA_FILE")

    # article pages (worker.pipeline_pages): when to fetch them, how large, robots.txt caching
    fetch_pages: Literal["auto", "always", "never"] = Field("auto", alias="WIREFEED_FETCH_PAGES")
    max_page_bytes: int = Field(5 * 1024 * 1024, alias="WIREFEED_MAX_PAGE_BYTES", gt=0)
    robots_ttl: int = Field(86400, alias="WIREFEED_ROBOTS_TTL_SECONDS", gt=0)  # a fetched robots.txt is kept
    robots_retry: int = Field(300, alias="WIREFEED_ROBOTS_RETRY_SECONDS", gt=0)  # after a 5xx: the host waits
    page_retries: int = Field(3, alias="WIREFEED_PAGE_RETRIES", ge=0)  # a page timing out or 5xx: retried

    # scheduling, backoff and disabling (worker.feed_state.decide)
    min_interval: int = Field(300, alias="WIREFEED_MIN_INTERVAL_SECONDS", gt=0)
    max_interval: int = Field(86400, alias="WIREFEED_MAX_INTERVAL_SECONDS", gt=0)
    default_interval: int = Field(1800, alias="WIREFEED_DEFAULT_INTERVAL_SECONDS", gt=0)
    backoff_base: float = Field(120.0, alias="WIREFEED_BACKOFF_BASE_SECONDS", gt=0)
    disable_after_errors: int = Field(20, alias="WIREFEED_DISABLE_AFTER_ERRORS", gt=0)
    disable_after_days: float = Field(3.0, alias="WIREFEED_DISABLE_AFTER_DAYS", ge=0)
    claim_timeout: int = Field(600, alias="WIREFEED_CLAIM_TIMEOUT_SECONDS", gt=0)  # the last resort
    # Workers write a heartbeat to PostgreSQL this often; the scheduler gives back the claims of a worker
    # silent for WIREFEED_WORKER_DEAD_SECONDS on its next tick (so a dead worker's feeds are due again
    # within dead + WIREFEED_SCHEDULE_EVERY_SECONDS: 20 + 30 s by default).
    worker_heartbeat: float = Field(5.0, alias="WIREFEED_WORKER_HEARTBEAT_SECONDS", gt=0)
    worker_dead_after: float = Field(20.0, alias="WIREFEED_WORKER_DEAD_SECONDS", gt=0)
    schedule_every: float = Field(30.0, alias="WIREFEED_SCHEDULE_EVERY_SECONDS", gt=0)
    schedule_batch: int = Field(500, alias="WIREFEED_SCHEDULE_BATCH", gt=0)
    fetch_history_days: int = Field(30, alias="WIREFEED_FETCH_HISTORY_DAYS", gt=0)

    # delivery: time limits per task, broker visibility timeout, worker recycling
    task_soft_time_limit: int = Field(300, alias="WIREFEED_TASK_SOFT_TIME_LIMIT_SECONDS", ge=0)  # 0: none
    task_time_limit: int = Field(360, alias="WIREFEED_TASK_TIME_LIMIT_SECONDS", gt=0)
    visibility_timeout: int = Field(900, alias="WIREFEED_VISIBILITY_TIMEOUT_SECONDS", gt=0)
    worker_max_tasks_per_child: int = Field(2000, alias="WIREFEED_WORKER_MAX_TASKS_PER_CHILD", gt=0)
    worker_max_memory_per_child: int = Field(600_000, alias="WIREFEED_WORKER_MAX_MEMORY_PER_CHILD_KB", gt=0)

    # task retries (worker.retry.Policy): attempts and backoff per kind of failure
    poison_attempts: int = Field(3, alias="WIREFEED_POISON_ATTEMPTS", gt=0)
    retry_max_transient: int = Field(10, alias="WIREFEED_RETRY_MAX_TRANSIENT", gt=0)
    retry_max_conflict: int = Field(10, alias="WIREFEED_RETRY_MAX_CONFLICT", gt=0)
    retry_base: float = Field(2.0, alias="WIREFEED_RETRY_BASE_SECONDS", gt=0)
    retry_cap: float = Field(120.0, alias="WIREFEED_RETRY_CAP_SECONDS", gt=0)
    retry_conflict_base: float = Field(0.2, alias="WIREFEED_RETRY_CONFLICT_BASE_SECONDS", gt=0)
    retry_conflict_cap: float = Field(5.0, alias="WIREFEED_RETRY_CONFLICT_CAP_SECONDS", gt=0)

    # PostgreSQL sessions: a runaway statement or lock wait never holds a worker for long
    db_statement_timeout: float = Field(120.0, alias="WIREFEED_DB_STATEMENT_TIMEOUT_SECONDS", gt=0)
    db_lock_timeout: float = Field(30.0, alias="WIREFEED_DB_LOCK_TIMEOUT_SECONDS", gt=0)
    db_idle_in_transaction_timeout: float = Field(
        300.0, alias="WIREFEED_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", gt=0)
    db_connect_timeout: int = Field(10, alias="WIREFEED_DB_CONNECT_TIMEOUT_SECONDS", gt=0)
    db_pool_size: int = Field(8, alias="WIREFEED_DB_POOL_SIZE", gt=0)  # connections per worker process
    db_pool_timeout: float = Field(15.0, alias="WIREFEED_DB_POOL_TIMEOUT_SECONDS", gt=0)

    # normalisation
    default_timezone: str = Field("UTC", alias="WIREFEED_DEFAULT_TIMEZONE")
    future_skew_seconds: int = Field(3600, alias="WIREFEED_FUTURE_SKEW_SECONDS", ge=0)

    # observability
    metrics_port: int = Field(0, alias="WIREFEED_METRICS_PORT", ge=0, le=65535)

    @model_validator(mode="after")
    def _heartbeat_margin(self) -> Settings:
        if self.worker_dead_after < 3 * self.worker_heartbeat:
            raise ValueError("WIREFEED_WORKER_DEAD_SECONDS must be at least 3 x WIREFEED_WORKER_HEARTBEAT_SECONDS "
                             "(a live worker missing one beat must not be taken for dead)")
        return self

    @field_validator("database_url")
    @classmethod
    def _pg_url(cls, v: str) -> str:
        if "://" in v and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL or a libpq conninfo string")
        import psycopg

        try:
            psycopg.conninfo.conninfo_to_dict(v)
        except psycopg.Error as exc:
            # libpq quotes the part it stumbled on, which may be a piece of the password: not repeated
            reason = re.sub(r'"[^"]*"', '"…"', str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            raise ValueError(f"{_UNPARSED}: {reason}") from None
        return v

    @field_validator("extra_ca_file")
    @classmethod
    def _ca_file(cls, v: str | None) -> str | None:
        if v and not os.path.isfile(v):
            raise ValueError("no such file")
        return v or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(v).query)
        given = sorted(k for k in query if k.lower() in ("password", "username"))
        if given:  # kombu (Celery's Redis transport) fails on them with a TypeError at the first connection
            raise ValueError(f"{' and '.join(given)} cannot be a query parameter here (Celery's Redis transport "
                             "cannot read it): write it in the URL's user info, before the host and an @ sign, "
                             "as the README's REDIS_URL row shows")
        return v

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "console" if sys.stderr.isatty() else "json"


def load_settings() -> Settings:
    """Read and validate the environment; a bad value becomes one ConfigError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            field = Settings.model_fields.get(name)
            env = field.alias if field is not None and field.alias else name
            got = err.get("input")
            msg = redact(err["msg"])
            if _UNPARSED in msg:  # where its password ends is unknown: the value is not shown at all
                problems.append(f"{env}: {msg}")
                continue
            shown = repr(redact(got)) if isinstance(got, str) else repr(got)  # a URL's password stays hidden
            problems.append(f"{env}: {msg} (got {shown})")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read on first use (never at import)."""
    return load_settings()


def defaults() -> Settings:
    """Every knob at its documented default, without reading the environment."""
    return Settings.model_construct()
