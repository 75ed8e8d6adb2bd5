"""Feedback events joined with the lists they were served in, as training contexts.

One context per served list (its history and request at serving time), or, for events with no
known list, the user's stored history without a request. Positives (purchase, like, click, a
rating >= ``positive_rating``) and negatives (dislike, skip, a rating <= ``negative_rating``,
and optionally an impression with no positive on the same list) are the labels. At most
``max_events_per_user`` events per user (the latest) count, so no one user steers the model;
events about unknown items or users are skipped here and counted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from genrec.learning.config import NEGATIVE_EVENTS, POSITIVE_EVENTS, FinetuneConfig
from genrec.recommender import Recommender


@dataclass
class FeedbackExamples:
    """Training contexts and the labelled items in each."""

    histories: list[np.ndarray] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    positives: list[list[int]] = field(default_factory=list)  # per context
    negatives: list[list[int]] = field(default_factory=list)  # per context
    stats: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.histories)

    @property
    def pair_count(self) -> int:
        return sum(len(p) * len(n) for p, n in zip(self.positives, self.negatives, strict=True))


def label_of(row: Any, config: FinetuneConfig) -> int:
    """+1 positive, -1 negative, 0 neither (impressions are decided per list later)."""
    event = str(row.event)
    if event in POSITIVE_EVENTS:
        return 1
    if event in NEGATIVE_EVENTS:
        return -1
    if event == "rating" and row.value is not None and not pd.isna(row.value):
        if float(row.value) >= config.positive_rating:
            return 1
        if float(row.value) <= config.negative_rating:
            return -1
    return 0


def build_examples(
    model: Recommender,
    feedback: pd.DataFrame,
    served: pd.DataFrame | None = None,
    config: FinetuneConfig | None = None,
) -> FeedbackExamples:
    """Group feedback into contexts: one per served list (its history and request), or, for
    events with no known list, the user's stored history without a request."""
    config = config or FinetuneConfig()
    catalog = model.require_catalog()
    stats: dict[str, int] = defaultdict(int)
    stats["events"] = len(feedback)
    lists: dict[str, tuple[list[str], str]] = {}
    if served is not None and len(served):
        for rec_id, history, request in zip(
            served["recommendation_id"], served["history"], served["request"], strict=True
        ):
            lists[str(rec_id)] = (list(history), str(request or ""))
    frame = feedback.sort_values(["timestamp", "id"] if "id" in feedback else ["timestamp"])
    # Per-user cap: keep each user's latest events.
    frame = frame.groupby("user_id", sort=False, group_keys=False).tail(config.max_events_per_user)
    stats["capped"] = len(feedback) - len(frame)
    contexts: dict[str, dict[str, Any]] = {}
    for row in frame.itertuples(index=False):
        item = str(row.item_id)
        if item not in catalog:
            stats["unknown_item"] += 1
            continue
        raw_id = row.recommendation_id
        rec_id = str(raw_id) if isinstance(raw_id, str) and raw_id else None
        if rec_id is not None and rec_id in lists:
            key = f"list:{rec_id}"
            if key not in contexts:
                history, request = lists[rec_id]
                found, _ = catalog.known(history)
                contexts[key] = {"history": np.asarray(found, np.int64), "request": request,
                                 "labels": {}}  # fmt: skip
        elif str(row.user_id) in model.histories:
            key = f"user:{row.user_id}"
            if key not in contexts:
                contexts[key] = {"history": model.histories[str(row.user_id)], "request": "",
                                 "labels": {}}  # fmt: skip
        else:
            stats["unknown_user"] += 1
            continue
        labels: dict[int, int] = contexts[key]["labels"]
        idx = catalog.index_of(item)
        label = label_of(row, config)
        if label == 0 and str(row.event) == "impression":
            labels.setdefault(idx, 0)  # shown; decided below
        elif label != 0:
            # The latest explicit signal about an item in a context wins.
            labels[idx] = label
    out = FeedbackExamples(stats=stats)
    for ctx in contexts.values():
        labels = ctx["labels"]
        pos = sorted(i for i, v in labels.items() if v > 0)
        neg = sorted(i for i, v in labels.items() if v < 0)
        if config.ignored_impressions_are_negative and pos:
            # Shown next to an item the user took, and not taken: a (weak) negative.
            neg += sorted(i for i, v in labels.items() if v == 0)
        if not pos and not neg:
            stats["contexts_without_signal"] += 1
            continue
        out.histories.append(ctx["history"])
        out.requests.append(ctx["request"])
        out.positives.append(pos)
        out.negatives.append(neg)
    stats["contexts"] = len(out)
    stats["positives"] = sum(len(p) for p in out.positives)
    stats["negatives"] = sum(len(n) for n in out.negatives)
    out.stats = dict(stats)
    return out
