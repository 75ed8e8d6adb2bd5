"""Files with one row per unique id: the item catalog and user attributes.

Both start the same way: the id column is found, rows without an id are problems, and a repeated
id is one too, because it would make the item or user it names ambiguous.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genrec.data.cells import cell_categories, cell_texts
from genrec.data.checker import Checker
from genrec.data.columns import ColumnSpec, extras, strip_type
from genrec.data.schema import ValidationReport
from genrec.data.tables import read_table


@dataclass
class _Keyed:
    """A keyed file as read: the raw frame, its resolved columns, its checker and its ids."""

    raw: pd.DataFrame
    cols: dict[str, str]
    check: Checker
    ids: pd.Series


def _read_keyed(
    path: str | Path, spec: ColumnSpec, strict: bool, report: ValidationReport, kind: str, what: str
) -> _Keyed:
    """Read the file of ``kind`` and flag its empty and repeated ``{what}_id`` cells."""
    file = str(path)
    raw = read_table(path)
    cols = spec.resolve(raw, kind, file)
    check = Checker(file, strict, report, len(raw))
    column = cols[f"{what}_id"]
    ids = cell_texts(raw[column])
    check.drop("empty_id", (ids == "").to_numpy(), column, lambda i: f"empty {what} id")
    _drop_duplicate_ids(check, ids, column, what)
    return _Keyed(raw, cols, check, ids)


def _drop_duplicate_ids(check: Checker, ids: pd.Series, column: str, what: str) -> None:
    """A repeated id is ambiguous: an error, or (lenient) the first row wins."""
    kept = ids[check.keep]
    repeated = kept.duplicated(keep="first")
    bad = np.zeros(len(ids), dtype=bool)
    bad[kept.index[repeated.to_numpy()]] = True

    def describe(i: int) -> str:
        first = int(np.flatnonzero((ids == ids[i]).to_numpy() & check.keep)[0]) + 1
        return f"duplicate {what} id '{ids[i]}' (first at row {first})"

    check.drop("duplicate_id", bad, column, describe)


def read_items(
    path: str | Path, spec: ColumnSpec, strict: bool, report: ValidationReport
) -> pd.DataFrame:
    """The catalog file as a frame ready for :class:`Catalog` (unique, non-empty item ids)."""
    keyed = _read_keyed(path, spec, strict, report, "catalog", "item")
    raw, cols, ids = keyed.raw, keyed.cols, keyed.ids
    titles = cell_texts(raw[cols["title"]]) if "title" in cols else ids
    titles = titles.where(titles != "", ids)
    whitespace = "categories" in cols and strip_type(cols["categories"])[1] == "token_seq"
    categories = (
        [cell_categories(v, whitespace) for v in raw[cols["categories"]].tolist()]
        if "categories" in cols
        else [() for _ in range(len(raw))]
    )
    fields = {
        "item_id": ids,
        "title": titles,
        "categories": pd.Series(categories, dtype=object),
        "description": cell_texts(raw[cols["description"]]) if "description" in cols else "",
    }
    reserved = {"item_id", "title", "categories", "description"}
    frame = pd.DataFrame({**fields, **extras(raw, cols.values(), reserved)})
    return frame[keyed.check.keep].reset_index(drop=True)


def read_catalog(
    path: str | Path, columns: Mapping[str, str] | None = None, strict: bool = True
) -> pd.DataFrame:
    """An item catalog file on its own (e.g. items added after training), validated like the
    catalog of :func:`load_dataset`: columns item_id, title, categories, description, extras."""
    report = ValidationReport()
    return read_items(path, ColumnSpec(columns, ["catalog"]), strict, report)


def read_users(
    path: str | Path, spec: ColumnSpec, strict: bool, report: ValidationReport
) -> pd.DataFrame:
    """User attributes: ``user_id`` (str) plus the file's other columns as they are."""
    keyed = _read_keyed(path, spec, strict, report, "users", "user")
    others = extras(keyed.raw, keyed.cols.values(), {"user_id"})
    frame = pd.DataFrame({"user_id": keyed.ids.astype(str), **others})
    return frame[keyed.check.keep].reset_index(drop=True)
