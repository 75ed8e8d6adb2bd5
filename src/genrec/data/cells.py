"""Cell values of users' files as our types: text, numbers, unix seconds, lists of names.

CSV cells arrive as text, Parquet and JSON cells as whatever they were written as (ids as floats,
real lists, nested category paths), so every reader converts the fields it knows through these
functions and a value means the same in every format.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd


def cell_text(value: object) -> str:
    """A cell as text: missing -> "", integral floats without ``.0`` (ids read as floats)."""
    if value is None or isinstance(value, str):
        return (value or "").strip()
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return str(value)
    if pd.isna(value):  # type: ignore[call-overload]
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def cell_texts(values: pd.Series) -> pd.Series:
    return pd.Series([cell_text(v) for v in values.tolist()], dtype=object)


def cell_numbers(texts: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float values, mask of non-empty cells that are not numbers)."""
    present = (texts != "").to_numpy()
    values = pd.to_numeric(texts.where(texts != ""), errors="coerce").to_numpy(dtype=np.float64)
    return values, present & np.isnan(values)


def _unix_seconds(numbers: np.ndarray) -> np.ndarray:
    """Scale epoch numbers to seconds: beyond 1e11 "seconds" (year 5138) they must be ms etc."""
    magnitude = float(np.median(np.abs(numbers))) if len(numbers) else 0.0
    for threshold, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if magnitude > threshold:
            return numbers / scale
    return numbers


def parse_timestamps(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int64 unix seconds, mask of cells that parsed): epoch numbers or date/time strings."""
    texts = cell_texts(values)
    numbers, not_numeric = cell_numbers(texts)
    seconds = np.full(len(texts), np.nan)
    numeric = ~np.isnan(numbers)
    seconds[numeric] = _unix_seconds(numbers[numeric])
    if not_numeric.any():
        seconds[not_numeric] = _date_seconds(texts[not_numeric])
    ok = ~np.isnan(seconds)
    return np.floor(np.where(ok, seconds, 0.0)).astype(np.int64), ok


def _date_seconds(texts: pd.Series) -> np.ndarray:
    """Date/time strings -> float unix seconds (NaN when unparsable); naive times are UTC.

    ISO 8601 is parsed in one vectorised pass; only what it misses goes through the slower
    per-value "mixed" parser (``01/31/2024``, ``31 Jan 2024 10:00`` ...).
    """
    parsed = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    missed = parsed.isna()
    if missed.any():
        parsed[missed] = pd.to_datetime(texts[missed], format="mixed", utc=True, errors="coerce")
    delta = (parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    return np.asarray(delta, dtype=np.float64)


_SEPARATORS = ("|", ";", ",")


def _literal_list(text: str) -> list[Any] | None:
    """A JSON or Python list literal, or None when the text is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return list(value) if isinstance(value, (list, tuple)) else None


def _flatten(values: Iterable[Any]) -> list[str]:
    """Nested lists flattened (Amazon category paths are lists of lists), empty names dropped."""
    out: list[str] = []
    for value in values:
        if isinstance(value, (list, tuple, np.ndarray)):
            out.extend(_flatten(value))
        elif text := cell_text(value):
            out.append(text)
    return out


def list_parts(value: object) -> tuple[list[str], str | None] | None:
    """A list cell's raw parts and the separator split on (None when it was a real list).

    Parts split on a separator keep their spacing so titles holding that separator can be
    rejoined against a catalog. Returns None for a malformed list literal like ``["A", "B"``.
    """
    if isinstance(value, (list, tuple, np.ndarray)):
        return _flatten(value), None
    text = cell_text(value)
    if not text:
        return [], None
    looks_like_list = (text[0] == "[" and text[-1] == "]") or text[:2] in ('["', "['")
    if looks_like_list or (text[0] == "(" and text[-1] == ")"):
        parsed = _literal_list(text)
        if parsed is not None:
            return _flatten(parsed), None
        if looks_like_list:
            return None
    for sep in _SEPARATORS:
        if sep in text:
            return text.split(sep), sep
    return [text], None


def cell_categories(value: object, whitespace: bool) -> tuple[str, ...]:
    """Category names from a list cell, a list literal, or text split on ``| ; ,``.

    RecBole ``token_seq`` columns separate tokens with spaces, so those also split there.
    """
    parts = list_parts(value)
    names = [cell_text(value)] if parts is None else [p.strip() for p in parts[0] if p.strip()]
    if whitespace and (parts is None or parts[1] is None):
        names = [word for name in names for word in name.split()]
    return tuple(dict.fromkeys(names))
