"""Lloyd's k-means for the semantic IDs' residual levels, in array work only (blocks of rows for
distances, one sparse product for centroid sums, a sample of the points on large catalogs), and
the row-grouping the trie tables are built with; also the unit-length rows that item and request
vectors are compared as."""

from __future__ import annotations

import numpy as np

CHUNK = 65_536  # rows per block of distance work: bounds the temporaries at any catalog size
# k-means learns its centroids from at most this many points per centroid, drawn at random
# (faiss's practice, whose default is 256): 32,768 points for a codebook of 32, so catalogs up
# to that size (ml-100k, ml-latest-small, 10k) use every point, and a 1M catalog builds its
# codes in seconds per level instead of minutes. Every item is then assigned to its nearest
# centroid as before.
MAX_POINTS_PER_CENTROID = 1024
RESTART_SEED_STEP = 7919  # restart r seeds k-means with seed + r * this (apart from level seeds)


def kmeans(vectors: np.ndarray, k: int, iterations: int, seed: int) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; returns centroids [k, D]. Deterministic by seed.

    Array work throughout (distances in blocks of rows, centroid sums as one sparse product);
    more than MAX_POINTS_PER_CENTROID points per centroid are subsampled, so a million vectors
    take seconds per level. Empty clusters are re-seeded with the point
    farthest from its centroid, so every code of the codebook stays in use when there are at
    least k distinct points.
    """
    from scipy.sparse import csr_matrix

    rng = np.random.default_rng(seed)
    n = len(vectors)
    k = min(k, n)
    if n > MAX_POINTS_PER_CENTROID * k:
        sample = np.sort(rng.choice(n, MAX_POINTS_PER_CENTROID * k, replace=False))
        vectors, n = vectors[sample], len(sample)
    norms = np.einsum("ij,ij->i", vectors, vectors)  # [N]
    centroids = np.empty((k, vectors.shape[1]), dtype=np.float64)
    centroids[0] = vectors[rng.integers(n)]
    dist = distances_to(vectors, norms, centroids[0])
    for j in range(1, k):
        probs = dist / dist.sum() if dist.sum() > 0 else np.full(n, 1.0 / n)
        centroids[j] = vectors[rng.choice(n, p=probs)]
        dist = np.minimum(dist, distances_to(vectors, norms, centroids[j]))
    for _ in range(iterations):
        assign, dist = nearest(vectors, centroids, norms)
        counts = np.bincount(assign, minlength=k)
        members = csr_matrix((np.ones(n), (assign, np.arange(n))), shape=(k, n))
        new = np.asarray(members @ vectors) / np.maximum(counts, 1)[:, None]  # [k, D]
        for empty in np.flatnonzero(counts == 0):
            far = int(dist.argmax())
            new[empty], dist[far] = vectors[far], 0.0
        moved = not all(np.allclose(a, b) for a, b in zip(new, centroids, strict=True))
        centroids = new
        if not moved:
            break
    return centroids


def kmeans_restarts(
    vectors: np.ndarray, k: int, iterations: int, seed: int, restarts: int
) -> np.ndarray:
    """The centroids of the best of ``restarts`` k-means runs: the least squared distance of
    the vectors to their nearest centroid. The first run is :func:`kmeans` with ``seed``, so one
    restart is plain k-means (and costs no error pass)."""
    if restarts <= 1:
        return kmeans(vectors, k, iterations, seed)
    best, best_error = None, np.inf
    for restart in range(restarts):
        centroids = kmeans(vectors, k, iterations, seed + RESTART_SEED_STEP * restart)
        error = float(nearest(vectors, centroids)[1].sum())
        if best is None or error < best_error:
            best, best_error = centroids, error
    assert best is not None
    return best


def distances_to(vectors: np.ndarray, norms: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    """Squared distances [N] of every vector to one centroid."""
    return np.maximum(norms - 2.0 * (vectors @ centroid) + centroid @ centroid, 0.0)


def unit_vectors(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (float32) scaled to unit length; all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def nearest(
    vectors: np.ndarray, centroids: np.ndarray, norms: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each vector's nearest centroid [N] and its squared distance [N], in blocks of rows."""
    if norms is None:
        norms = np.einsum("ij,ij->i", vectors, vectors)
    centre_norms = np.einsum("ij,ij->i", centroids, centroids)
    assign = np.empty(len(vectors), dtype=np.int64)
    best = np.empty(len(vectors), dtype=np.float64)
    for begin in range(0, len(vectors), CHUNK):
        block = slice(begin, begin + CHUNK)
        d2 = norms[block, None] - 2.0 * (vectors[block] @ centroids.T) + centre_norms[None, :]
        assign[block] = d2.argmin(axis=1)
        best[block] = np.maximum(d2[np.arange(len(d2)), assign[block]], 0.0)
    return assign, best


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(rows, axis=0, return_index=True, return_inverse=True)`` without the unique
    rows: the first row of each distinct row [U] (in sorted row order) and each row's group
    [N]. Non-negative integer rows are packed into one int64 key each (mixed radix, which keeps
    their lexicographic order), so a million rows sort as one vector in a fraction of a second
    rather than as records."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and rows.min() >= 0:
        radix = rows.max(axis=0) + 1
        if float(np.prod(radix.astype(np.float64))) < 2.0**62:
            key = np.zeros(len(rows), dtype=np.int64)
            for column, base in zip(rows.T, radix, strict=True):
                key = key * base + column
            _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
            return first, inverse.reshape(-1)
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def subtract_centroids(residual: np.ndarray, centroids: np.ndarray, assign: np.ndarray) -> None:
    """residual -= centroids[assign], in place and in blocks (no [N, D] temporary)."""
    for begin in range(0, len(residual), CHUNK):
        block = slice(begin, begin + CHUNK)
        residual[block] -= centroids[assign[block]]
