"""The feedback store, run against SQLite and PostgreSQL alike (see postgres_url in conftest.py)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from genrec.store import (
    EVENTS,
    FeedbackEvent,
    ServedList,
    StoreError,
    default_sqlite_url,
    normalize_url,
)
from genrec.store.database import SCHEMA_VERSION, FeedbackStore

from synthetic import free_port

T0 = datetime(2024, 5, 17, 9, 30, 15, 123457, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty database of each backend."""
    if request.param == "sqlite":
        return default_sqlite_url(tmp_path)
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[FeedbackStore]:
    opened = FeedbackStore(db_url)
    try:
        yield opened
    finally:
        opened.close()


def click(user: str = "u1", item: str = "i1", key: str | None = None, **kw: Any) -> FeedbackEvent:
    return FeedbackEvent(user, item, "click", T0, idempotency_key=key, **kw)


def _plain(value: Any) -> Any:
    """A cell as a comparable Python value: missing -> None, timestamps -> ISO UTC strings."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return pd.Timestamp(value).tz_convert("UTC").isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, str) and value.startswith("["):
        return json.loads(value)
    return value


def records(frame: pd.DataFrame, time_columns: tuple[str, ...]) -> list[dict[str, Any]]:
    frame = frame.copy()
    for name in time_columns:
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return [
        {name: _plain(value) for name, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


# --- events -----------------------------------------------------------------------------------


def test_events_round_trip_with_all_fields(store: FeedbackStore) -> None:
    local = T0.astimezone(timezone(timedelta(hours=-5)))
    rating = FeedbackEvent("u1", "i9", "rating", local, 4.5, "rec-1", "key-1")
    row_id, created = store.add_feedback(rating)
    minimal_id, _ = store.add_feedback(FeedbackEvent("u2", "i3", "impression", T0))
    assert created and minimal_id > row_id

    frame = store.feedback_frame()
    assert list(frame.columns) == [
        "id",
        "recommendation_id",
        "user_id",
        "item_id",
        "event",
        "value",
        "timestamp",
        "received_at",
        "idempotency_key",
    ]
    assert str(frame["timestamp"].dt.tz) == "UTC" and str(frame["received_at"].dt.tz) == "UTC"
    first, second = frame.to_dict(orient="records")
    assert first["id"] == row_id
    assert (first["user_id"], first["item_id"], first["event"]) == ("u1", "i9", "rating")
    assert first["value"] == 4.5
    assert first["recommendation_id"] == "rec-1" and first["idempotency_key"] == "key-1"
    assert first["timestamp"] == pd.Timestamp(T0)  # exact to the microsecond, in UTC
    assert abs(first["received_at"] - pd.Timestamp.now(tz="UTC")) < pd.Timedelta(minutes=1)
    assert second["recommendation_id"] is None and second["idempotency_key"] is None
    assert math.isnan(second["value"])


def test_naive_timestamp_means_utc() -> None:
    event = FeedbackEvent("u", "i", "click", T0.replace(tzinfo=None))
    assert event.timestamp == T0 and event.timestamp.tzinfo is UTC


def test_repeated_idempotency_key_stores_nothing_twice(store: FeedbackStore) -> None:
    first = store.add_feedback(click(key="retry-me"))
    again = store.add_feedback(click(item="other", key="retry-me"))
    assert first[1] is True
    assert again == (first[0], False)
    assert store.count_feedback() == 1
    assert store.feedback_frame()["item_id"].tolist() == ["i1"]


def test_repeated_key_within_one_batch_is_stored_once(store: FeedbackStore) -> None:
    store.add_feedback(click(key="old"))
    results = store.add_feedback_many(
        [click(key="a"), click(key="old"), click(key="a"), click(), click()]
    )
    assert [created for _, created in results] == [True, False, False, True, True]
    assert results[2][0] == results[0][0]
    assert len({row_id for row_id, _ in results}) == 4
    assert store.count_feedback() == 4  # "old", "a" and the two events without a key
    assert store.add_feedback_many([]) == []


def test_rating_requires_a_finite_value() -> None:
    with pytest.raises(ValueError, match="rating"):
        FeedbackEvent("u", "i", "rating", T0)
    with pytest.raises(ValueError, match="rating"):
        FeedbackEvent("u", "i", "rating", T0, value=math.nan)
    assert FeedbackEvent("u", "i", "rating", T0, value=3).value == 3.0


def test_other_events_refuse_a_value() -> None:
    with pytest.raises(ValueError, match="'click'"):
        FeedbackEvent("u", "i", "click", T0, value=1.0)


def test_unknown_event_is_refused_naming_the_allowed_ones(store: FeedbackStore) -> None:
    with pytest.raises(ValueError, match="'view'") as excinfo:
        FeedbackEvent("u", "i", "view", T0)
    assert all(name in str(excinfo.value) for name in EVENTS)
    with pytest.raises(ValueError, match="'view'"):
        store.count_feedback("view")


def test_counts_by_event(store: FeedbackStore) -> None:
    store.add_feedback_many(
        [click(), click(), FeedbackEvent("u", "i", "like", T0), FeedbackEvent("u", "i", "skip", T0)]
    )
    assert store.count_feedback() == 4
    assert store.count_feedback("click") == 2
    assert store.count_feedback("like") == 1
    assert store.count_feedback("purchase") == 0


# --- schema -----------------------------------------------------------------------------------


def test_schema_is_created_on_first_open_and_reopening_keeps_data(db_url: str) -> None:
    with FeedbackStore(db_url) as first:
        assert first.schema_version == SCHEMA_VERSION
        first.add_feedback(click(key="k"))
    engine = sa.create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version FROM genrec_schema")).all()
            assert rows == [(SCHEMA_VERSION,)]
        tables = set(sa.inspect(engine).get_table_names())
        assert {"genrec_schema", "feedback", "served"} <= tables
    finally:
        engine.dispose()
    with FeedbackStore(db_url) as again:
        assert again.schema_version == SCHEMA_VERSION
        assert again.count_feedback() == 1
        assert again.add_feedback(click(key="k"))[1] is False


def test_a_version_1_database_gains_the_arm_column_and_keeps_its_lists(db_url: str) -> None:
    engine = sa.create_engine(normalize_url(db_url))
    try:
        with engine.begin() as conn:  # the schema genrec wrote before A/B tests
            conn.execute(sa.text("CREATE TABLE genrec_schema (version INTEGER NOT NULL)"))
            conn.execute(sa.text("INSERT INTO genrec_schema VALUES (1)"))
            conn.execute(sa.text(
                "CREATE TABLE served (recommendation_id TEXT PRIMARY KEY, user_id TEXT, "
                "request TEXT NOT NULL, history TEXT NOT NULL, items TEXT NOT NULL, "
                "scores TEXT NOT NULL, model_version TEXT NOT NULL, fallback BOOLEAN NOT NULL, "
                "created_at DOUBLE PRECISION NOT NULL)"))  # fmt: skip
            conn.execute(sa.text(
                "INSERT INTO served VALUES ('old', 'u1', '', '[]', '[\"i1\"]', '[1.0]', 'v1', "
                "false, 0)"))  # fmt: skip
            conn.execute(sa.text("CREATE TABLE feedback (id INTEGER PRIMARY KEY)"))
    finally:
        engine.dispose()
    with FeedbackStore(db_url) as store:
        assert store.schema_version == SCHEMA_VERSION
        old = store.served("old")
        assert old is not None and old.items == ["i1"] and old.arm is None
        store.log_served([served_list("new", arm="candidate")])
        assert store.served("new").arm == "candidate"
        assert list(store.served_frame()["arm"]) == [None, "candidate"]


def test_database_with_a_newer_schema_is_refused(db_url: str) -> None:
    FeedbackStore(db_url).close()
    engine = sa.create_engine(normalize_url(db_url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE genrec_schema SET version = 99"))
    finally:
        engine.dispose()
    with pytest.raises(
        StoreError, match=rf"schema version 99 is newer than this genrec \(knows {SCHEMA_VERSION}\)"
    ):
        FeedbackStore(db_url)


def test_stores_opening_at_once_migrate_once(db_url: str) -> None:
    barrier = threading.Barrier(4)
    versions: list[int] = []
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            barrier.wait()
            with FeedbackStore(db_url) as opened:
                versions.append(opened.schema_version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and versions == [SCHEMA_VERSION] * 4
    engine = sa.create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version FROM genrec_schema")).all()
            assert rows == [(SCHEMA_VERSION,)]
    finally:
        engine.dispose()


# --- concurrency ------------------------------------------------------------------------------


def test_concurrent_writers_from_8_threads_lose_nothing(store: FeedbackStore) -> None:
    threads_n, per_thread = 8, 50
    barrier = threading.Barrier(threads_n)
    ids: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def write(worker: int) -> None:
        try:
            barrier.wait()
            for n in range(per_thread):
                key = f"w{worker}-{n}" if n % 2 else None
                row_id, created = store.add_feedback(click(f"u{worker}", f"i{n}", key=key))
                assert created
                with lock:
                    ids.append(row_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(ids) == len(set(ids)) == threads_n * per_thread
    assert store.count_feedback() == threads_n * per_thread
    frame = store.feedback_frame()
    assert frame["id"].is_monotonic_increasing and sorted(ids) == frame["id"].tolist()


def test_retries_of_one_key_from_many_threads_store_it_once(store: FeedbackStore) -> None:
    barrier = threading.Barrier(6)
    results: list[tuple[int, bool]] = []

    def retry() -> None:
        barrier.wait()
        results.append(store.add_feedback(click(key="same-request")))

    threads = [threading.Thread(target=retry) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created for _, created in results) == [False] * 5 + [True]
    assert len({row_id for row_id, _ in results}) == 1
    assert store.count_feedback() == 1


# --- served lists -----------------------------------------------------------------------------


def served_list(rec_id: str, user: str | None = "u1", **kw: Any) -> ServedList:
    fields: dict[str, Any] = {
        "recommendation_id": rec_id,
        "user_id": user,
        "request": '{"user_id": "u1", "k": 3}',
        "history": ["i1", "i2"],
        "items": ["i7", "i8", "i9"],
        "scores": [0.75, 0.5, 0.125],
        "model_version": "sasrec-2024-05",
        "fallback": False,
        "created_at": T0,
    }
    fields.update(kw)
    return ServedList(**fields)


def test_served_lists_round_trip(store: FeedbackStore) -> None:
    first = served_list("rec-1")
    anonymous = served_list(
        "rec-2", user=None, history=[], fallback=True, created_at=T0 + timedelta(seconds=1)
    )
    store.log_served([first, anonymous])
    store.log_served([served_list("rec-1", items=["changed"])])  # a repeated id is ignored
    store.log_served([])
    assert store.served("rec-1") == first
    assert store.served("rec-2") == anonymous
    assert store.served("missing") is None

    frame = store.served_frame()
    assert frame["recommendation_id"].tolist() == ["rec-1", "rec-2"]
    assert frame["items"].tolist() == [["i7", "i8", "i9"]] * 2
    assert frame["scores"].tolist()[0] == [0.75, 0.5, 0.125]
    assert frame["history"].tolist() == [["i1", "i2"], []]
    assert frame["fallback"].tolist() == [False, True]
    assert frame["user_id"].tolist() == ["u1", None]
    assert frame["created_at"].tolist()[0] == pd.Timestamp(T0)


# --- export -----------------------------------------------------------------------------------


def test_export_to_parquet_csv_and_jsonl_gives_the_same_rows(
    store: FeedbackStore, tmp_path: Path
) -> None:
    store.add_feedback_many(
        [
            FeedbackEvent("u1", "i1", "rating", T0, 2.5, "rec-1", "k1"),
            click("u2", "i2"),
            FeedbackEvent("u3", "i3", "purchase", T0 + timedelta(hours=1), recommendation_id="r"),
        ]
    )
    store.log_served([served_list("rec-1"), served_list("rec-2", user=None, history=[])])

    for table, times in (
        ("feedback", ("timestamp", "received_at")),
        ("served", ("created_at",)),
    ):
        expected = store.feedback_frame() if table == "feedback" else store.served_frame()
        want = records(expected, times)
        assert len(want) == (3 if table == "feedback" else 2)
        parquet = store.export(tmp_path / f"{table}.parquet", table=table)
        csv = store.export(tmp_path / "nested" / f"{table}.csv", table=table)
        jsonl = store.export(tmp_path / f"{table}.jsonl", table=table)
        assert records(pd.read_parquet(parquet), times) == want
        assert records(pd.read_csv(csv), times) == want
        assert records(pd.read_json(jsonl, lines=True, dtype=False), times) == want
    csv_text = (tmp_path / "nested" / "served.csv").read_text()
    assert '"[""i7"", ""i8"", ""i9""]"' in csv_text  # list columns as JSON strings


def test_export_refuses_unknown_format_or_table(store: FeedbackStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.xlsx"):
        store.export(tmp_path / "feedback.xlsx")
    with pytest.raises(ValueError, match="'users'"):
        store.export(tmp_path / "users.csv", table="users")


# --- backends and URLs ------------------------------------------------------------------------


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path / "deeper" / "dir")
    with FeedbackStore(url) as opened:
        assert opened.dialect == "sqlite"
        with opened._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (tmp_path / "deeper" / "dir" / "feedback.sqlite3").is_file()


def test_normalize_url() -> None:
    psycopg_url = "postgresql+psycopg://u:p@h:5432/db"
    assert normalize_url("postgresql://u:p@h:5432/db") == psycopg_url
    assert normalize_url("postgres://u:p@h:5432/db") == psycopg_url
    assert normalize_url(psycopg_url) == psycopg_url
    assert normalize_url("sqlite:////tmp/x.sqlite3") == "sqlite:////tmp/x.sqlite3"
    assert normalize_url("sqlite://") == "sqlite://"
    plain = normalize_url("relative/feedback.db")
    assert plain == "sqlite:///" + (Path.cwd() / "relative" / "feedback.db").as_posix()
    assert default_sqlite_url(Path("/srv/genrec")) == "sqlite:////srv/genrec/feedback.sqlite3"


def test_a_plain_path_opens_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "odd ?#% name" / "feedback.db"
    with FeedbackStore(str(path)) as opened:
        opened.add_feedback(click())
        assert opened.dialect == "sqlite"
    assert path.is_file()
    with FeedbackStore(normalize_url(str(path))) as again:
        assert again.count_feedback() == 1


def test_display_url_masks_the_password(store: FeedbackStore) -> None:
    if store.dialect == "postgresql":
        assert store.display_url.startswith("postgresql+psycopg://genrec:***@")
        assert ":genrec@" not in store.display_url
    else:
        assert store.display_url.startswith("sqlite:///")
    assert store.display_url in repr(store)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://admin:hunter2secret@db.example/genrec",
        "postgresql://admin:hunter2secret@db.example:notaport/genrec",
        "postgresql+nosuchdriver://admin:hunter2secret@127.0.0.1/genrec",
        "",
    ],
)
def test_bad_url_gives_store_error_without_the_password(url: str) -> None:
    with pytest.raises(StoreError) as excinfo:
        FeedbackStore(url)
    message = str(excinfo.value)
    assert "hunter2secret" not in message and "\n" not in message


def test_unreachable_postgresql_gives_store_error_without_the_password() -> None:
    port = free_port()
    with pytest.raises(StoreError) as excinfo:
        FeedbackStore(f"postgresql://genrec:hunter2secret@127.0.0.1:{port}/feedback")
    message = str(excinfo.value)
    assert "hunter2secret" not in message
    assert f"127.0.0.1:{port}/feedback" in message and "postgresql" in message


def test_wrong_postgresql_password_gives_store_error(postgres_url: str) -> None:
    bad = sa.engine.make_url(postgres_url).set(password="hunter2secret")
    with pytest.raises(StoreError) as excinfo:
        FeedbackStore(bad.render_as_string(hide_password=False))
    assert "hunter2secret" not in str(excinfo.value)
    assert str(bad.database) in str(excinfo.value)


def test_unopenable_sqlite_path_gives_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="a-file"):
        FeedbackStore(default_sqlite_url(blocker / "sub"))
