"""The data model every catalog fits: an item catalog, an interaction log, optional user attributes.

Internal item numbering is a stable hash order of the item ids, so an item's index says nothing
about when it first appeared or how popular it is (the P5 leakage, where the test item was
often "max index + 1", cannot happen here).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


class DataError(ValueError):
    """Bad input data. The message names the file, row and column where they are known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        where = [
            part
            for part in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"column '{column}'" if column else "",
            )
            if part
        ]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class UnknownItemError(KeyError):
    """An item id that the catalog does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown item"


@dataclass
class DataIssue:
    """One kind of problem found while reading, with how many rows had it and the first one."""

    kind: str
    message: str
    count: int = 1
    file: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        return str(
            DataError(
                f"{self.message} ({self.count} rows)",
                file=self.file,
                row=self.row,
                column=self.column,
            )
        )


@dataclass
class ValidationReport:
    """Warnings counted while loading in lenient mode (in strict mode the first one is an error)."""

    issues: list[DataIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, issue: DataIssue) -> None:
        self.issues.append(issue)

    @property
    def ok(self) -> bool:
        return not self.issues

    def lines(self) -> list[str]:
        return [f"warning: {issue}" for issue in self.issues] + list(self.notes)

    def to_dict(self) -> dict[str, object]:
        return {
            "warnings": [
                {
                    "kind": i.kind,
                    "message": i.message,
                    "count": i.count,
                    "file": i.file,
                    "row": i.row,
                    "column": i.column,
                }
                for i in self.issues
            ],
            "notes": list(self.notes),
        }


def _hash_key(item_id: str) -> str:
    return hashlib.blake2b(item_id.encode("utf-8"), digest_size=8).hexdigest()


class Catalog:
    """Items, one row per item; row i is internal index i.

    Columns: ``item_id`` (str), ``title`` (str), ``categories`` (tuple of str), ``description``
    (str), and any extra columns the user's catalog had.
    """

    def __init__(self, items: pd.DataFrame, *, keep_order: bool = False) -> None:
        """``keep_order`` keeps the rows as given (a saved or extended catalog); otherwise rows
        are put in the hash order of their ids."""
        required = {"item_id", "title", "categories", "description"}
        missing = required - set(items.columns)
        if missing:
            raise DataError(f"catalog frame lacks columns {sorted(missing)}")
        frame = items.copy()
        frame["item_id"] = frame["item_id"].astype(str)
        if frame["item_id"].duplicated().any():
            dup = frame.loc[frame["item_id"].duplicated(), "item_id"].iloc[0]
            raise DataError(f"duplicate item id '{dup}' in catalog", column="item_id")
        if keep_order:
            self.items = frame.reset_index(drop=True)
        else:
            order = np.argsort(np.array([_hash_key(i) for i in frame["item_id"]]), kind="stable")
            self.items = frame.iloc[order].reset_index(drop=True)
        self.item_ids: np.ndarray = self.items["item_id"].to_numpy(dtype=object)
        self._index = {item_id: i for i, item_id in enumerate(self.item_ids)}

    def __len__(self) -> int:
        return len(self.items)

    def extended(self, new_items: pd.DataFrame) -> Catalog:
        """A catalog with ``new_items`` appended after the existing ones (existing indices keep
        their meaning, so trained models stay valid). New ids must not exist yet."""
        added = Catalog(new_items)
        clash = [i for i in added.item_ids if i in self._index]
        if clash:
            raise DataError(f"item '{clash[0]}' is already in the catalog", column="item_id")
        frame = pd.concat([self.items, added.items], ignore_index=True)
        return Catalog(frame, keep_order=True)

    def __contains__(self, item_id: object) -> bool:
        return str(item_id) in self._index

    @property
    def titles(self) -> list[str]:
        return [str(t) for t in self.items["title"]]

    @property
    def categories(self) -> list[tuple[str, ...]]:
        return [tuple(c) for c in self.items["categories"]]

    def index_of(self, item_id: object) -> int:
        try:
            return self._index[str(item_id)]
        except KeyError:
            raise UnknownItemError(f"item '{item_id}' is not in the catalog") from None

    def indices(self, item_ids: Iterable[object]) -> np.ndarray:
        return np.array([self.index_of(i) for i in item_ids], dtype=np.int64)

    def known(self, item_ids: Iterable[object]) -> tuple[list[int], list[str]]:
        """Split ids into (indices of those in the catalog, the unknown ones as given)."""
        found: list[int] = []
        unknown: list[str] = []
        for item_id in item_ids:
            idx = self._index.get(str(item_id))
            if idx is None:
                unknown.append(str(item_id))
            else:
                found.append(idx)
        return found, unknown

    def text(self, index: int) -> str:
        """The item's text for content models and encoders: title, categories, description."""
        row = self.items.iloc[index]
        parts = [str(row["title"])]
        if len(row["categories"]):
            parts.append(", ".join(row["categories"]))
        if row["description"]:
            parts.append(str(row["description"]))
        return ". ".join(parts)

    def category_mask(self, allowed: Sequence[str]) -> np.ndarray:
        """Boolean mask [N] of items carrying any of the allowed categories (case-insensitive)."""
        wanted = {c.lower() for c in allowed}
        return np.array([any(c.lower() in wanted for c in cats) for cats in self.categories])


