"""Simulated users: relative want, the choice rule, consumption, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from genrec.simulation import ACCEPT, DISLIKE, IGNORE, ChoiceRule, SimulatedUsers

N = 1000


def linear_taste(histories):
    """Every user prefers lower item numbers (item 0 most)."""
    return np.tile(-np.arange(N, dtype=np.float64), (len(histories), 1))


def users(seed=0, rule=None, n=200):
    return SimulatedUsers(linear_taste, {f"u{i}": np.array([0, 1]) for i in range(n)}, rule,
                          seed=seed)  # fmt: skip


def test_want_is_the_rank_among_unconsumed_items_and_consumed_items_are_not_wanted():
    sim = users(n=1)
    want = sim.want(["u0"])[0]
    assert want[0] == want[1] == 1.0  # consumed
    assert want[2] == 0.0 and want[3] == pytest.approx(1 / (N - 2))
    assert np.all(np.diff(want[2:]) > 0)


def test_the_best_items_are_taken_far_more_than_others_and_budgets_hold():
    sim = users(rule=ChoiceRule(budget=2))
    names = list(sim.histories)
    best = np.tile(np.arange(2, 12), (len(names), 1))  # the ten most wanted
    worst = np.tile(np.arange(N - 10, N), (len(names), 1))
    good = sim.react(names, best)
    assert ((good == ACCEPT).sum(axis=1) <= 2).all()
    assert (good == ACCEPT).mean() > 0.15
    bad = users(seed=1).react(names, worst)
    assert (bad == ACCEPT).sum() == 0 and (bad == DISLIKE).mean() == pytest.approx(0.5, abs=0.05)


def test_taken_items_are_consumed_and_what_users_want_never_runs_dry():
    sim = users(n=50)
    names = list(sim.histories)
    rounds = []
    for _ in range(6):  # always show each user their ten most wanted unconsumed items
        lists = np.stack([np.setdiff1d(np.arange(N), sim.histories[u])[:10] for u in names])
        reactions = sim.react(names, lists)
        rounds.append((reactions == ACCEPT).sum() / len(names))
        for row, user in enumerate(names):
            taken = lists[row][reactions[row] == ACCEPT]
            assert set(taken.tolist()) <= set(sim.histories[user].tolist())
    assert min(rounds) > 0.5 * max(rounds)  # the pool refills: acceptance does not collapse
    again = sim.react(names, np.tile([0, 1, -1], (len(names), 1)))  # consumed items, empty slot
    assert (again == IGNORE).all()


def test_the_same_seed_gives_the_same_reactions():
    lists = np.tile(np.arange(2, 22), (200, 1))
    a = users(seed=7).react([f"u{i}" for i in range(200)], lists)
    b = users(seed=7).react([f"u{i}" for i in range(200)], lists)
    c = users(seed=8).react([f"u{i}" for i in range(200)], lists)
    assert (a == b).all() and (a != c).any()


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="budget"):
        ChoiceRule(budget=0).validate()
    sim = users(n=2)
    with pytest.raises(KeyError, match="unknown simulated users"):
        sim.react(["nobody"], np.zeros((1, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="2 lists for 1 users"):
        sim.react(["u0"], np.zeros((2, 3), dtype=np.int64))
