"""Item vectors at scale: a cache of encoder vectors by text, resumable and shared by ranks.

Encoding item texts is the slowest part of indexing (the bundled 4-bit encoder embeds tens of
texts per second on 2 cores), so each vector is computed once per (encoder, text) and kept:

- in a :class:`VectorStore` folder (``$GENREC_CACHE/item-vectors`` or ``~/.cache/genrec``), as
  part files of a few hundred vectors, each written whole (to a temporary name, then renamed).
  An interrupted encoding keeps its finished parts, so running it again resumes; a retrain or a
  catalog update finds every unchanged text there and encodes only new or changed ones.
- in the saved model (``item_vectors.npy`` beside ``item_vector_keys.npy``), so a model folder
  carries its own vectors: training again into that folder reuses them even on another machine.

Under torchrun the texts still missing are split into parts that the ranks encode in turn
(rank r takes parts r, r + world, ...) and every rank receives the others' parts, so nodes need
not share the store's disk (each keeps the parts it encoded; a shared ``GENREC_CACHE`` keeps
them all for the next run).

Users who already have vectors give them as a catalog column (see :func:`column_vectors`).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from genrec import distributed
from genrec.config import ConfigError
from genrec.data.schema import DataError
from genrec.indexing import TextEncoder

KEY = np.dtype("S16")
PART_SIZE = 512  # texts per part file: what an interruption can lose, at most


def cache_root() -> Path:
    return Path(os.environ.get("GENREC_CACHE") or Path.home() / ".cache" / "genrec")


def text_keys(encoder_name: str, texts: Sequence[str]) -> np.ndarray:
    """One 16-byte key per text [N] (S16): the SHA-256 of the encoder's name and the text."""
    prefix = encoder_name.encode() + b"\0"
    return np.array([hashlib.sha256(prefix + t.encode()).digest()[:16] for t in texts], dtype=KEY)


