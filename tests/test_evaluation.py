import numpy as np
import pytest

from genrec.evaluation import (
    coverage,
    evaluate,
    invalid_rate,
    ndcg_at_k,
    paired_bootstrap,
    recall_at_k,
    reciprocal_rank,
    target_ranks,
)


def test_target_ranks_finds_position_or_minus_one():
    top = np.array([[3, 1, 2], [0, 5, 6], [7, 8, 9]])
    assert target_ranks(top, np.array([2, 0, 4])).tolist() == [2, 0, -1]


def test_metrics_match_hand_computed_values():
    ranks = np.array([0, 1, 4, 9, -1])  # hit at 1st, 2nd, 5th, 10th place, one miss
    assert recall_at_k(ranks, 5).mean() == pytest.approx(3 / 5)
    assert recall_at_k(ranks, 10).mean() == pytest.approx(4 / 5)
    expected_ndcg5 = (1 / np.log2(2) + 1 / np.log2(3) + 1 / np.log2(6)) / 5
    assert ndcg_at_k(ranks, 5).mean() == pytest.approx(expected_ndcg5)
    expected_ndcg10 = expected_ndcg5 + (1 / np.log2(11)) / 5
    assert ndcg_at_k(ranks, 10).mean() == pytest.approx(expected_ndcg10)
    assert reciprocal_rank(ranks).mean() == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 10) / 5)
    assert reciprocal_rank(ranks, 5).mean() == pytest.approx((1 + 1 / 2 + 1 / 5) / 5)


def test_ndcg_of_top_hit_is_one_and_of_third_is_half():
    assert ndcg_at_k(np.array([0]), 10)[0] == pytest.approx(1.0)
    assert ndcg_at_k(np.array([2]), 10)[0] == pytest.approx(0.5)


def test_coverage_counts_distinct_catalog_items():
    top = np.array([[0, 1], [1, 2], [-1, -1]])
    assert coverage(top, 10) == pytest.approx(0.3)


def test_invalid_rate_flags_ids_outside_the_catalog_but_not_empty_slots():
    top = np.array([[0, 1, -1], [12, 2, -5]])
    assert invalid_rate(top, 10) == pytest.approx(2 / 5)
    assert invalid_rate(np.array([[0, 1], [2, -1]]), 10) == 0.0


def test_paired_bootstrap_interval_contains_the_mean_difference():
    rng = np.random.default_rng(1)
    a = rng.random(500)
    b = a - 0.1 + rng.normal(0, 0.01, 500)
    mean, low, high = paired_bootstrap(a, b, samples=500)
    assert low < mean < high
    assert mean == pytest.approx(0.1, abs=0.01)
    assert low > 0.09


class _Oracle:
    """Puts the target at a chosen rank, and a seen item first when allowed."""

    def __init__(self, split, part, rank):
        self.targets = split.targets(part)
        self.rank = rank
        self.n = split.n_items
        self.calls = 0

    def recommend_indices(self, histories, k, *, exclude_seen=True, requests=None, **_):
        rows = []
        for hist in histories:
            target = self.targets[self.calls]
            self.calls += 1
            others = [
                i for i in range(self.n) if i != target and (not exclude_seen or i not in hist)
            ]
            if not exclude_seen:
                others = [int(hist[-1])] + [i for i in others if i != hist[-1]]
            row = others[: self.rank] + [int(target)] + others[self.rank :]
            rows.append(row[:k])
        top = np.array(rows)
        return top, np.zeros(top.shape)


def test_evaluator_scores_a_model_that_ranks_every_target_third(board):
    from genrec.data.split import leave_one_out

    split = leave_one_out(board)
    result = evaluate(_Oracle(split, "test", 2), split, "test", batch_size=7)
    assert result.metrics["recall@5"] == 1.0
    assert result.metrics["ndcg@10"] == pytest.approx(0.5)
    assert result.metrics["mrr"] == pytest.approx(1 / 3)
    assert result.metrics["invalid_rate"] == 0.0
    assert result.metrics["seen_rate"] == 0.0
    assert result.protocol["exclude_seen"] is True
    assert result.protocol["users"] == 40


def test_evaluator_reports_unmasked_protocol(board):
    from genrec.data.split import leave_one_out

    split = leave_one_out(board)
    result = evaluate(_Oracle(split, "valid", 1), split, "valid", exclude_seen=False)
    assert result.protocol["exclude_seen"] is False
    assert result.metrics["recall@5"] == 1.0
    assert result.metrics["ndcg@5"] == pytest.approx(1 / np.log2(3))


def test_large_catalogs_are_ranked_a_few_users_at_a_time():
    from genrec.evaluation import SCORE_ELEMENTS, rows_per_batch

    assert rows_per_batch(1682) == 256  # small catalogs: the usual batch
    assert rows_per_batch(1_000_000) == SCORE_ELEMENTS // 1_000_000 == 67
    assert rows_per_batch(10**9) == 1
    assert rows_per_batch(1_000_000) * 1_000_000 * 4 <= 256 * 2**20  # scores stay within 256 MB
