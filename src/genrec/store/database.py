"""The durable feedback store: what users did with the recommendations, and what was served.

Feedback events (impressions, clicks, ratings, ...) and the recommendation lists as they were
served are the raw material for learning later. They are written through SQLAlchemy Core to SQLite
(a single file, the default) or PostgreSQL (several servers sharing one database); both behave the
same. Every write commits before it returns. A client may send an ``idempotency_key`` with an event
so that a retried request is stored once.

The schema is created and migrated when a store opens: ``_MIGRATIONS`` is an ordered list of steps
and ``genrec_schema`` records how many have been applied. Opening is safe when several processes
start at once (an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), and a database
migrated by a newer genrec is refused rather than misread.

The records themselves (:class:`FeedbackEvent`, :class:`ServedList`) live in ``records.py``, which
needs no database driver; ``frames.py`` turns the tables into pandas frames and export files.
This module needs SQLAlchemy (the ``serve`` extra); :func:`genrec.store.open_store` says so when
it is missing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Engine, make_url

from genrec.store import frames
from genrec.store.records import (
    EVENTS,
    FeedbackEvent,
    ServedList,
    StoreError,
    as_utc,
    normalize_url,
)

__all__ = ["SCHEMA_VERSION", "FeedbackStore"]

# pg_advisory_xact_lock key that serializes schema migrations ("genrec" in ASCII).
_MIGRATION_LOCK_KEY = 0x67656E726563
# Execution option that makes a SQLite transaction begin with BEGIN IMMEDIATE (takes the write
# lock up front, so a writer never fails to upgrade a read lock; busy_timeout applies instead).
_WRITE_OPTION = "genrec_write"
_SQLITE_BUSY_TIMEOUT_S = 10.0
_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout={int(_SQLITE_BUSY_TIMEOUT_S * 1000)}",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
)


# --- schema ---------------------------------------------------------------------------------------

_metadata = sa.MetaData()

_schema_table = sa.Table(
    "genrec_schema",
    _metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

_feedback = sa.Table(
    "feedback",
    _metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("recommendation_id", sa.Text, nullable=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("item_id", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("received_at", sa.Double, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=True),
    sa.UniqueConstraint("idempotency_key", name="uq_feedback_idempotency_key"),
    sa.Index("ix_feedback_user_id", "user_id"),
    sa.Index("ix_feedback_recommendation_id", "recommendation_id"),
    sqlite_autoincrement=True,  # ids are never reused
)

_served = sa.Table(
    "served",
    _metadata,
    sa.Column("recommendation_id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=True),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("history", sa.Text, nullable=False),  # JSON list of item ids
    sa.Column("items", sa.Text, nullable=False),  # JSON list of item ids
    sa.Column("scores", sa.Text, nullable=False),  # JSON list of floats
    sa.Column("model_version", sa.Text, nullable=False),
    sa.Column("fallback", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("arm", sa.Text, nullable=True),  # A/B arm (migration 2); None outside a test
)


def _migration_1(conn: Connection) -> None:
    """Create the feedback and served tables with their indexes (as the code defines them
    now: later steps skip what a fresh database already has)."""
    _metadata.create_all(conn, tables=[_feedback, _served], checkfirst=False)


def _migration_2(conn: Connection) -> None:
    """Add ``served.arm``: which arm of an A/B test a list was served in."""
    if "arm" not in {c["name"] for c in sa.inspect(conn).get_columns("served")}:
        conn.execute(sa.text("ALTER TABLE served ADD COLUMN arm TEXT"))


# Ordered; step i (1-based) moves the schema from version i - 1 to version i. Append, never edit.
_MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_migration_1, _migration_2)
SCHEMA_VERSION = len(_MIGRATIONS)


# --- the store ------------------------------------------------------------------------------------


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _from_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection) -> None:
    """Apply ``_SQLITE_PRAGMAS`` to a new connection.

    Switching a fresh file to WAL needs an exclusive lock, and SQLite reports "database is locked"
    at once (without waiting for busy_timeout) when another connection holds a write lock, as when
    several processes open a new database together; such pragmas are retried until the timeout.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_S
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            while True:
                try:
                    cursor.execute(pragma).fetchall()
                    break
                except sqlite3.OperationalError as exc:
                    busy = "locked" in str(exc) or "busy" in str(exc)
                    if not busy or time.monotonic() > deadline:
                        raise
                    time.sleep(0.005)
    finally:
        cursor.close()


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class FeedbackStore:
    """Feedback events and served lists in SQLite or PostgreSQL; thread- and process-safe."""

    schema_version: int

    def __init__(self, url: str) -> None:
        self._url = self._parse(url)
        self._password = self._url.password
        try:
            self._engine = self._create_engine(self._url)
        except (ImportError, sa.exc.ArgumentError) as exc:
            raise self._error("cannot create an engine for", exc) from None
        self._writer = self._engine.execution_options(**{_WRITE_OPTION: True})
        try:
            self.schema_version = self._migrate()
        except StoreError:
            self._engine.dispose()
            raise
        except sa.exc.SQLAlchemyError as exc:
            self._engine.dispose()
            raise self._error("cannot open", exc) from exc

    # -- setup

    @staticmethod
    def _parse(url: str) -> URL:
        normalized = normalize_url(url)
        try:
            parsed = make_url(normalized)
        except Exception:
            # The message could quote the URL and its password: say only what kind of URL it was.
            raise StoreError(
                f"malformed database URL (scheme {normalized.split('://', 1)[0]!r})"
            ) from None
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:" and not database.startswith("file:"):
                try:
                    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"cannot create the directory for the SQLite database {database}: "
                        f"{exc.strerror or exc}"
                    ) from None
        return parsed

    @staticmethod
    def _create_engine(url: URL) -> Engine:
        if url.get_backend_name() == "sqlite":
            engine = sa.create_engine(url)

            @sa_event.listens_for(engine, "connect")
            def _on_connect(dbapi_connection: Any, _record: Any) -> None:
                # Take transaction control away from the sqlite3 module; "begin" emits BEGIN.
                dbapi_connection.isolation_level = None
                _sqlite_pragmas(dbapi_connection)

            @sa_event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                write = conn.get_execution_options().get(_WRITE_OPTION, False)
                conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

            return engine
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = 10
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    def _error(self, what: str, exc: BaseException) -> StoreError:
        detail = _first_line(exc)
        if self._password:
            detail = detail.replace(self._password, "***")
        backend = self._url.get_backend_name()
        return StoreError(f"{what} {backend} database {self.display_url}: {detail}")

    def _migrate(self) -> int:
        with self._writer.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            _schema_table.create(conn, checkfirst=True)
            version = conn.scalar(sa.select(_schema_table.c.version))
            if version is None:
                conn.execute(_schema_table.insert().values(version=0))
                version = 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"cannot use database {self.display_url}: its schema version {version} is "
                    f"newer than this genrec (knows {SCHEMA_VERSION}); upgrade genrec"
                )
            for step in _MIGRATIONS[version:]:
                step(conn)
            if version < SCHEMA_VERSION:
                conn.execute(_schema_table.update().values(version=SCHEMA_VERSION))
        return SCHEMA_VERSION

    # -- properties

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def display_url(self) -> str:
        """The database URL with its password masked."""
        return self._url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"FeedbackStore({self.display_url!r})"

    # -- writing

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        try:
            with self._writer.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise self._error(f"cannot {what} in", exc) from exc

    def _insert(self) -> Any:
        if self.dialect == "postgresql":
            return pg_dialect.insert(_feedback)
        return sqlite_dialect.insert(_feedback)

    def _add(self, conn: Connection, event: FeedbackEvent, received_at: float) -> tuple[int, bool]:
        row = {
            "recommendation_id": event.recommendation_id,
            "user_id": event.user_id,
            "item_id": event.item_id,
            "event": event.event,
            "value": event.value,
            "ts": _epoch(event.timestamp),
            "received_at": received_at,
            "idempotency_key": event.idempotency_key,
        }
        if event.idempotency_key is None:
            new_id = conn.execute(sa.insert(_feedback).values(row).returning(_feedback.c.id))
            return int(new_id.scalar_one()), True
        stmt = (
            self._insert()
            .values(row)
            .on_conflict_do_nothing(index_elements=[_feedback.c.idempotency_key])
            .returning(_feedback.c.id)
        )
        inserted = conn.execute(stmt).scalar_one_or_none()
        if inserted is not None:
            return int(inserted), True
        existing = conn.execute(
            sa.select(_feedback.c.id).where(_feedback.c.idempotency_key == event.idempotency_key)
        ).scalar_one()
        return int(existing), False

    def add_feedback(self, event: FeedbackEvent) -> tuple[int, bool]:
        """Store one event durably; returns (row id, created). A known idempotency key is kept."""
        return self.add_feedback_many([event])[0]

    def add_feedback_many(self, events: Sequence[FeedbackEvent]) -> list[tuple[int, bool]]:
        """Store events in one transaction (group commit); one (row id, created) per event."""
        if not events:
            return []
        received_at = time.time()
        with self._write("store feedback") as conn:
            return [self._add(conn, event, received_at) for event in events]

    def log_served(self, lists: Sequence[ServedList]) -> None:
        """Record served lists in one transaction; a known recommendation_id is ignored."""
        if not lists:
            return
        rows = [
            {
                "recommendation_id": served.recommendation_id,
                "user_id": served.user_id,
                "request": served.request,
                "history": json.dumps(list(served.history)),
                "items": json.dumps(list(served.items)),
                "scores": json.dumps([float(score) for score in served.scores]),
                "model_version": served.model_version,
                "fallback": bool(served.fallback),
                "created_at": _epoch(served.created_at),
                "arm": served.arm,
            }
            for served in lists
        ]
        insert = pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert
        stmt = insert(_served).on_conflict_do_nothing(index_elements=[_served.c.recommendation_id])
        with self._write("log served lists") as conn:
            conn.execute(stmt, rows)

    # -- reading

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise self._error("cannot read from", exc) from exc

    def served(self, recommendation_id: str) -> ServedList | None:
        """The served list with this id, or None."""
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(_served).where(_served.c.recommendation_id == recommendation_id)
                )
                .mappings()
                .one_or_none()
            )
        if row is None:
            return None
        return ServedList(
            recommendation_id=row["recommendation_id"],
            user_id=row["user_id"],
            request=row["request"],
            history=json.loads(row["history"]),
            items=json.loads(row["items"]),
            scores=[float(score) for score in json.loads(row["scores"])],
            model_version=row["model_version"],
            fallback=bool(row["fallback"]),
            created_at=_from_epoch(row["created_at"]),
            arm=row["arm"],
        )

    def count_feedback(self, event: str | None = None) -> int:
        """How many feedback events are stored (of one kind, if given)."""
        stmt = sa.select(sa.func.count()).select_from(_feedback)
        if event is not None:
            if event not in EVENTS:
                raise ValueError(f"unknown event {event!r}; expected one of {', '.join(EVENTS)}")
            stmt = stmt.where(_feedback.c.event == event)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def feedback_frame(self, since: datetime | None = None) -> pd.DataFrame:
        """All feedback events (at or after ``since``) ordered by id; timestamps as UTC
        datetimes."""
        columns = [_feedback.c[name] for name in frames.FEEDBACK_COLUMNS]
        query = sa.select(*columns).order_by(_feedback.c.id)
        if since is not None:
            query = query.where(_feedback.c.ts >= _epoch(as_utc(since, "since")))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return frames.feedback_frame(rows)

    def served_frame(self, since: datetime | None = None) -> pd.DataFrame:
        """All served lists (created at or after ``since``) ordered by creation time; list
        columns hold Python lists."""
        columns = [_served.c[name] for name in frames.SERVED_COLUMNS]
        order = (_served.c.created_at, _served.c.recommendation_id)
        query = sa.select(*columns).order_by(*order)
        if since is not None:
            query = query.where(_served.c.created_at >= _epoch(as_utc(since, "since")))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return frames.served_frame(rows)

    def export(self, path: str | Path, table: str = "feedback") -> Path:
        """Write a table to ``path`` as Parquet, CSV or JSON lines, chosen by its suffix.

        In CSV the list columns of ``served`` are JSON strings; Parquet and JSON lines keep lists.
        """
        target = frames.export_target(path, table)
        frame = self.feedback_frame() if table == "feedback" else self.served_frame()
        return frames.write_frame(frame, target, table)

    def close(self) -> None:
        """Release the connection pool; the store cannot be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