class VectorStore:
    """A folder of part files, each holding ``keys`` [n] (S16) and ``vectors`` [n, D]."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def default(cls, encoder_name: str) -> VectorStore:
        slug = "".join(c if c.isalnum() else "-" for c in encoder_name).strip("-")
        return cls(cache_root() / "item-vectors" / slug)

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.npz")) if self.folder.is_dir() else []

    def read(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Every stored key [M] and vector [M, D] (None when the store is empty). A part that
        cannot be read (a disk fault) is skipped: its texts are encoded again."""
        keys, vectors = [], []
        for part in self.parts():
            try:
                with np.load(part) as data:
                    keys.append(data["keys"].astype(KEY))
                    vectors.append(data["vectors"].astype(np.float32))
            except (OSError, ValueError, KeyError):
                continue
        if not keys:
            return np.zeros(0, dtype=KEY), None
        return np.concatenate(keys), np.concatenate(vectors)

    def write(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add one part, whole or not at all."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{uuid.uuid4().hex}"
        tmp = self.folder / f".{name}.tmp.npz"
        np.savez(tmp, keys=keys.astype(KEY), vectors=vectors.astype(np.float32))
        tmp.replace(self.folder / f"{name}.npz")

    def compact(self) -> None:
        """Merge the parts into one (after a large encoding: fewer files to open next time)."""
        parts = self.parts()
        if len(parts) < 2:
            return
        keys, vectors = self.read()
        if vectors is None:
            return
        _, first = np.unique(keys, return_index=True)
        self.write(keys[first], vectors[first])
        for part in parts:
            part.unlink(missing_ok=True)


def lookup(
    keys: np.ndarray, known_keys: np.ndarray, known: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray]:
    """Vectors for ``keys`` from (known_keys, known): [N, D] (zeros where missing, None when
    nothing is known) and the mask [N] of keys found."""
    if known is None or len(known_keys) == 0:
        return None, np.zeros(len(keys), dtype=bool)
    order = np.argsort(known_keys, kind="stable")
    sorted_keys = known_keys[order]
    at = np.clip(np.searchsorted(sorted_keys, keys), 0, len(sorted_keys) - 1)
    found = sorted_keys[at] == keys
    out = np.zeros((len(keys), known.shape[1]), dtype=np.float32)
    out[found] = known[order[at[found]]]
    return out, found


def encode_items(
    encoder: TextEncoder,
    texts: Sequence[str],
    *,
    store: VectorStore | None = None,
    saved: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The vectors [N, D] of ``texts`` and their keys [N]: from ``saved`` (a model folder's
    keys and vectors), then the store, encoding only what neither has (split across ranks
    under torchrun). Every rank returns the same arrays."""
    store = store or VectorStore.default(encoder.name)
    sharding = distributed.current()
    keys = text_keys(encoder.name, texts)
    vectors = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    found = np.zeros(len(texts), dtype=bool)
    if saved is not None and saved[1].shape[1:] == (encoder.dim,):
        hit, found = lookup(keys, *saved)
        if hit is not None:
            vectors[found] = hit[found]
    if not found.all():
        hit, in_store = lookup(keys, *store.read())
        if hit is not None:
            vectors[in_store & ~found] = hit[in_store & ~found]
            found |= in_store
    # Every rank takes the same path: it encodes what any rank lacks.
    found_everywhere = np.logical_and.reduce(sharding.all_gather(found))
    _, first = np.unique(keys[~found_everywhere], return_index=True)  # one of each, text order
    missing = np.flatnonzero(~found_everywhere)[np.sort(first)]
    if len(missing):
        missing_texts = [texts[i] for i in missing]
        mine = _encode_missing(encoder, missing_texts, keys[missing], store, sharding, progress)
        # Every rank's new vectors go to every rank, so nodes need not share the store's disk.
        parts = [part for parts in sharding.all_gather(mine) for part in parts]
        new_keys = np.concatenate([k for k, _ in parts])
        hit, got = lookup(keys, new_keys, np.concatenate([v for _, v in parts]))
        if hit is None or not (found | got).all():
            raise RuntimeError(f"{store.folder}: encoded item vectors are missing after encoding")
        vectors[got & ~found] = hit[got & ~found]
        if sharding.main and len(store.parts()) > 64:
            store.compact()
        sharding.barrier()  # no rank reads the store while rank 0 compacts it
    return vectors, keys


def _encode_missing(
    encoder: TextEncoder,
    texts: list[str],
    keys: np.ndarray,
    store: VectorStore,
    sharding: distributed.Sharding,
    progress: bool,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Encode this rank's parts of ``texts`` (parts r, r + world, ...), each written to the
    store as it is finished; returns them as (keys, vectors) pairs."""
    starts = list(range(0, len(texts), PART_SIZE))[sharding.rank :: sharding.world]
    mine = sum(min(PART_SIZE, len(texts) - s) for s in starts)
    done = []
    with tqdm(total=mine, desc="item vectors", unit="item", disable=not progress) as bar:
        for start in starts:
            chunk = texts[start : start + PART_SIZE]
            part = keys[start : start + PART_SIZE], encoder.encode_items(chunk)
            store.write(*part)
            done.append(part)
            bar.update(len(chunk))
    return done


def column_vectors(items: pd.DataFrame, column: str, dim: int | None = None) -> np.ndarray:
    """Precomputed item vectors [N, D] from a catalog column: lists or arrays of numbers (from
    Parquet), or text such as "[0.1, 0.2]" or "0.1 0.2" (from CSV). Every row must have the
    same length (``dim`` when given) and finite numbers."""
    if column not in items.columns:
        have = ", ".join(sorted(map(str, items.columns)))
        raise ConfigError(f"vectors_column '{column}' is not a catalog column (it has: {have})")
    out: np.ndarray | None = None  # [N, D] float32, filled row by row (no float64 copy)
    for position, (item, cell) in enumerate(zip(items["item_id"], items[column], strict=True)):
        if cell is None or (isinstance(cell, float) and np.isnan(cell)):
            raise DataError(f"item '{item}' has no vector", row=position, column=column)
        if isinstance(cell, str):
            cell = cell.strip().strip("[]").replace(",", " ").split()
        try:
            row = np.asarray(cell, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise DataError(f"item '{item}': not a list of numbers", row=position,
                            column=column) from None  # fmt: skip
        expected = dim if dim is not None else (out.shape[1] if out is not None else None)
        if len(row) == 0 or (expected is not None and len(row) != expected):
            raise DataError(f"item '{item}': {len(row)} numbers, expected "
                            f"{expected or 'at least 1'}", row=position, column=column)  # fmt: skip
        if not np.isfinite(row).all():
            raise DataError(f"item '{item}': a NaN or infinite number", row=position,
                            column=column)  # fmt: skip
        if out is None:
            out = np.empty((len(items), len(row)), dtype=np.float32)
        out[position] = row
    if out is None:
        return np.zeros((0, dim or 0), dtype=np.float32)
    return out
