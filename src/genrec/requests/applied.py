"""Requests applied to a batch of rankings: what every model's ``recommend_indices`` does with
the parsed requests before it ranks (see ``Recommender.recommend_indices``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genrec.requests.parse import RequestParser


@dataclass
class AppliedRequests:
    """Histories with the items named as "similar to" appended, the allowed items [B, N] (None:
    all), the request texts left for the learned conditioning, and the leaning log-weights
    [B, N] (None: no request leans anywhere, or the model does not rank by leaning)."""

    histories: Sequence[np.ndarray]
    allowed: np.ndarray | None
    soft_texts: list[str]
    leaning: np.ndarray | None


def apply_requests(
    parser: RequestParser,
    histories: Sequence[np.ndarray],
    allowed: np.ndarray | None,
    requests: Sequence[str],
    leaning_strength: float = 0.0,
    *,
    soft_only_when_named: bool = False,
) -> AppliedRequests:
    """Each request's constraints as a filter on the allowed items; items it names as "similar
    to" join that row's history (and are never returned); where it names no category, its
    leaning as log-weights scaled by ``leaning_strength`` (0: none). With
    ``soft_only_when_named``, a request's text is left for the learned conditioning only where
    it names a category (for a conditioning that learned from synthesized requests, which
    always name one: other texts are outside what it learned)."""
    parsed = parser.parse_many(list(requests))
    n_items = len(parser.terms.categories)
    leaning = None
    priors = [parser.item_prior(p, leaning_strength) for p in parsed]
    if any(p is not None for p in priors):
        leaning = np.zeros((len(parsed), n_items), dtype=np.float32)
        for row, prior in enumerate(priors):
            if prior is not None:
                leaning[row] = prior
    soft = [p.soft_text if p.of("category") or not soft_only_when_named else "" for p in parsed]
    if not any(p.constraints for p in parsed):
        return AppliedRequests(histories, allowed, soft, leaning)
    rows = np.ones((len(histories), n_items), dtype=bool) if allowed is None else allowed
    out_histories = list(histories)
    for row, request in enumerate(parsed):
        mask = request.mask(parser.terms)
        if mask is not None:
            rows[row] &= mask
        if request.similar_items:
            extra = np.asarray(request.similar_items, dtype=np.int64)
            out_histories[row] = np.concatenate([np.asarray(histories[row]), extra])
    return AppliedRequests(out_histories, rows, soft, leaning)
