"""The store's tables as pandas frames, and frames written out as Parquet, CSV or JSON lines.

The store selects rows in the column orders below; this module only shapes them, so the frames
are the same whichever database they came from.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

TABLES = ("feedback", "served")
EXPORT_SUFFIXES = (".parquet", ".csv", ".jsonl")
FEEDBACK_COLUMNS = (
    "id",
    "recommendation_id",
    "user_id",
    "item_id",
    "event",
    "value",
    "ts",
    "received_at",
    "idempotency_key",
)
SERVED_COLUMNS = (
    "recommendation_id",
    "user_id",
    "request",
    "history",
    "items",
    "scores",
    "model_version",
    "fallback",
    "created_at",
    "arm",
)
# Columns of ``served`` stored as JSON lists.
LIST_COLUMNS = ("history", "items", "scores")


def epoch_series(values: Sequence[float]) -> pd.Series:
    """Epoch seconds as UTC datetimes, rounded to the microsecond as the store's reads are."""
    micros = (pd.Series(values, dtype="float64") * 1e6).round().astype("int64")
    return pd.Series(pd.to_datetime(micros, unit="us", utc=True))


def _by_column(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Sequence[Any]]:
    return dict(zip(columns, zip(*rows, strict=True), strict=True)) if rows else {}


def feedback_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Rows of ``FEEDBACK_COLUMNS`` as a frame; ``ts`` becomes ``timestamp`` (UTC datetimes)."""
    data = _by_column(FEEDBACK_COLUMNS, rows)
    return pd.DataFrame(
        {
            "id": pd.Series(data.get("id", ()), dtype="int64"),
            **{
                name: pd.Series(data.get(name, ()), dtype=object)
                for name in ("recommendation_id", "user_id", "item_id", "event")
            },
            "value": pd.Series(data.get("value", ()), dtype="float64"),
            "timestamp": epoch_series(data.get("ts", ())),
            "received_at": epoch_series(data.get("received_at", ())),
            "idempotency_key": pd.Series(data.get("idempotency_key", ()), dtype=object),
        }
    )


def served_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Rows of ``SERVED_COLUMNS`` as a frame; list columns hold Python lists."""
    data = _by_column(SERVED_COLUMNS, rows)
    return pd.DataFrame(
        {
            **{
                name: pd.Series(data.get(name, ()), dtype=object)
                for name in ("recommendation_id", "user_id", "request")
            },
            **{
                name: pd.Series([json.loads(v) for v in data.get(name, ())], dtype=object)
                for name in LIST_COLUMNS
            },
            "model_version": pd.Series(data.get("model_version", ()), dtype=object),
            "fallback": pd.Series([bool(v) for v in data.get("fallback", ())], dtype=bool),
            "created_at": epoch_series(data.get("created_at", ())),
            "arm": pd.Series(data.get("arm", ()), dtype=object),
        }
    )


def export_target(path: str | Path, table: str) -> Path:
    """``path`` checked before anything is read: a known table and a known file suffix."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ValueError(
            f"unknown export format {suffix or target.name!r}; "
            f"expected one of {', '.join(EXPORT_SUFFIXES)}"
        )
    return target


def write_frame(frame: pd.DataFrame, target: Path, table: str) -> Path:
    """Write a table's frame in the format of ``target``'s suffix (see :func:`export_target`).

    In CSV the list columns of ``served`` are JSON strings; Parquet and JSON lines keep lists.
    """
    suffix = target.suffix.lower()
    target.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.to_parquet(target, index=False)
    elif suffix == ".csv":
        if table == "served":
            frame = frame.copy()
            for name in LIST_COLUMNS:
                frame[name] = frame[name].map(json.dumps)
        frame.to_csv(target, index=False)
    else:
        frame.to_json(target, orient="records", lines=True, date_format="iso", date_unit="us")
    return target
