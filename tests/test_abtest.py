"""A/B test statistics: the stable split, the arms compared, the decision."""

from __future__ import annotations

import pandas as pd
import pytest

from genrec.abtest import CANDIDATE, CONTROL, TrafficSplit, compare_arms, decide


def test_the_split_is_stable_per_user_and_sends_the_asked_share_to_the_candidate():
    split = TrafficSplit.parse("v0004=20%")
    arms = [split.arm_of(f"user-{i}") for i in range(20_000)]
    assert abs(arms.count(CANDIDATE) / len(arms) - 0.20) < 0.015
    assert arms == [TrafficSplit("v0004", 0.2).arm_of(f"user-{i}") for i in range(20_000)]
    assert split.arm_of(None) is None  # anonymous requests are not in the test
    other = TrafficSplit("v0005", 0.2)  # a new candidate reshuffles users
    assert [other.arm_of(f"user-{i}") for i in range(200)] != arms[:200]


@pytest.mark.parametrize(
    ("text", "candidate", "share"),
    [("v0004=20%", "v0004", 0.2), (" models/x = 0.5 ", "models/x", 0.5), ("v2=5%", "v2", 0.05)],
)
def test_the_ab_flag_reads_a_percentage_or_a_fraction(text, candidate, share):
    split = TrafficSplit.parse(text)
    assert split.candidate == candidate and split.share == pytest.approx(share)


MALFORMED = [
    ("v0004", "CANDIDATE=SHARE"),
    ("v0004=0%", "between 0% and 100%"),
    ("v0004=100%", "between 0% and 100%"),
    ("=20%", "CANDIDATE=SHARE"),
    ("v0004=x", "CANDIDATE=SHARE"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_a_malformed_ab_flag_is_refused_saying_why(text, message):
    with pytest.raises(ValueError, match=message):
        TrafficSplit.parse(text)


def arms(control: tuple[int, int], candidate: tuple[int, int]) -> pd.DataFrame:
    return pd.DataFrame({"arm": [CONTROL, CANDIDATE], "version": ["v1", "v2"],
                         "lists": [control[0], candidate[0]],
                         "accepted": [control[1], candidate[1]]})  # fmt: skip


def test_a_clear_difference_is_significant_and_a_small_one_is_not():
    clear = compare_arms(arms((1000, 300), (1000, 380)))
    assert clear.difference == pytest.approx(0.08)
    assert clear.significant and clear.low > 0 and "significantly better" in clear.verdict
    # z = 0.08 / sqrt(0.34 * 0.66 * 2 / 1000) = 3.78 -> two-sided p = 0.00016
    assert clear.p_value == pytest.approx(1.6e-4, rel=0.05)
    small = compare_arms(arms((200, 60), (200, 66)))
    assert not small.significant and small.low < 0 < small.high
    worse = compare_arms(arms((1000, 380), (1000, 300)))
    assert worse.significant and "significantly worse" in worse.verdict


def test_the_decision_waits_for_data_promotes_a_winner_and_stops_a_loser():
    win = compare_arms(arms((1000, 300), (1000, 380)))
    assert decide(win, "win", min_lists=2000) == "wait"
    assert decide(win, "win", min_lists=500) == "promote"
    tie = compare_arms(arms((5000, 1500), (5000, 1510)))
    assert decide(tie, "win", min_lists=500) == "wait"
    assert decide(tie, "not-worse", min_lists=500, margin=0.02) == "promote"
    assert decide(tie, "not-worse", min_lists=500, margin=0.01) == "wait"
    lose = compare_arms(arms((1000, 380), (1000, 300)))
    assert decide(lose, "win", min_lists=500) == decide(lose, "not-worse", 500) == "stop"
    with pytest.raises(ValueError, match="policy"):
        decide(win, "sometimes", min_lists=1)


def test_an_arm_without_lists_compares_as_nothing_yet():
    empty = compare_arms(arms((100, 30), (0, 0)))
    assert not empty.significant and "no lists" in empty.verdict
    assert decide(empty, "win", min_lists=1) == "wait"
