"""Readers for users' own files: interaction logs, item catalogs, user attributes, seed sessions.

Every reader ends in the same validated :class:`Dataset`, so models never see raw files. Problems
in the data are either errors (strict mode, the default: a bad file should stop a run before any
training) or counted warnings with the offending rows dropped (lenient mode), so messy exports
can still be used, knowingly.

This module reads the interaction log and builds :func:`load_dataset` from it and the files of
:mod:`genrec.data.keyed`. :func:`read_catalog` and :func:`load_seed_csv` (the seed layout, in
:mod:`genrec.data.seed`) are re-exported so that every reader can be imported from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from genrec.data.assembly import apply_filters, assemble, catalog_from_ids, default_name
from genrec.data.cells import cell_numbers, cell_text, cell_texts, parse_timestamps
from genrec.data.checker import Checker
from genrec.data.columns import ColumnSpec
from genrec.data.keyed import read_catalog, read_items, read_users
from genrec.data.schema import Dataset, ValidationReport
from genrec.data.seed import load_seed_csv
from genrec.data.tables import read_table

__all__ = ["load_dataset", "load_seed_csv", "read_catalog"]


def _constant(message: str) -> Callable[[int], str]:
    return lambda i: message


def _read_interactions(
    path: str | Path,
    spec: ColumnSpec,
    strict: bool,
    report: ValidationReport,
    catalog_file: str | None,
    known: set[str] | None,
) -> pd.DataFrame:
    """The interaction log as user_id, item_id, timestamp, rating, request; bad rows handled."""
    file = str(path)
    raw = read_table(path)
    cols = spec.resolve(raw, "interactions", file)
    check = Checker(file, strict, report, len(raw))
    log = pd.DataFrame(
        {"user_id": cell_texts(raw[cols["user_id"]]), "item_id": cell_texts(raw[cols["item_id"]])}
    )
    for name, message in (("user_id", "empty user id"), ("item_id", "empty item id")):
        empty = (log[name] == "").to_numpy()
        check.drop("empty_id", empty, cols[name], _constant(message))
    log["timestamp"] = _timestamps(raw, cols, check, report, file)
    log["rating"] = _ratings(raw, cols, check)
    log["request"] = cell_texts(raw[cols["request"]]) if "request" in cols else ""
    if known is not None:
        unknown = (~log["item_id"].isin(known)).to_numpy()
        where = f"the catalog {catalog_file}"
        check.drop(
            "unknown_item",
            unknown,
            cols["item_id"],
            lambda i: f"item '{log['item_id'][i]}' is not in {where}",
        )
    if "timestamp" in cols:
        _drop_duplicate_rows(check, log)
    return log[check.keep].reset_index(drop=True)


def _timestamps(
    raw: pd.DataFrame, cols: dict[str, str], check: Checker, report: ValidationReport, file: str
) -> np.ndarray:
    """Unix seconds; without a timestamp column the row position, so file order is time order."""
    if "timestamp" not in cols:
        report.notes.append(
            f"{file} has no timestamp column: each user's rows are taken in file "
            "order (timestamp = row position)"
        )
        return np.arange(len(raw), dtype=np.int64)
    column = cols["timestamp"]
    seconds, ok = parse_timestamps(raw[column])
    cells = raw[column].tolist()
    check.drop(
        "bad_timestamp",
        ~ok,
        column,
        lambda i: (
            f"cannot parse timestamp '{cell_text(cells[i])}' (expected unix "
            "seconds/milliseconds or a date/time such as 2024-01-31T12:00:00)"
        ),
    )
    return seconds


def _ratings(raw: pd.DataFrame, cols: dict[str, str], check: Checker) -> np.ndarray:
    if "rating" not in cols:
        return np.full(len(raw), np.nan)
    texts = cell_texts(raw[cols["rating"]])
    values, bad = cell_numbers(texts)
    check.drop("bad_rating", bad, cols["rating"], lambda i: f"rating '{texts[i]}' is not a number")
    return values


def _drop_duplicate_rows(check: Checker, log: pd.DataFrame) -> None:
    """The same user, item and timestamp twice is an export glitch, not a repeat purchase."""
    key = ["user_id", "item_id", "timestamp"]
    kept = log[check.keep]
    repeated = kept.duplicated(key, keep="first").to_numpy()
    bad = np.zeros(len(log), dtype=bool)
    bad[kept.index[repeated]] = True

    def describe(i: int) -> str:
        same = (log[key] == log.loc[i, key]).all(axis=1).to_numpy() & check.keep
        return (
            f"duplicate of row {int(np.flatnonzero(same)[0]) + 1} (same user, item and timestamp)"
        )

    check.drop("duplicate_row", bad, None, describe)


def load_dataset(
    interactions: str | Path,
    catalog: str | Path | None = None,
    users: str | Path | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    strict: bool = True,
    min_rating: float | None = None,
    k_core: int | None = None,
    last_n: int | None = None,
    name: str | None = None,
) -> Dataset:
    """Load a user's interaction log, optional item catalog and user attributes.

    ``columns`` maps our field names (``user_id``, ``item_id``, ``timestamp``, ``rating``,
    ``request``, ``title``, ``categories``, ``description``; ``catalog.item_id`` for one file
    only) to the file's column names; the rest is inferred. ``strict=False`` turns data problems
    into counted warnings in ``dataset.report`` and drops the offending rows. Filters apply after
    validation. See docs/data-format.md.
    """
    kinds = ["interactions"] + (["catalog"] if catalog else []) + (["users"] if users else [])
    spec = ColumnSpec(columns, kinds)
    report = ValidationReport()
    items = read_items(catalog, spec, strict, report) if catalog else None
    known = set(items["item_id"]) if items is not None else None
    log = _read_interactions(
        interactions, spec, strict, report, str(catalog) if catalog else None, known
    )
    if items is None:
        items = catalog_from_ids(log["item_id"])
    user_frame = read_users(users, spec, strict, report) if users else None
    label = name or default_name(Path(interactions))
    dataset = assemble(label, items, log, user_frame, report, str(interactions))
    return apply_filters(dataset, min_rating, k_core, last_n)
