"""The seed article's layout: one row per session, the purchase history as a list in one cell.

Each row becomes interactions: the history items in list order, then the bought item(s) with the
row's request text. Cells name items by id or by title, split on ``| ; ,`` or written as list
literals, so with a catalog the split parts are rejoined into titles that hold a separator.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genrec.data.assembly import assemble, catalog_from_ids, default_name
from genrec.data.cells import cell_text, cell_texts, list_parts, parse_timestamps
from genrec.data.checker import Checker
from genrec.data.columns import ColumnSpec
from genrec.data.keyed import read_items
from genrec.data.schema import Dataset, ValidationReport
from genrec.data.tables import read_table


class _Names:
    """Matches the names in seed cells to catalog items: by item id first, then exact title."""

    def __init__(self, items: pd.DataFrame) -> None:
        self._ids = set(items["item_id"])
        self._titles: dict[str, str] = {}
        for item_id, title in zip(items["item_id"], items["title"], strict=True):
            self._titles.setdefault(str(title).strip(), str(item_id))

    def __call__(self, name: str) -> str | None:
        return name if name in self._ids else self._titles.get(name)


def _group_parts(parts: list[str], sep: str | None, names: _Names | None) -> list[str]:
    """Rejoin split parts into the longest catalog names (titles may hold the separator)."""
    if sep is None or names is None:
        return [p.strip() for p in parts if p.strip()]
    out: list[str] = []
    start = 0
    while start < len(parts):
        for end in range(min(len(parts), start + 4), start, -1):
            name = sep.join(parts[start:end]).strip()
            if end == start + 1 or names(name) is not None:
                break
        if name:
            out.append(name)
        start = end
    return out


def _cell_names(value: object, names: _Names | None) -> list[str] | None:
    """The item names in one list cell, or None when the cell is a malformed list literal."""
    whole = cell_text(value) if not isinstance(value, (list, tuple, np.ndarray)) else ""
    if whole and names is not None and names(whole) is not None:
        return [whole]
    parts = list_parts(value)
    return None if parts is None else _group_parts(parts[0], parts[1], names)


class _SessionReader:
    """Turns each seed row into item ids: the history, then the bought item(s)."""

    def __init__(self, check: Checker, cols: dict[str, str], names: _Names | None) -> None:
        self.check = check
        self.cols = cols
        self.names = names

    def items(self, row: int, field: str, value: object) -> list[str] | None:
        """The row's item ids in one column, or None (and the problem reported)."""
        column = self.cols[field]
        found = _cell_names(value, self.names)
        if found is None:
            self.check.problem("bad_list", f"malformed list {cell_text(value)!r}", row, column)
            return None
        if field == "target" and not found:
            self.check.problem("empty_target", "no bought/target item", row, column)
            return None
        if self.names is None:
            return found
        resolved = [self.names(name) for name in found]
        for name, item_id in zip(found, resolved, strict=True):
            if item_id is None:
                message = f"item '{name}' matches no item id or title in the catalog"
                self.check.problem("unknown_item", message, row, column)
                return None
        return [str(item_id) for item_id in resolved]


def _expand_sessions(
    path: str | Path,
    spec: ColumnSpec,
    strict: bool,
    report: ValidationReport,
    names: _Names | None,
) -> pd.DataFrame:
    """Seed rows -> interactions: history in list order, then the bought item(s) with the text."""
    file = str(path)
    raw = read_table(path)
    cols = spec.resolve(raw, "seed", file)
    check = Checker(file, strict, report, len(raw))
    users = cell_texts(raw[cols["user_id"]]).tolist() if "user_id" in cols else None
    requests = cell_texts(raw[cols["request"]]).tolist() if "request" in cols else [""] * len(raw)
    seconds, ok = _session_times(raw, cols, report, file)
    reader = _SessionReader(check, cols, names)
    histories, targets = raw[cols["history"]].tolist(), raw[cols["target"]].tolist()
    out: dict[str, list[Any]] = {"user_id": [], "item_id": [], "timestamp": [], "request": []}
    for i in range(len(raw)):
        row = i + 1
        if users is not None and not users[i]:
            check.problem("empty_id", "empty user id", row, cols["user_id"])
            continue
        if not ok[i]:
            check.problem(
                "bad_timestamp",
                f"cannot parse timestamp '{cell_text(raw[cols['timestamp']].iloc[i])}'",
                row,
                cols["timestamp"],
            )
            continue
        history = reader.items(row, "history", histories[i])
        bought = None if history is None else reader.items(row, "target", targets[i])
        if history is None or bought is None:
            continue
        user = users[i] if users is not None else str(row)
        for item_id, request in [(h, "") for h in history] + [(b, requests[i]) for b in bought]:
            out["user_id"].append(user)
            out["item_id"].append(item_id)
            out["timestamp"].append(seconds[i] if "timestamp" in cols else len(out["timestamp"]))
            out["request"].append(request)
    return pd.DataFrame({**out, "rating": np.nan})


def _session_times(
    raw: pd.DataFrame, cols: dict[str, str], report: ValidationReport, file: str
) -> tuple[np.ndarray, np.ndarray]:
    if "timestamp" in cols:
        return parse_timestamps(raw[cols["timestamp"]])
    report.notes.append(f"{file} has no timestamp column: rows are taken in file order")
    return np.zeros(len(raw), dtype=np.int64), np.ones(len(raw), dtype=bool)


def load_seed_csv(
    path: str | Path,
    catalog: str | Path | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    strict: bool = True,
    name: str | None = None,
) -> Dataset:
    """Load the seed article's layout: one row per session, the purchase history in one cell.

    Each row becomes the history items in list order, then the bought item(s), which carry the
    row's request text. Items are named by id or title; with a ``catalog`` they are matched to
    ``item_id`` first, then to the exact title, and without one the names become the items.
    ``columns`` may name ``request``, ``history``, ``target``, ``user_id``, ``timestamp``.
    """
    spec = ColumnSpec(columns, ["seed"] + (["catalog"] if catalog else []))
    report = ValidationReport()
    items = read_items(catalog, spec, strict, report) if catalog else None
    names = _Names(items) if items is not None else None
    log = _expand_sessions(path, spec, strict, report, names)
    if items is None:
        items = catalog_from_ids(log["item_id"])
    label = name or default_name(Path(path))
    return assemble(label, items, log, None, report, str(path))
