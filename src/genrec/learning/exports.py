"""Feedback to learn from: from a store URL, or from files ``genrec feedback export`` wrote."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from genrec.data.tables import read_table
from genrec.store import open_store


def read_feedback(source: str, served: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Feedback and served lists from a store URL, or from files `genrec feedback export` wrote."""
    if "://" in source:
        with open_store(source) as store:
            return store.feedback_frame(), store.served_frame()
    frame = read_export(Path(source))
    lists = read_export(Path(served)) if served else pd.DataFrame()
    return frame, lists


def read_export(path: Path) -> pd.DataFrame:
    """A file `genrec feedback export` wrote (Parquet, CSV or JSON Lines, read by
    :func:`~genrec.data.tables.read_table`), with the store's column types restored: CSV cells
    arrive as text, list columns as JSON strings."""
    frame = read_table(path)
    for col in ("user_id", "item_id", "recommendation_id", "idempotency_key"):
        if col in frame:
            frame[col] = frame[col].map(lambda v: None if _blank(v) else str(v))
    if "value" in frame:
        frame["value"] = pd.to_numeric(frame["value"].map(lambda v: None if _blank(v) else v))
    for col in ("timestamp", "received_at", "created_at"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    for col in ("history", "items", "scores"):
        if col in frame:
            frame[col] = frame[col].map(lambda v: json.loads(v) if isinstance(v, str) else list(v))
    return frame


def _blank(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))
