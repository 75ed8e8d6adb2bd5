"""The item-vector cache: each text encoded once, resumable, split across torchrun ranks; and the
user's own vectors from a catalog column."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genrec.config import ConfigError
from genrec.data.schema import DataError
from genrec.distributed import Sharding
from genrec.vectors import (
    PART_SIZE,
    VectorStore,
    _encode_missing,
    column_vectors,
    encode_items,
    text_keys,
)


class CountingEncoder:
    """Deterministic 8-d vectors from the text; remembers what it was asked to encode."""

    name = "counting test encoder"
    dim = 8

    def __init__(self, fail_after: int | None = None) -> None:
        self.seen: list[str] = []
        self.fail_after = fail_after

    def encode_items(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after is not None and len(self.seen) >= self.fail_after:
            raise KeyboardInterrupt("interrupted")
        self.seen += list(texts)
        return np.stack([vector(t) for t in texts]) if texts else np.zeros((0, 8), np.float32)

    def encode_requests(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_items(texts)


def vector(text: str) -> np.ndarray:
    rng = np.random.default_rng(sum(text.encode()) * 7919 + len(text))
    return rng.normal(size=8).astype(np.float32)


def texts(n: int, tag: str = "item") -> list[str]:
    return [f"{tag} number {i}" for i in range(n)]


def test_each_text_is_encoded_once_and_a_change_re_encodes_only_it(tmp_path):
    store = VectorStore(tmp_path / "store")
    encoder = CountingEncoder()
    first, keys = encode_items(encoder, texts(20), store=store, progress=False)
    assert len(encoder.seen) == 20
    assert np.allclose(first[3], vector("item number 3"))
    again, same_keys = encode_items(encoder, texts(20), store=store, progress=False)
    assert len(encoder.seen) == 20 and np.array_equal(again, first)
    assert np.array_equal(keys, same_keys)
    changed = texts(20)
    changed[5] = "a changed description"
    updated, _ = encode_items(encoder, [*changed, "a new item"], store=store, progress=False)
    assert encoder.seen[20:] == ["a changed description", "a new item"]
    assert np.allclose(updated[5], vector("a changed description"))
    assert np.array_equal(updated[:5], first[:5])


def test_duplicate_texts_are_encoded_once(tmp_path):
    encoder = CountingEncoder()
    vectors, _ = encode_items(
        encoder, ["same", "same", "other"], store=VectorStore(tmp_path), progress=False
    )
    assert sorted(encoder.seen) == ["other", "same"]
    assert np.array_equal(vectors[0], vectors[1])


def test_an_interrupted_encoding_resumes_where_it_stopped(tmp_path):
    store = VectorStore(tmp_path)
    items = texts(PART_SIZE * 2 + 10)
    with pytest.raises(KeyboardInterrupt):
        encode_items(CountingEncoder(fail_after=PART_SIZE), items, store=store, progress=False)
    assert len(store.parts()) == 1  # the finished part is kept whole, nothing half-written
    assert not list(tmp_path.glob(".*tmp*"))
    resumed = CountingEncoder()
    vectors, _ = encode_items(resumed, items, store=store, progress=False)
    assert len(resumed.seen) == PART_SIZE + 10
    assert np.allclose(vectors[-1], vector(items[-1]))


def test_the_saved_model_vectors_are_used_before_the_store(tmp_path):
    encoder = CountingEncoder()
    items = texts(6)
    saved = (text_keys(encoder.name, items), np.stack([vector(t) for t in items]))
    vectors, _ = encode_items(encoder, items, store=VectorStore(tmp_path), saved=saved)
    assert encoder.seen == []
    assert np.array_equal(vectors, saved[1])


def test_a_damaged_part_is_encoded_again(tmp_path):
    store = VectorStore(tmp_path)
    encode_items(CountingEncoder(), texts(5), store=store, progress=False)
    store.parts()[0].write_bytes(b"not an npz file")
    encoder = CountingEncoder()
    vectors, _ = encode_items(encoder, texts(5), store=store, progress=False)
    assert len(encoder.seen) == 5 and np.allclose(vectors[0], vector("item number 0"))


def test_compact_merges_parts_without_losing_a_vector(tmp_path):
    store = VectorStore(tmp_path)
    for batch in range(3):
        encode_items(CountingEncoder(), texts(4, f"batch{batch}"), store=store, progress=False)
    assert len(store.parts()) == 3
    store.compact()
    assert len(store.parts()) == 1
    encoder = CountingEncoder()
    all_texts = texts(4, "batch0") + texts(4, "batch2")
    vectors, _ = encode_items(encoder, all_texts, store=store, progress=False)
    assert encoder.seen == [] and np.allclose(vectors[4], vector("batch2 number 0"))


def test_ranks_encode_disjoint_parts_that_cover_the_missing_texts(tmp_path):
    items = texts(PART_SIZE * 3 + 1)
    keys = text_keys(CountingEncoder.name, items)
    encoders = [CountingEncoder(), CountingEncoder()]
    for rank, encoder in enumerate(encoders):
        _encode_missing(encoder, items, keys, VectorStore(tmp_path), Sharding(rank, 2), False)
    assert not set(encoders[0].seen) & set(encoders[1].seen)
    assert sorted(encoders[0].seen + encoders[1].seen) == sorted(items)
    assert [len(e.seen) for e in encoders] == [2 * PART_SIZE, PART_SIZE + 1]  # parts 0, 2 | 1, 3


SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, {tests!r})
from test_vectors import CountingEncoder, texts
from genrec import distributed
from genrec.vectors import VectorStore, encode_items
sharding = distributed.init_from_env()
encoder = CountingEncoder()
vectors, _ = encode_items(encoder, texts({n}), store=VectorStore(Path({store!r})), progress=False)
out = Path({out!r}) / f"rank{{sharding.rank}}.json"
out.write_text(json.dumps({{"seen": encoder.seen, "sum": float(vectors.sum())}}))
distributed.shutdown()
"""


