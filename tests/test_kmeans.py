"""k-means on every point and on a sample, and the packed row grouping of the trie tables."""

from __future__ import annotations

import numpy as np

from genrec.kmeans import kmeans, kmeans_restarts, nearest, unique_rows


def _vectors(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim))


def test_kmeans_keeps_every_cluster_in_use():
    vectors = _vectors(50)
    centroids = kmeans(vectors, 10, 20, 0)
    d2 = ((vectors[:, None, :] - centroids[None]) ** 2).sum(-1)
    assert len(np.unique(d2.argmin(1))) == 10


def test_kmeans_on_a_sample_finds_the_clusters_of_the_whole(monkeypatch):
    """Above MAX_POINTS_PER_CENTROID points per centroid the centroids come from a sample."""
    import genrec.kmeans as kmeans_module

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 6)) * 10
    labels = np.repeat(np.arange(8), 300)
    vectors = centres[labels] + rng.normal(size=(len(labels), 6))
    monkeypatch.setattr(kmeans_module, "MAX_POINTS_PER_CENTROID", 40)  # 320 of 2,400 points
    centroids = kmeans(vectors, 8, 30, 0)
    nearest = ((centres[:, None, :] - centroids[None]) ** 2).sum(-1).min(1)
    assert nearest.max() < 1.0  # every true centre has a centroid next to it
    assert np.array_equal(centroids, kmeans(vectors, 8, 30, 0))  # seeded


def test_restarts_keep_the_run_of_least_error_and_one_restart_is_plain_kmeans():
    vectors = _vectors(200, seed=3)
    assert np.array_equal(kmeans_restarts(vectors, 12, 20, 5, 1), kmeans(vectors, 12, 20, 5))
    errors = [float(nearest(vectors, kmeans_restarts(vectors, 12, 20, 5, r))[1].sum())
              for r in (1, 4, 8)]  # fmt: skip
    assert errors[0] >= errors[1] >= errors[2]
    assert np.array_equal(
        kmeans_restarts(vectors, 12, 20, 5, 4), kmeans_restarts(vectors, 12, 20, 5, 4)
    )


def test_packed_row_groups_equal_numpy_unique_rows() -> None:
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 5, size=(400, 3))
    first, groups = unique_rows(rows)
    _, want_first, want_groups = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    assert np.array_equal(first, want_first) and np.array_equal(groups, want_groups.reshape(-1))