@dataclass
class Dataset:
    """A catalog plus an interaction log, validated and ordered.

    ``interactions`` has columns ``user_id`` (str), ``item_index`` (int64, into the catalog),
    ``timestamp`` (int64), ``rating`` (float, NaN when absent) and ``request`` (str, "" when
    absent), sorted by user, then time, ties kept in file order.
    """

    name: str
    catalog: Catalog
    interactions: pd.DataFrame
    users: pd.DataFrame | None = None
    report: ValidationReport = field(default_factory=ValidationReport)
    # What the items are called, "products/商品" (English plural/Chinese); None: inferred.
    noun: str | None = None

    def __post_init__(self) -> None:
        frame = self.interactions
        frame = frame.assign(_order=np.arange(len(frame)))
        frame = frame.sort_values(["user_id", "timestamp", "_order"], kind="stable")
        self.interactions = frame.drop(columns="_order").reset_index(drop=True)

    def sequences(self) -> dict[str, np.ndarray]:
        """Each user's items (catalog indices) in time order."""
        return self._per_user("item_index")

    def sequence_times(self) -> dict[str, np.ndarray]:
        """Each user's timestamps (int64), aligned with :meth:`sequences`."""
        return self._per_user("timestamp")

    def _per_user(self, column: str) -> dict[str, np.ndarray]:
        users = self.interactions["user_id"].to_numpy()
        values = self.interactions[column].to_numpy(dtype=np.int64)
        if len(users) == 0:
            return {}
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        ends = np.r_[starts[1:], len(users)]
        return {str(users[s]): values[s:e] for s, e in zip(starts, ends, strict=True)}

    def requests(self) -> dict[str, list[str]]:
        """Each user's request texts aligned with :meth:`sequences` ("" where none)."""
        grouped = self.interactions.groupby("user_id", sort=True)["request"]
        return {str(user): [str(r) for r in reqs] for user, reqs in grouped}

    @property
    def has_requests(self) -> bool:
        return bool((self.interactions["request"].astype(str) != "").any())

    def info(self) -> dict[str, object]:
        lengths = self.interactions.groupby("user_id").size()
        return {
            "dataset": self.name,
            "users": int(self.interactions["user_id"].nunique()),
            "items": len(self.catalog),
            "interactions": len(self.interactions),
            "items_with_interactions": int(self.interactions["item_index"].nunique()),
            "history_length": {
                "min": int(lengths.min()) if len(lengths) else 0,
                "median": float(lengths.median()) if len(lengths) else 0.0,
                "max": int(lengths.max()) if len(lengths) else 0,
            },
            "has_ratings": bool(self.interactions["rating"].notna().any()),
            "has_requests": self.has_requests,
            "time_span": [
                int(self.interactions["timestamp"].min()) if len(self.interactions) else None,
                int(self.interactions["timestamp"].max()) if len(self.interactions) else None,
            ],
            "warnings": len(self.report.issues),
        }
