"""Tiny synthetic datasets whose right answer is known."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from genrec.data.schema import Catalog, Dataset
from genrec.generative.recommender import GenerativeConfig, GenerativeRecommender

GROUP_SIZE = 10
SEEN_PER_USER = 8


def make_dataset(
    sequences: dict[str, list[str]],
    items: pd.DataFrame,
    name: str = "synthetic",
) -> Dataset:
    """A Dataset from per-user item-id sequences (timestamps 1, 2, 3, ... in list order)."""
    catalog = Catalog(items)
    rows = [
        (user, catalog.index_of(item), t)
        for user, seq in sequences.items()
        for t, item in enumerate(seq, start=1)
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_index", "timestamp"])
    frame["item_index"] = frame["item_index"].astype(np.int64)
    frame["timestamp"] = frame["timestamp"].astype(np.int64)
    frame["rating"] = np.nan
    frame["request"] = ""
    return Dataset(name, catalog, frame)


def checkerboard(users: int = 40, seed: int = 0) -> Dataset:
    """Two item groups (alpha, beta) with distinct text; even users only ever pick alpha items,
    odd users beta items, each in a random order. The right answer for a user is the unseen
    items of their own group."""
    rng = np.random.default_rng(seed)
    ids = [f"a{i}" for i in range(GROUP_SIZE)] + [f"b{i}" for i in range(GROUP_SIZE)]
    items = pd.DataFrame(
        {
            "item_id": ids,
            "title": [f"Alpha saga part {i}" for i in range(GROUP_SIZE)]
            + [f"Beta chronicle volume {i}" for i in range(GROUP_SIZE)],
            "categories": [("Alpha",)] * GROUP_SIZE + [("Beta",)] * GROUP_SIZE,
            "description": ["space ships and lasers"] * GROUP_SIZE
            + ["quiet village romance"] * GROUP_SIZE,
        }
    )
    sequences = {}
    for u in range(users):
        prefix = "a" if u % 2 == 0 else "b"
        picks = rng.permutation(GROUP_SIZE)[:SEEN_PER_USER]
        sequences[f"u{u}"] = [f"{prefix}{i}" for i in picks]
    return make_dataset(sequences, items, "checkerboard")


TINY_GENERATIVE = GenerativeConfig(
    codebook_sizes=(2, 2), hidden_size=16, num_layers=1, num_heads=1, inner_size=32,
    max_len=10, window_stride=5, max_epochs=40, batch_size=16, lr=0.01, patience=100,
    eval_every=100, beam_size=8, request_probability=0.7,
)  # fmt: skip


def mixed_dataset(users: int = 40, seed: int = 0) -> Dataset:
    """Users pick alpha and beta items at random, so only a request can say which is next."""
    rng = np.random.default_rng(seed)
    ids = [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)]
    items = pd.DataFrame(
        {
            "item_id": ids,
            "title": [f"Alpha saga part {i}" for i in range(10)]
            + [f"Beta chronicle volume {i}" for i in range(10)],
            "categories": [("Alpha",)] * 10 + [("Beta",)] * 10,
            "description": "",
        }
    )
    sequences = {f"u{u}": [ids[i] for i in rng.permutation(20)[:12]] for u in range(users)}
    return make_dataset(sequences, items, "mixed")


def saved_generative_model(path: Path, max_epochs: int = 40, seed: int = 0) -> Path:
    """Train the tiny generative model on ``mixed_dataset`` and save it to ``path``."""
    config = replace(TINY_GENERATIVE, max_epochs=max_epochs)
    GenerativeRecommender(config).fit(mixed_dataset(), seed=seed).save(path)
    return path
