"""A recent holdout of the feedback itself, for the promotion guard.

The lists served last (the newest ``share`` of them, by the time they were served) are kept out
of the fine-tune. On each of them that got a positive and a negative (a dislike, or an item shown
beside a positive and not taken), a model is asked to rank the list's items: its *in-list AUC* is
the share of (positive, negative) pairs it orders right, each model scoring the items in the
list's own context (its history and request at serving time). Ranking within the served list
is fair to a new model: the parent chose which items were shown, but not which of them users
took, so a fine-tune that follows users' newer taste ranks the taken items higher than its
parent did, and one that forgets does not. (NDCG over the whole catalog would favour the
parent: every holdout item is one it put in its own top-k.)
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import torch

from genrec.learning.backbones import backbone_for
from genrec.learning.config import FinetuneConfig
from genrec.learning.examples import FeedbackExamples, build_examples
from genrec.learning.objectives import reference_logprobs, scored_items, slots
from genrec.recommender import Recommender

MIN_RECENT_LISTS = 20  # fewer lists with a positive and a negative: no recent check


def split_recent(
    feedback: pd.DataFrame, served: pd.DataFrame | None, share: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(older events, recent events): recent events are those on the newest ``share`` of the
    served lists that got feedback, by serving time."""
    if share <= 0 or served is None or not len(served) or not len(feedback):
        return feedback, feedback.iloc[:0]
    rec_ids = feedback["recommendation_id"].dropna().astype(str)
    lists = served[served["recommendation_id"].astype(str).isin(set(rec_ids))]
    if len(lists) < 2:
        return feedback, feedback.iloc[:0]
    lists = lists.sort_values(["created_at", "recommendation_id"], kind="stable")
    n_recent = max(1, round(len(lists) * share))
    recent_ids = set(lists["recommendation_id"].astype(str).iloc[-n_recent:])
    is_recent = feedback["recommendation_id"].astype(str).isin(recent_ids)
    return feedback[~is_recent], feedback[is_recent]


def holdout_examples(
    model: Recommender,
    recent: pd.DataFrame,
    served: pd.DataFrame | None,
    config: FinetuneConfig,
) -> FeedbackExamples | None:
    """The recent lists with a positive and a negative, as contexts with their labelled items;
    None when there are fewer than ``MIN_RECENT_LISTS``."""
    if served is None or not len(recent):
        return None
    labelled = dataclasses.replace(config, ignored_impressions_are_negative=True)
    examples = build_examples(model, recent, served, labelled)
    keep = [i for i in range(len(examples)) if examples.positives[i] and examples.negatives[i]]
    if len(keep) < MIN_RECENT_LISTS:
        return None
    return FeedbackExamples(
        histories=[examples.histories[i] for i in keep],
        requests=[examples.requests[i] for i in keep],
        positives=[examples.positives[i] for i in keep],
        negatives=[examples.negatives[i] for i in keep],
        stats={"contexts": len(keep)},
    )


def in_list_auc(model: Recommender, examples: FeedbackExamples) -> float:
    """The share of (positive, negative) pairs of the same list that ``model`` orders right
    (ties count half)."""
    backbone = backbone_for(model)
    scored = scored_items(backbone, examples)
    logprobs = reference_logprobs(backbone, examples, scored)
    right, pairs = 0.0, 0
    for logp, items, pos, neg in zip(logprobs, scored, examples.positives, examples.negatives,
                                     strict=True):  # fmt: skip
        p = logp[slots(items, pos)].to(torch.float64)
        n = logp[slots(items, neg)].to(torch.float64)
        diff = p[:, None] - n[None, :]
        right += float((diff > 0).sum()) + 0.5 * float((diff == 0).sum())
        pairs += diff.numel()
    return right / pairs if pairs else 0.5
