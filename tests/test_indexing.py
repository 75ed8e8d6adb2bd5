import json

import numpy as np
import pytest

from genrec.config import ConfigError
from genrec.indexing import (
    IndexConfig,
    SemanticIndex,
    codebook_sizes_for,
    collaborative_vectors,
)


def _vectors(n=300, d=16, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_codes_are_unique_and_within_codebooks():
    index = SemanticIndex.fit(_vectors(), IndexConfig((8, 8)))
    codes = index.codes
    assert codes.shape == (300, 3)
    assert len(np.unique(codes, axis=0)) == 300
    assert codes[:, 0].max() < 8 and codes[:, 1].max() < 8
    stats = index.stats()
    assert stats["code_tuples_unique"] is True
    assert stats["levels"][0]["utilization"] == 1.0
    assert stats["max_items_per_prefix"] >= 1


def test_similar_items_share_prefixes():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 16)) * 10
    vectors = np.concatenate([c + rng.normal(size=(20, 16)) * 0.1 for c in centres])
    index = SemanticIndex.fit(vectors, IndexConfig((4, 4)))
    for group in range(4):
        assert len(set(index.codes[group * 20 : (group + 1) * 20, 0])) == 1


def test_fit_is_deterministic_for_a_seed():
    a = SemanticIndex.fit(_vectors(), IndexConfig((8, 8), seed=3)).codes
    b = SemanticIndex.fit(_vectors(), IndexConfig((8, 8), seed=3)).codes
    assert np.array_equal(a, b)


def test_new_items_get_unique_codes_without_refitting():
    index = SemanticIndex.fit(_vectors(), IndexConfig((8, 8)))
    centroids = [c.copy() for c in index.centroids]
    new = index.add_items(_vectors(10, seed=5))
    assert new.shape == (10, 3)
    assert len(index) == 310
    assert len(np.unique(index.codes, axis=0)) == 310
    assert all(np.array_equal(a, b) for a, b in zip(centroids, index.centroids, strict=True))
    assert index.children[-1].max() == 309  # the trie now reaches the new items


def test_trie_tables_reach_every_item_exactly_once():
    index = SemanticIndex.fit(_vectors(), IndexConfig((4, 4)))
    leaves = index.children[-1]
    reached = leaves[leaves >= 0]
    assert sorted(reached.tolist()) == list(range(300))
    for depth in range(1, index.depth):
        parents = index.parent_of[depth][index.node_ids[depth]]
        assert np.array_equal(parents, index.node_ids[depth - 1])


def test_save_and_load_round_trip(tmp_path):
    index = SemanticIndex.fit(_vectors(), IndexConfig((8, 4), kmeans_restarts=3))
    index.save(tmp_path)
    loaded = SemanticIndex.load(tmp_path)
    assert np.array_equal(loaded.codes, index.codes)
    assert loaded.config == index.config


def test_an_index_saved_before_restarts_loads_with_one(tmp_path):
    SemanticIndex.fit(_vectors(), IndexConfig((8, 4))).save(tmp_path)
    meta = json.loads((tmp_path / "semantic_index.json").read_text())
    del meta["kmeans_restarts"]
    (tmp_path / "semantic_index.json").write_text(json.dumps(meta))
    assert SemanticIndex.load(tmp_path).config.kmeans_restarts == 1


def test_restarts_give_codes_of_no_more_error_than_one_run():
    vectors = _vectors()
    one = SemanticIndex.fit(vectors, IndexConfig((8, 4)))
    eight = SemanticIndex.fit(vectors, IndexConfig((8, 4), kmeans_restarts=8))
    first = [((vectors - c[i.codes[:, 0]]) ** 2).sum() for i, c in
             ((one, one.centroids[0]), (eight, eight.centroids[0]))]  # fmt: skip
    assert first[1] <= first[0]
    with pytest.raises(ConfigError, match="kmeans_restarts"):
        IndexConfig((8, 4), kmeans_restarts=0).validate()


def test_bad_index_config_is_rejected():
    with pytest.raises(ConfigError, match="at least 2 codes"):
        IndexConfig((1, 8)).validate()


@pytest.mark.parametrize(
    ("n_items", "levels"),
    [(20, 1), (128, 1), (129, 2), (1_682, 2), (9_066, 3), (10_000, 3), (131_073, 4)],
)
def test_code_length_grows_with_the_catalog(n_items, levels):
    sizes = codebook_sizes_for(n_items)
    assert sizes == (32,) * levels
    # evenly spread codes would leave about 4 items or fewer per full prefix
    assert n_items / 32**levels <= 4


def test_sized_codes_keep_few_items_behind_a_prefix():
    vectors = np.random.default_rng(0).normal(size=(3_000, 16))
    index = SemanticIndex.fit(vectors, IndexConfig(codebook_sizes_for(len(vectors)), 20))
    stats = index.stats()
    assert stats["mean_items_per_prefix"] <= 4 and stats["max_items_per_prefix"] <= 32
    assert stats["code_tuples_unique"]


def test_collaborative_vectors_bring_co_consumed_items_together():
    # Two communities: users 0-19 take items 0-4, users 20-39 take items 5-9; item 10 unseen.
    sequences = [np.arange(5) if u < 20 else np.arange(5, 10) for u in range(40)]
    vectors = collaborative_vectors(sequences, n_items=11, dim=4)
    assert vectors.shape == (11, 4)
    assert np.allclose(np.linalg.norm(vectors[:10], axis=1), 1.0, atol=1e-5)
    assert not vectors[10].any()  # nobody took it: no collaborative signal
    within = vectors[0] @ vectors[1]
    across = vectors[0] @ vectors[5]
    assert within > 0.9 and within > across + 0.5


def test_items_added_to_fused_codes_get_codes_from_their_text_part():
    rng = np.random.default_rng(0)
    text = rng.normal(size=(40, 6))
    fused = np.concatenate([text, rng.normal(size=(40, 3))], axis=1)
    index = SemanticIndex.fit(fused, IndexConfig((4, 4), seed=0))
    new = index.add_items(rng.normal(size=(3, 6)))  # the text vector alone
    assert new.shape == (3, index.codes.shape[1])
    assert len({tuple(c) for c in index.codes}) == 43


def test_collision_digits_number_each_prefix_nearest_first_after_existing_ones():
    codes = np.array([[0, 1], [0, 1], [2, 0], [0, 1], [2, 0]])
    err = np.array([0.5, 0.1, 0.3, 0.1, 0.2])
    digits = SemanticIndex._with_collision_digit(codes, err)[:, -1]
    # prefix (0, 1): rows 1 and 3 tie at 0.1 (row order breaks it), then row 0
    assert digits.tolist() == [2, 0, 1, 1, 0]
    existing = np.array([[0, 1, 0], [0, 1, 4], [5, 5, 0]])
    more = SemanticIndex._with_collision_digit(codes[:2], err[:2], existing=existing)
    assert more[:, -1].tolist() == [6, 5]


def test_child_tables_list_children_in_id_order():
    rng = np.random.default_rng(3)
    index = SemanticIndex.fit(rng.normal(size=(300, 8)), IndexConfig(codebook_sizes=(4, 4)))
    for depth, table in enumerate(index.children):
        parents = np.zeros(len(index), np.int64) if depth == 0 else index.node_ids[depth - 1]
        for parent in range(len(table)):
            expected = sorted(set(index.node_ids[depth][parents == parent].tolist()))
            assert [c for c in table[parent].tolist() if c >= 0] == expected
