"""Options users expect on an interaction log: positives by rating, k-core, last N per user."""

from __future__ import annotations

import pandas as pd


def filter_interactions(
    frame: pd.DataFrame,
    *,
    min_rating: float | None = None,
    k_core: int | None = None,
    last_n: int | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Apply the filters in this order: rating threshold, k-core, keep last N per user.

    ``frame`` needs ``user_id``, ``item_index``, ``timestamp``, ``rating`` and must already be in
    time order per user. Returns the filtered frame and one note per filter that removed rows.
    """
    notes: list[str] = []
    if min_rating is not None:
        if frame["rating"].isna().all():
            raise ValueError("min_rating was given but the interactions have no ratings")
        before = len(frame)
        frame = frame[frame["rating"] >= min_rating]
        notes.append(f"min_rating={min_rating}: kept {len(frame)} of {before} interactions")
    if k_core is not None:
        if k_core < 1:
            raise ValueError(f"k_core must be at least 1, got {k_core}")
        before = len(frame)
        while True:
            user_counts = frame.groupby("user_id")["item_index"].transform("size")
            item_counts = frame.groupby("item_index")["user_id"].transform("size")
            keep = (user_counts >= k_core) & (item_counts >= k_core)
            if keep.all():
                break
            frame = frame[keep]
        notes.append(f"k_core={k_core}: kept {len(frame)} of {before} interactions")
    if last_n is not None:
        if last_n < 1:
            raise ValueError(f"last_n must be at least 1, got {last_n}")
        before = len(frame)
        frame = frame.groupby("user_id", sort=False, group_keys=False).tail(last_n)
        notes.append(f"last_n={last_n}: kept {len(frame)} of {before} interactions")
    return frame.reset_index(drop=True), notes