@pytest.mark.slow
def test_two_torchrun_processes_share_the_encoding(tmp_path):
    n = PART_SIZE * 2
    script = tmp_path / "encode.py"
    tests = str(Path(__file__).parent)
    script.write_text(
        textwrap.dedent(SCRIPT).format(
            tests=tests, n=n, store=str(tmp_path / "s"), out=str(tmp_path)
        )
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(script)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [len(r["seen"]) for r in ranks] == [PART_SIZE, PART_SIZE]
    assert ranks[0]["sum"] == pytest.approx(ranks[1]["sum"])


def test_vectors_from_a_parquet_list_column_or_csv_text(tmp_path):
    frame = pd.DataFrame({"item_id": ["a", "b"], "vec": [[1.0, 2.0, 3.0], [0.0, 1.0, 0.5]]})
    frame.to_parquet(tmp_path / "items.parquet")
    read = pd.read_parquet(tmp_path / "items.parquet")
    assert column_vectors(read, "vec").tolist() == [[1.0, 2.0, 3.0], [0.0, 1.0, 0.5]]
    text = pd.DataFrame({"item_id": ["a", "b"], "vec": ["[1, 2, 3]", "0 1 0.5"]})
    assert column_vectors(text, "vec").shape == (2, 3)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (["1 2 3", "1 2"], "item 'b': 2 numbers, expected 3"),
        (["1 2 3", "1 x 3"], "item 'b': not a list of numbers"),
        (["1 2 3", "1 nan 3"], "item 'b': a NaN or infinite number"),
        (["", "1 2 3"], "item 'a': 0 numbers"),
        (["1 2 3", None], "item 'b' has no vector"),
    ],
)
def test_bad_vector_cells_are_named(cells, message):
    frame = pd.DataFrame({"item_id": ["a", "b"], "vec": cells})
    with pytest.raises(DataError, match=message) as caught:
        column_vectors(frame, "vec")
    assert caught.value.column == "vec"


def test_a_missing_vector_column_lists_the_columns():
    frame = pd.DataFrame({"item_id": ["a"], "title": ["A"]})
    with pytest.raises(ConfigError, match=r"'embedding' is not a catalog column.*item_id, title"):
        column_vectors(frame, "embedding")


def test_added_items_must_match_the_dimension():
    frame = pd.DataFrame({"item_id": ["n"], "vec": [[1.0, 2.0]]})
    with pytest.raises(DataError, match="2 numbers, expected 3"):
        column_vectors(frame, "vec", dim=3)
