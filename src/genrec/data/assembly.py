"""From validated frames to a :class:`Dataset`: the catalog, the indexed log, the filters.

Shared by :func:`genrec.data.readers.load_dataset` and :func:`genrec.data.seed.load_seed_csv`,
so both layouts end in the same dataset and fail the same way when nothing valid is left.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from genrec.data.filters import filter_interactions
from genrec.data.schema import Catalog, DataError, Dataset, ValidationReport


def catalog_from_ids(ids: Iterable[str]) -> pd.DataFrame:
    """Without a catalog file the items are the ids seen, each titled by its id."""
    unique = list(dict.fromkeys(ids))
    return pd.DataFrame(
        {
            "item_id": pd.Series(unique, dtype=object),
            "title": pd.Series(unique, dtype=object),
            "categories": pd.Series([() for _ in unique], dtype=object),
            "description": "",
        }
    )


def assemble(
    name: str,
    items: pd.DataFrame,
    log: pd.DataFrame,
    users: pd.DataFrame | None,
    report: ValidationReport,
    file: str,
) -> Dataset:
    """The dataset of validated frames; an empty log is an error that lists what emptied it."""
    if log.empty:
        raise DataError(
            "no valid interactions left after validation: "
            + "; ".join(str(i) for i in report.issues),
            file=file,
        )
    catalog = Catalog(items)
    frame = pd.DataFrame(
        {
            "user_id": log["user_id"].astype(str),
            "item_index": catalog.indices(log["item_id"]),
            "timestamp": log["timestamp"].astype(np.int64),
            "rating": log["rating"].astype(np.float64),
            "request": log["request"].astype(str),
        }
    )
    return Dataset(name, catalog, frame, users, report)


def apply_filters(
    dataset: Dataset, min_rating: float | None, k_core: int | None, last_n: int | None
) -> Dataset:
    """Filters run on the validated, time-ordered log; their notes go into the report."""
    if min_rating is None and k_core is None and last_n is None:
        return dataset
    try:
        frame, notes = filter_interactions(
            dataset.interactions, min_rating=min_rating, k_core=k_core, last_n=last_n
        )
    except ValueError as exc:
        raise DataError(str(exc)) from None
    dataset.report.notes.extend(notes)
    if frame.empty:
        raise DataError("the filters removed every interaction: " + "; ".join(notes))
    return Dataset(dataset.name, dataset.catalog, frame, dataset.users, dataset.report)


_GENERIC_STEMS = {"interactions", "inter", "ratings", "data", "events"}


def default_name(path: Path) -> str:
    """The file's stem, or its folder's name when the stem says nothing (``data.csv``)."""
    stem = path.name.split(".")[0] or path.name
    if stem.lower() in _GENERIC_STEMS and path.parent.name:
        return path.parent.name
    return stem
