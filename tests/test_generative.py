"""The generative recommender end to end on tiny synthetic data (real text encoder)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

import genrec
from genrec.generative.config import DENSE_WEIGHTS
from genrec.generative.decoding import score_all_items
from genrec.generative.recommender import GenerativeConfig, GenerativeRecommender

from synthetic import TINY_GENERATIVE as TINY
from synthetic import mixed_dataset


@pytest.fixture(scope="module")
def trained(tiny_model_dir):
    """TINY trained on mixed_dataset(), seed 0 (conftest trains it once per session)."""
    return genrec.load(tiny_model_dir)


@pytest.mark.parametrize(
    ("request_text", "prefix"),
    [("I want a alpha movie", "a"), ("Show me beta movies", "b"), ("我想看一部Beta电影", "b")],
)
def test_request_steers_the_recommendations(trained, request_text, prefix):
    recs = trained.recommend(history=["a1", "b2"], k=5, request=request_text)
    share = np.mean([r.item_id.startswith(prefix) for r in recs])
    assert share >= 0.8, (request_text, [r.item_id for r in recs])


def test_empty_history_with_a_request_is_a_cold_start_recommendation(trained):
    recs = trained.recommend(history=[], k=4, request="Show me beta movies")
    assert len(recs) == 4
    assert np.mean([r.item_id.startswith("b") for r in recs]) >= 0.75


def test_sentence_follows_the_request_language(trained):
    english = trained.recommend_with_text(user="u0", k=3, request="something for tonight")
    assert english.text.startswith("You may like: ")
    assert english.items[0].title in english.text
    chinese = trained.recommend_with_text(user="u0", k=3, request="今晚看点什么")
    assert chinese.text.startswith("您可能会喜欢以下")
    assert chinese.items[0].title in chinese.text


def test_the_sentence_repeats_the_category_the_request_named(trained):
    english = trained.recommend_with_text(user="u0", k=3, request="I want a alpha movie")
    assert english.text.startswith(f"You may like these alpha {trained.nouns.en}: ")
    assert [(u["kind"], u["value"], u["match"]) for u in english.understood] == [
        ("category", "Alpha", "spelled")
    ]
    assert all(r.item_id.startswith("a") for r in english.items)
    chinese = trained.recommend_with_text(user="u0", k=3, request="我想看一部Alpha电影")
    assert chinese.text.startswith(f"您可能会喜欢以下Alpha{trained.nouns.zh}：")


def _path_only(model):
    view = model.with_decoding()
    view.config = dataclasses.replace(model.config, dense_weight=0.0)
    return view


def test_path_scores_are_log_probabilities(trained):
    recs = _path_only(trained).recommend(user="u1", k=20, exclude_seen=False)
    probs = np.exp([r.score for r in recs])
    assert np.all(probs <= 1.0) and probs.sum() == pytest.approx(1.0, abs=1e-4)


def test_hybrid_scores_add_the_weighted_dense_head_to_the_path(trained):
    history = trained.histories["u1"]
    weight = 2.0
    hybrid = trained.with_decoding(beam_size=1000)
    hybrid.config = dataclasses.replace(trained.config, dense_weight=weight)
    items, scores = hybrid.recommend_indices([history], 5)
    with torch.no_grad():
        state = trained.start_states([history], None)
        path = score_all_items(trained.net, state)[0]
        dense = torch.log_softmax(trained.net.flat_logits(state), dim=-1)[0]
    expected = (path + weight * dense)[items[0]]
    np.testing.assert_allclose(scores[0], expected.numpy(), rtol=1e-5)
    seen = torch.zeros(len(path), dtype=torch.bool)
    seen[torch.as_tensor(np.array(history))] = True
    best = (path + weight * dense).masked_fill(seen, -torch.inf).topk(5).indices
    assert items[0].tolist() == best.tolist()


def test_fit_chooses_the_dense_weight_on_validation(trained):
    sweep = trained.fit_info["valid_ndcg@10_by_dense_weight"]
    assert [float(w) for w in sweep] == list(DENSE_WEIGHTS)
    best = max(sweep.values())
    chosen = min(float(w) for w, score in sweep.items() if score == best)
    assert trained.config.dense_weight == chosen == trained.fit_info["dense_weight"]


def test_save_load_keeps_index_and_weights(trained, tmp_path):
    trained.save(tmp_path / "gen")
    assert (tmp_path / "gen" / "backbone" / "config.json").is_file()
    assert (tmp_path / "gen" / "semantic_index.json").is_file()
    loaded = genrec.load(tmp_path / "gen")
    request = "Show me beta movies"
    assert loaded.recommend(user="u3", k=5, request=request) == trained.recommend(
        user="u3", k=5, request=request
    )


def test_same_seed_same_model():
    data = mixed_dataset(users=12)
    config = GenerativeConfig(**{**TINY.__dict__, "max_epochs": 3})
    a = GenerativeRecommender(config).fit(data, seed=5).recommend(user="u2", k=5)
    b = GenerativeRecommender(config).fit(data, seed=5).recommend(user="u2", k=5)
    assert a == b


def test_a_sampled_softmax_trains_the_hybrid_reproducibly():
    """The dense head over the targets and 5 uniform draws per step (what catalogs above
    32,768 items get by default) instead of every item."""
    data = mixed_dataset(users=12)
    config = GenerativeConfig(**{**TINY.__dict__, "max_epochs": 3, "negatives": 5})
    a = GenerativeRecommender(config).fit(data, seed=5)
    b = GenerativeRecommender(config).fit(data, seed=5)
    assert a.fit_info["negatives"] == 5
    assert a.recommend(user="u2", k=5) == b.recommend(user="u2", k=5)
    full = GenerativeRecommender(GenerativeConfig(**{**TINY.__dict__, "max_epochs": 3}))
    assert full.fit(data, seed=5).fit_info["negatives"] == 0
    assert a.recommend(user="u2", k=5) != full.recommend(user="u2", k=5)


def test_training_resumes_from_its_checkpoint(tmp_path):
    data = mixed_dataset(users=12)
    base = {**TINY.__dict__, "eval_every": 1, "patience": 100}
    first = GenerativeRecommender(GenerativeConfig(**{**base, "max_epochs": 2}))
    first.checkpoint_root = tmp_path
    first.fit(data, seed=1)
    assert (tmp_path / "checkpoint" / "loop_state.json").is_file()
    resumed = GenerativeRecommender(GenerativeConfig(**{**base, "max_epochs": 4}))
    resumed.checkpoint_root = tmp_path
    resumed.fit(data, seed=1)
    assert resumed.fit_info["epochs"] == 4
    assert [c["epoch"] for c in resumed.fit_info["curve"]] == [1, 2, 3, 4]


def test_items_added_after_training_are_coded_and_recommendable(tmp_path):
    model = GenerativeRecommender(GenerativeConfig(**{**TINY.__dict__, "max_epochs": 5}))
    model.fit(mixed_dataset(users=12), seed=0)
    new = pd.DataFrame(
        {"item_id": ["a-new", "b-new"], "title": ["Alpha saga part 99", "Beta chronicle volume 99"],
         "categories": [("Alpha",), ("Beta",)], "description": ""}
    )  # fmt: skip
    codes = model.add_items(new)
    assert codes.shape == (2, 3)
    assert len(np.unique(model.index.codes, axis=0)) == 22
    everything = model.recommend(history=["a1"], k=100, exclude_seen=False)
    assert {"a-new", "b-new"} <= {r.item_id for r in everything}
    assert len(everything) == 22
    paths = _path_only(model).recommend(history=["a1"], k=100, exclude_seen=False)
    assert np.exp([r.score for r in paths]).sum() == pytest.approx(1.0, abs=1e-4)
    model.save(tmp_path / "m")
    loaded = genrec.load(tmp_path / "m")
    assert loaded.recommend(history=["a1"], k=5) == model.recommend(history=["a1"], k=5)


def test_exact_scoring_matches_a_wide_beam(trained):
    histories = [trained.histories[u] for u in ("u0", "u1", "u2")]
    beam = trained.with_decoding(beam_size=1000).recommend_indices(histories, 6)
    exact = trained.with_decoding(exact=True).recommend_indices(histories, 6)
    assert np.array_equal(beam[0], exact[0])
    np.testing.assert_allclose(beam[1], exact[1], rtol=1e-5)


def test_inference_forward_gives_the_library_start_states(trained):
    n = len(trained.catalog)
    limit = trained.config.max_len
    histories = [np.array([], dtype=np.int64), np.array([3]), np.arange(n)[: limit + 5] % n]
    histories.append(np.arange(limit - 1) % n)
    with torch.no_grad():
        ours = trained.start_states(histories, ["something alpha", "", "", "beta"])
        library = trained.start_states(
            histories, ["something alpha", "", "", "beta"], library_forward=True
        )
    assert torch.allclose(ours, library, atol=1e-5)


def test_models_saved_before_request_guidance_load_without_it(trained, tmp_path):
    import json

    trained.save(tmp_path / "old")
    meta_path = tmp_path / "old" / "genrec.json"
    meta = json.loads(meta_path.read_text())
    assert meta["config"]["request_guidance"] == trained.config.request_guidance
    del meta["config"]["request_guidance"]
    meta_path.write_text(json.dumps(meta))
    old = genrec.load(tmp_path / "old")
    assert old.config.request_guidance == 0.0


@pytest.mark.parametrize("reorder", [False, True])
def test_each_training_target_gets_its_own_real_request(reorder):
    from genrec.data.split import SequenceSplit
    from genrec.generative.recommender import TrainingRequests
    from genrec.training import simultaneous_order, training_windows

    items = np.arange(3, 15, dtype=np.int64)  # one user, 12 items, logged in pairs
    split = SequenceSplit(
        n_items=20, train={"u": items}, users=[], valid_targets=np.zeros(0, np.int64),
        test_targets=np.zeros(0, np.int64), valid_requests=[], test_requests=[],
        train_requests={"u": [f"want {i}" for i in items]}, train_times={"u": np.arange(12) // 2},
    )  # fmt: skip
    texts = sorted(set(split.train_requests["u"]))
    requests = TrainingRequests(
        "data", np.zeros((len(texts) + 1, 4), np.float32), {t: i + 1 for i, t in enumerate(texts)},
        np.full((20, 2, 1), -1), np.zeros((20, 2), np.int64), 0.25,
    )  # fmt: skip
    config = GenerativeConfig(**{**TINY.__dict__, "max_len": 6, "window_stride": 3})
    order = simultaneous_order(split.train_times["u"], np.random.default_rng(3))
    assert not np.array_equal(order, np.arange(12))
    if not reorder:
        order = np.arange(12)
    reordered = np.concatenate([[20], items[order]])  # start id first, as training reads them
    _, targets = training_windows([reordered], config.max_len, config.window_stride)
    ids = requests.windows(split, config, [order] if reorder else None)
    assert ids is not None and ids.shape == targets.shape
    text_of = {i: t for t, i in requests.ids_by_text.items()}
    for target, rid in zip(targets[targets >= 0], ids[targets >= 0], strict=True):
        assert text_of[int(rid)] == f"want {target}"  # each request still names its own item


class HashEncoder:
    """A stand-in text encoder (unit vectors seeded by each text): the scale test measures
    training, not text understanding, and E5 on 10k texts would dominate its time."""

    name = "hash-test"
    dim = 32

    def _encode(self, texts):
        rows = [np.random.default_rng(list(t.encode("utf-8"))).normal(size=self.dim) for t in texts]
        vectors = np.asarray(rows, dtype=np.float32).reshape(-1, self.dim)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-9)

    def encode_items(self, texts):
        return self._encode(texts)

    def encode_requests(self, texts):
        return self._encode(texts)


def test_a_10k_item_catalog_trains_with_the_defaults_within_memory(tmp_path):
    """10,000 items, 100,000 interactions, default config but one epoch: the codes grow to three
    levels with few items per prefix, training and validation run, and memory stays bounded
    (nothing of size catalog x catalog)."""
    import resource

    from synthetic import make_dataset

    rng = np.random.default_rng(0)
    n_items, users, per_user = 10_000, 2_000, 50
    genres = [f"genre{g}" for g in range(20)]
    items = pd.DataFrame({
        "item_id": [f"i{i}" for i in range(n_items)],
        "title": [f"Item {i}" for i in range(n_items)],
        "categories": [(genres[i % 20], genres[(i * 7 + 1) % 20]) for i in range(n_items)],
        "description": "",
    })  # fmt: skip
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    sequences = {
        f"u{u}": [f"i{i}" for i in rng.choice(n_items, per_user, replace=False, p=popularity)]
        for u in range(users)
    }
    dataset = make_dataset(sequences, items, "scale")
    model = GenerativeRecommender(GenerativeConfig(max_epochs=1, eval_every=1))
    model._encoder = HashEncoder()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    model.fit(dataset, seed=0)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    stats = model.fit_info["index"]
    assert model.config.codebook_sizes is None and len(model.index.config.codebook_sizes) == 3
    assert stats["max_items_per_prefix"] <= 32 and stats["mean_items_per_prefix"] < 4
    assert model.fit_info["train_targets"] == users * (per_user - 2)
    assert grown_mib < 2048, f"training grew the process by {grown_mib:.0f} MiB"
    recs = model.recommend(history=["i0", "i1", "i2"], k=10)
    assert len({r.item_id for r in recs}) == 10
    assert model.fit_info["best_valid_ndcg@10"] > 0


def test_the_users_own_item_vectors_replace_the_encoder(tmp_path):
    data = mixed_dataset(users=12)
    rng = np.random.default_rng(0)
    # 5-d vectors that separate the two groups, unlike anything a text encoder would give.
    own = [np.r_[float(i[0] == "a"), rng.normal(scale=0.1, size=4)] for i in data.catalog.item_ids]
    data.catalog.items["embedding"] = [v.tolist() for v in own]
    config = GenerativeConfig(**{**TINY.__dict__, "max_epochs": 2, "vectors_column": "embedding"})
    model = GenerativeRecommender(config).fit(data, seed=0)
    np.testing.assert_allclose(model.item_vectors, np.stack(own), rtol=1e-6)
    assert len(model.item_vector_keys) == 0
    new = pd.DataFrame({"item_id": ["a-new"], "title": ["Alpha saga part 99"],
                        "categories": [("Alpha",)], "description": ""})  # fmt: skip
    with pytest.raises(genrec.DataError, match="item 'a-new' has no vector"):
        model.add_items(new)
    with pytest.raises(genrec.DataError, match="item 'a-new': 3 numbers, expected 5"):
        model.add_items(new.assign(embedding=[[1.0, 0.0, 0.0]]))
    model.add_items(new.assign(embedding=[[1.0, 0.0, 0.0, 0.0, 0.0]]))
    assert model.item_vectors.shape == (21, 5)
    model.save(tmp_path / "m")
    assert genrec.load(tmp_path / "m").item_vectors.shape == (21, 5)


def test_a_saved_model_keeps_the_keys_of_its_item_texts(trained, tiny_model_dir):
    assert len(trained.item_vector_keys) == len(trained.item_vectors) == 20
    assert (tiny_model_dir / "item_vector_keys.npy").is_file()


def _text_input_model(text_inputs: bool) -> GenerativeRecommender:
    config = GenerativeConfig(**{**TINY.__dict__, "max_epochs": 2, "text_inputs": text_inputs})
    return GenerativeRecommender(config).fit(mixed_dataset(users=12), seed=0)


def test_text_inputs_make_an_items_text_vector_part_of_its_input():
    model = _text_input_model(True)
    net = model.net
    assert net is not None and net.shape.text_dim == model.item_vectors.shape[1] > 0
    histories = [np.array([0, 1, 2]), np.array([4, 5])]
    with torch.no_grad():
        before = model.start_states(histories, None)
        net.input_text[2] = -net.input_text[2]
        after = model.start_states(histories, None)
    assert not torch.allclose(before[0], after[0])  # its history holds item 2
    assert torch.equal(before[1], after[1])  # this one does not
    with torch.no_grad():  # inference reads the projected vectors again after a weight change
        assert net.text_proj is not None
        net.text_proj.weight.mul_(3.0)
        tripled = model.start_states(histories, None)
    with torch.enable_grad():  # projected row by row, as in training
        direct = model.start_states(histories, None).detach()
    assert not torch.allclose(after, tripled)
    assert torch.allclose(tripled, direct, atol=1e-5)
    off = _text_input_model(False).net
    assert off is not None and off.shape.text_dim == 0 and off.text_proj is None


def test_the_projected_text_table_is_built_in_chunks_as_one_projection(monkeypatch):
    from genrec.generative import model as network

    net = _text_input_model(True).net
    assert net is not None and net.text_proj is not None
    monkeypatch.setattr(network, "_TEXT_CHUNK", 3)  # 20 items: 7 chunks, the last one short
    net._text_cache = None
    with torch.no_grad():
        table = net._projected_text()
        whole = net.text_proj(torch.nn.functional.normalize(net.input_text, dim=-1))
    assert table.shape == whole.shape and torch.allclose(table, whole, atol=1e-6)


def test_a_model_with_text_inputs_saves_loads_and_grows(tmp_path):
    model = _text_input_model(True)
    new = pd.DataFrame({"item_id": ["a-new"], "title": ["Alpha saga part 99"],
                        "categories": [("Alpha",)], "description": ""})  # fmt: skip
    model.add_items(new)
    assert model.net is not None and model.net.input_text.shape == (21, 384)
    assert torch.equal(model.net.input_text[20], torch.from_numpy(model.item_vectors[20]))
    model.save(tmp_path / "m")
    loaded = genrec.load(tmp_path / "m")
    assert loaded.net is not None and loaded.net.shape.text_dim == 384
    assert loaded.recommend(history=["a1", "a-new"], k=5) == model.recommend(
        history=["a1", "a-new"], k=5
    )


def test_models_saved_before_text_inputs_load_without_them(tmp_path):
    import json

    model = _text_input_model(False)
    model.save(tmp_path / "old")
    shape = json.loads((tmp_path / "old" / "network.json").read_text())
    shape.pop("text_dim")
    (tmp_path / "old" / "network.json").write_text(json.dumps(shape))
    meta = json.loads((tmp_path / "old" / "genrec.json").read_text())
    del meta["config"]["text_inputs"]
    (tmp_path / "old" / "genrec.json").write_text(json.dumps(meta))
    old = genrec.load(tmp_path / "old")
    assert old.config.text_inputs is False and old.net is not None and old.net.text_proj is None
    assert old.recommend(user="u3", k=5) == model.recommend(user="u3", k=5)
