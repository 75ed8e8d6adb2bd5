"""Online metrics from served lists and feedback: what answers a list, per version and bucket."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from genrec.monitoring import online_metrics, report_from_store, wilson
from genrec.store import FeedbackEvent, ServedList, open_store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def served(rows: list[tuple[str, str, list[str], str, float]]) -> pd.DataFrame:
    """(recommendation_id, user, items, version, hours after T0) per list."""
    return pd.DataFrame({
        "recommendation_id": [r[0] for r in rows],
        "user_id": [r[1] for r in rows],
        "request": "",
        "history": [[] for _ in rows],
        "items": [r[2] for r in rows],
        "scores": [[0.0] * len(r[2]) for r in rows],
        "model_version": [r[3] for r in rows],
        "fallback": False,
        "created_at": [T0 + timedelta(hours=r[4]) for r in rows],
    })  # fmt: skip


def feedback(rows: list[tuple[str, str, str, float, float | None, str | None]]) -> pd.DataFrame:
    """(user, item, event, hours after T0, value, recommendation_id) per event."""
    return pd.DataFrame({
        "id": range(len(rows)),
        "recommendation_id": [r[5] for r in rows],
        "user_id": [r[0] for r in rows],
        "item_id": [r[1] for r in rows],
        "event": [r[2] for r in rows],
        "value": [r[4] for r in rows],
        "timestamp": [T0 + timedelta(hours=r[3]) for r in rows],
    })  # fmt: skip


LISTS = served([
    ("r1", "u1", ["a", "b", "c"], "v0001", 0.0),
    ("r2", "u2", ["a", "d", "e"], "v0001", 1.0),
    ("r3", "u3", ["b", "c", "d"], "v0001", 2.0),
    ("r4", "u1", ["f", "g", "a"], "v0002", 30.0),
    ("r5", "u2", ["g", "h", "i"], "v0002", 31.0),
])  # fmt: skip
EVENTS = feedback([
    ("u1", "b", "click", 0.5, None, "r1"),  # answers r1 at position 2 (named)
    ("u1", "c", "purchase", 0.6, None, None),  # answers r1 at position 3 (user, item, window)
    ("u2", "d", "skip", 1.5, None, None),  # negative: answers nothing
    ("u2", "e", "rating", 1.5, 2.0, None),  # a low rating: nothing
    ("u3", "b", "click", 40.0, None, None),  # after the 24 h window: nothing
    ("u1", "a", "rating", 30.5, 5.0, None),  # answers r4 at position 3 (not r1: too late)
    ("u2", "g", "like", 31.2, None, "r2"),  # names another list (r2 lacks g): nothing
])  # fmt: skip


def report(**kwargs: object):
    until = T0 + timedelta(days=3)
    return online_metrics(LISTS, EVENTS, until=until, catalog_size=20, **kwargs)  # type: ignore[arg-type]


def test_acceptance_hits_and_position_ctr_per_version() -> None:
    rows = report().versions.set_index("version")
    assert list(rows.index) == ["v0001", "v0002"]  # oldest first
    v1, v2 = rows.loc["v0001"], rows.loc["v0002"]
    assert (v1["lists"], v1["accepted"]) == (3, 1)
    assert v1["acceptance"] == pytest.approx(1 / 3)
    assert v1["hits_per_list"] == pytest.approx(2 / 3)  # r1: b and c
    assert (v1["ctr_1"], v1["ctr_2"], v1["ctr_3"]) == (
        0.0,
        pytest.approx(1 / 3),
        pytest.approx(1 / 3),
    )
    assert (v2["lists"], v2["accepted"], v2["ctr_3"]) == (2, 1, 0.5)
    assert v1["coverage"] == pytest.approx(5 / 20)  # a b c d e
    assert v1["acceptance_low"] < v1["acceptance"] < v1["acceptance_high"]


def test_the_window_decides_what_answers_a_list() -> None:
    wide = report(window=timedelta(days=2)).versions.set_index("version")
    assert wide.loc["v0001", "accepted"] == 2  # u3's click 38 h after r3 now counts
    # the rating 30.5 h after r1 counts for r1 too now (u1 was served "a" there)
    assert wide.loc["v0001", "hits_per_list"] == pytest.approx(4 / 3)


def test_since_and_until_select_lists_and_volume() -> None:
    late = report(since=T0 + timedelta(hours=24))
    assert list(late.versions["version"]) == ["v0002"]
    assert late.events == {"click": 1, "rating": 1, "like": 1}
    assert report().events["skip"] == 1


def test_buckets_over_time_and_outputs(tmp_path) -> None:
    result = report(bucket="1D")
    assert result.bucket == "1D"
    days = result.over_time.groupby("version")["lists"].sum().to_dict()
    assert days == {"v0001": 3, "v0002": 2}
    assert "v0002" in result.table() and "skip 1" in result.table()
    json.dumps(result.to_dict())
    assert result.plot(tmp_path / "online.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="bucket must be"):
        report(bucket="2 weeks")
    with pytest.raises(ValueError, match="window must be positive"):
        report(window=timedelta(0))


def test_novelty_is_higher_for_rarer_items() -> None:
    common = report(popularity={"a": 1000.0, "b": 1000.0, "c": 1000.0, "d": 1000.0, "e": 1000.0})
    rare = report(popularity={"f": 1000.0, "g": 1000.0, "h": 1000.0, "i": 1000.0, "a": 1000.0})
    v1_common = common.versions.set_index("version").loc["v0001", "novelty"]
    v1_rare = rare.versions.set_index("version").loc["v0001", "novelty"]
    assert v1_rare > v1_common


def test_wilson_interval() -> None:
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert wilson(0, 0) == (0.0, 0.0)


def test_an_empty_store_reports_nothing(tmp_path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'empty.db'}") as store:
        result = report_from_store(store)
    assert len(result.versions) == 0 and result.events == {}
    assert "version" in result.table()


def test_a_store_report_matches_the_frames(tmp_path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'fb.db'}") as store:
        store.log_served([
            ServedList(r.recommendation_id, r.user_id, "", [], list(r.items), [0.0] * 3,
                       r.model_version, False, r.created_at.to_pydatetime())
            for r in LISTS.itertuples()
        ])  # fmt: skip
        store.add_feedback_many([
            FeedbackEvent(r.user_id, r.item_id, r.event, r.timestamp.to_pydatetime(),
                          None if pd.isna(r.value) else r.value,
                          r.recommendation_id if isinstance(r.recommendation_id, str) else None)
            for r in EVENTS.itertuples()
        ])  # fmt: skip
        from_store = report_from_store(store, until=T0 + timedelta(days=3), catalog_size=20)
    pd.testing.assert_frame_equal(
        from_store.versions.drop(columns=["first_served", "last_served"]),
        report().versions.drop(columns=["first_served", "last_served"]),
    )
