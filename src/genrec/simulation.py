"""Simulated users who keep wanting things: test a feedback loop or an A/B split offline.

Each user has a taste: scores for every catalog item given what they have consumed, from a
*taste model* (usually a strong recommender trained on more of the users' data than the model
under test ever sees, see :func:`model_taste`; or any function, for users of known preference).
What they want is relative: an item's *want* is its rank among the items they have not consumed
yet, as a share of those (0 = their favourite). So taking their favourites does not dry up what
they want; the next ones move up, as in RecSim's and KuaiSim's user models.

The choice rule, per served list, top to bottom: a user accepts an item with probability
``accept_max * exp(-want / width)``, ``width`` being ``taste_width`` or one item's share,
whichever is larger, at most ``budget`` items per list; an item in the
bottom ``dislike_share`` of their want is disliked with probability ``dislike_rate``; the rest
are impressions only. Accepted items are consumed: they join the user's history (so the taste
moves with it) and are never wanted again. Every draw comes from the simulator's own seeded
generator: the same seed, lists and taste give the same reactions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from genrec.config import require
from genrec.recommender import ScoringRecommender

ACCEPT, IGNORE, DISLIKE = 1, 0, -1

Taste = Callable[[Sequence[np.ndarray]], np.ndarray]
"""Scores [B, N] (higher is wanted more) for each user's consumption history."""


@dataclass(frozen=True)
class ChoiceRule:
    """How a simulated user reacts to a list (see the module's docstring)."""

    accept_max: float = 0.9
    # Share of the user's unconsumed items (at least one item): the top ~0.2% are "wanted".
    taste_width: float = 0.002
    budget: int = 5
    dislike_share: float = 0.5
    dislike_rate: float = 0.5

    def validate(self) -> None:
        require(0 < self.accept_max <= 1, "accept_max must be in (0, 1]")
        require(self.taste_width > 0, "taste_width must be positive")
        require(self.budget >= 1, "budget must be at least 1")
        require(0 <= self.dislike_share <= 1, "dislike_share must be in [0, 1]")
        require(0 <= self.dislike_rate <= 1, "dislike_rate must be in [0, 1]")


def model_taste(model: ScoringRecommender) -> Taste:
    """A taste from a trained model that scores the whole catalog (SASRec, item-kNN, ...)."""

    def taste(histories: Sequence[np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return model.score(histories).to(torch.float64).numpy()

    return taste


class SimulatedUsers:
    """Users with a taste, a consumption history and a choice rule.

    ``histories`` is each user's consumption so far (catalog indices, oldest first); accepted
    items are appended to it by :meth:`react`."""

    def __init__(
        self,
        taste: Taste,
        histories: dict[str, np.ndarray],
        rule: ChoiceRule | None = None,
        *,
        seed: int = 0,
    ) -> None:
        self.rule = rule or ChoiceRule()
        self.rule.validate()
        self.taste = taste
        self.histories = {u: np.asarray(h, dtype=np.int64) for u, h in histories.items()}
        self.rng = np.random.default_rng(seed)

    def want(self, users: Sequence[str]) -> np.ndarray:
        """[B, N] each item's rank among the user's unconsumed items as a share of them (0 =
        most wanted); consumed items get 1."""
        missing = [u for u in users if u not in self.histories]
        if missing:
            raise KeyError(f"unknown simulated users: {missing[:5]}")
        histories = [self.histories[u] for u in users]
        scores = np.asarray(self.taste(histories), dtype=np.float64)  # [B, N]
        consumed = np.zeros(scores.shape, dtype=bool)
        for row, hist in enumerate(histories):
            consumed[row, hist] = True
        scores[consumed] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")  # [B, N] best first
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :], axis=1)
        open_items = np.maximum((~consumed).sum(axis=1, keepdims=True), 1)  # [B, 1]
        share = ranks / open_items
        share[consumed] = 1.0
        return share

    def react(self, users: Sequence[str], lists: np.ndarray) -> np.ndarray:
        """Reactions [B, k] (ACCEPT, IGNORE, DISLIKE) to the lists [B, k] of catalog indices
        (-1 = empty slot, ignored); accepted items join the users' histories."""
        lists = np.asarray(lists, dtype=np.int64)
        if lists.shape[0] != len(users):
            raise ValueError(f"{lists.shape[0]} lists for {len(users)} users")
        want = self.want(users)
        rule = self.rule
        open_items = np.maximum((want < 1.0).sum(axis=1), 1)  # [B]
        widths = np.maximum(rule.taste_width, 1.0 / open_items)  # at least one item's share
        out = np.full(lists.shape, IGNORE, dtype=np.int64)
        draws = self.rng.random((*lists.shape, 2))  # one accept and one dislike draw per slot
        for row, user in enumerate(users):
            taken: list[int] = []
            for pos, item in enumerate(lists[row]):
                if item < 0:
                    continue
                w = want[row, item]
                if w >= 1.0:  # already consumed: nothing new to take
                    continue
                p = rule.accept_max * np.exp(-w / widths[row])
                if len(taken) < rule.budget and draws[row, pos, 0] < p:
                    out[row, pos] = ACCEPT
                    taken.append(int(item))
                elif w >= 1.0 - rule.dislike_share and draws[row, pos, 1] < rule.dislike_rate:
                    out[row, pos] = DISLIKE
            if taken:
                self.histories[user] = np.concatenate([self.histories[user], taken])
        return out
