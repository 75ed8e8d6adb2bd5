"""Training helpers: simultaneous interactions reordered, later-item targets aligned, weights
averaged over epochs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrec.early_stopping import LoopSettings, WeightAverage, early_stopping_loop
from genrec.training import (
    later_targets,
    simultaneous_order,
    training_windows,
)


def test_order_moves_items_only_inside_runs_of_equal_times() -> None:
    seq = np.array([10, 11, 12, 13, 14, 15, 16], dtype=np.int64)
    times = np.array([1, 5, 5, 5, 7, 9, 9], dtype=np.int64)
    rng = np.random.default_rng(0)
    seen: set[tuple[int, ...]] = set()
    for _ in range(200):
        out = seq[simultaneous_order(times, rng)]
        assert out[0] == 10 and out[4] == 14  # single-item runs never move
        assert sorted(out[1:4].tolist()) == [11, 12, 13]
        assert sorted(out[5:].tolist()) == [15, 16]
        seen.add(tuple(out.tolist()))
    assert len(seen) == 6 * 2  # every order of both runs turns up


def test_order_without_ties_is_the_identity() -> None:
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(simultaneous_order(np.array([1, 2, 3]), rng), [0, 1, 2])
    np.testing.assert_array_equal(simultaneous_order(np.array([4]), rng), [0])
    assert simultaneous_order(np.zeros(0, np.int64), rng).shape == (0,)


def test_order_is_seeded() -> None:
    times = np.repeat(np.arange(4), 10)
    a = simultaneous_order(times, np.random.default_rng(7))
    b = simultaneous_order(times, np.random.default_rng(7))
    c = simultaneous_order(times, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(np.sort(a), np.arange(40))


def test_later_targets_are_the_items_after_the_next_one() -> None:
    seqs = [np.arange(100, 123, dtype=np.int64), np.array([7, 8], dtype=np.int64), np.array([5])]
    inputs, targets = training_windows(seqs, 6, 4)
    later = later_targets(seqs, 6, 4, 3)
    assert later.shape == (*targets.shape, 3)
    for x, y, ahead in zip(inputs, targets, later, strict=True):
        for pos in np.flatnonzero(y >= 0):
            seq = seqs[0] if x[0] >= 100 else seqs[1]
            j = int(np.flatnonzero(seq == y[pos])[0])  # the next item's place in the sequence
            want = [int(seq[j + k]) if j + k < len(seq) else -100 for k in (1, 2, 3)]
            assert ahead[pos].tolist() == want
        assert (ahead[y < 0] == -100).all()  # no later targets where there is no next target


def test_later_targets_of_nothing() -> None:
    assert later_targets([np.array([1])], 4, 2, 2).shape == (0, 4, 2)


def test_epoch_orders_are_fixed_by_seed_and_epoch() -> None:
    from genrec.data.split import SequenceSplit
    from genrec.training import epoch_orders

    times = {"u": np.repeat(np.arange(5), 4), "v": np.array([1, 1, 2])}
    split = SequenceSplit(
        n_items=30, train={"u": np.arange(20), "v": np.array([20, 21, 22])}, users=[],
        valid_targets=np.zeros(0, np.int64), test_targets=np.zeros(0, np.int64),
        valid_requests=[], test_requests=[], train_requests={}, train_times=times,
    )  # fmt: skip
    first = epoch_orders(split, 3, 1)
    assert first is not None and [len(o) for o in first] == [20, 3]
    again = epoch_orders(split, 3, 1)
    assert again is not None
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    later = epoch_orders(split, 3, 2)
    assert later is not None and not np.array_equal(first[0], later[0])
    assert epoch_orders(SequenceSplit(**{**split.__dict__, "train_times": None}), 3, 1) is None


def reference_windows(seq: np.ndarray, max_len: int, stride: int) -> list[tuple[int, int, int]]:
    """(start, end, new) of each window, written the plain way: starts every ``stride`` pairs,
    the last window ends with the sequence, ``new`` is the first pair no earlier window read."""
    n = len(seq) - 1
    if n < 1:
        return []
    starts = [0] if n <= max_len else [*range(0, n - max_len, stride), n - max_len]
    spans, covered = [], 0
    for start in starts:
        end = min(start + max_len, n)
        spans.append((start, end, max(covered, start)))
        covered = end
    return spans


def test_windows_of_random_logs_match_the_plain_definition():
    rng = np.random.default_rng(7)
    for _ in range(200):
        seqs = [rng.integers(0, 30, size=rng.integers(0, 30)) for _ in range(rng.integers(1, 6))]
        max_len = int(rng.integers(2, 9))
        stride = int(rng.integers(1, max_len + 1))
        inputs, targets = training_windows(seqs, max_len, stride)
        later = later_targets(seqs, max_len, stride, 2)
        row = 0
        for seq in seqs:
            for start, end, new in reference_windows(seq, max_len, stride):
                width = end - start
                assert inputs[row, :width].tolist() == (seq[start:end] + 1).tolist()
                assert not inputs[row, width:].any()
                assert targets[row, new - start : width].tolist() == seq[new + 1 : end + 1].tolist()
                fresh = np.zeros(max_len, bool)
                fresh[new - start : width] = True
                assert (targets[row, ~fresh] == -100).all()
                for t in np.flatnonzero(fresh):
                    ahead = seq[start + t + 2 : start + t + 4].tolist()
                    assert later[row, t].tolist() == ahead + [-100] * (2 - len(ahead))
                row += 1
        assert row == len(inputs) == len(later)


def test_weight_average_starts_at_the_first_epoch_and_leans_on_the_past() -> None:
    net = torch.nn.Linear(1, 1, bias=False)
    average = WeightAverage(net, decay=0.75)
    for value in (4.0, 8.0):
        with torch.no_grad():
            net.weight.fill_(value)
        average.update(net)
    assert average.weights["weight"].item() == pytest.approx(0.75 * 4.0 + 0.25 * 8.0)
    with average.applied(net):
        assert net.weight.item() == pytest.approx(5.0)
    assert net.weight.item() == 8.0  # training goes on from its own weights


def test_early_stopping_validates_and_keeps_the_averaged_weights() -> None:
    net = torch.nn.Linear(1, 1, bias=False)
    seen: list[float] = []

    def run_epoch(epoch: int) -> float:
        with torch.no_grad():
            net.weight.fill_(float(epoch))
        return 0.0

    def validate() -> float:
        seen.append(net.weight.item())
        return -abs(net.weight.item() - 2.0)  # best when the validated weight is 2

    settings = LoopSettings(max_epochs=4, patience=9, eval_every=1, average_decay=0.5)
    state = early_stopping_loop(net, run_epoch, validate, settings, desc="t", progress=False)
    assert seen == [1.0, 1.5, 2.25, 3.125]  # the averages, not the epochs' own 1, 2, 3, 4
    assert state.best_epoch == 3 and net.weight.item() == pytest.approx(2.25)


@pytest.mark.parametrize(("smoothing", "kept"), [(1, 2), (3, 6)])
def test_smoothed_early_stopping_does_not_keep_a_lone_validation_spike(smoothing, kept) -> None:
    net = torch.nn.Linear(1, 1, bias=False)
    scores = [0.10, 0.50, 0.10, 0.30, 0.32, 0.31, 0.20, 0.20]

    def run_epoch(epoch: int) -> float:
        with torch.no_grad():
            net.weight.fill_(float(epoch))
        return 0.0

    def validate() -> float:
        return scores[int(net.weight.item()) - 1]

    settings = LoopSettings(max_epochs=8, patience=9, eval_every=1, smoothing=smoothing)
    state = early_stopping_loop(net, run_epoch, validate, settings, desc="t", progress=False)
    assert state.best_epoch == kept and net.weight.item() == kept
    assert state.best_ndcg == scores[kept - 1]  # the kept weights' own score
    window = scores[max(0, kept - smoothing) : kept]
    assert state.best_score == pytest.approx(sum(window) / len(window))
