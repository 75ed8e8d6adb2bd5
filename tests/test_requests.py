import numpy as np

from genrec.generative.recommender import TrainingRequests
from genrec.requests import (
    HELD_OUT_TEMPLATES,
    TRAIN_TEMPLATES,
    Nouns,
    RequestSynthesizer,
    held_out_requests,
    language_of,
)


def test_language_detection():
    assert language_of("我想看一部恐怖片") == "zh"
    assert language_of("I want a scary movie") == "en"
    assert language_of("") == "en"


def test_held_out_templates_never_appear_in_training():
    for lang in ("en", "zh"):
        assert not set(HELD_OUT_TEMPLATES[lang]) & set(TRAIN_TEMPLATES[lang])
    synth = RequestSynthesizer([("Horror",), ("Comedy", "Romance")])
    training_texts = set(synth.vocabulary())
    texts, genres = held_out_requests([("Horror",)] * 20, np.zeros(20, dtype=int), "zh", seed=1)
    assert genres == ["Horror"] * 20
    assert all("Horror" in t for t in texts)  # the catalog's own word, no translation table
    assert not set(texts) & training_texts
    named, _ = held_out_requests(
        [("Horror",)] * 5, np.zeros(5, dtype=int), "zh", names={"Horror": "恐怖"}
    )
    assert all("恐怖" in t for t in named)


def test_templates_use_the_catalogs_noun_and_every_level_of_a_category_path():
    synth = RequestSynthesizer(
        [("Electronics > Laptops",), ("Electronics > Headphones",)],
        Nouns("products", "商品", "product"),
    )
    triples = synth.vocabulary_with_categories()
    assert {g for _, g, _ in triples} == {"Electronics", "Laptops", "Headphones"}
    texts = [t for t, _, _ in triples]
    assert "I want a laptops product" in texts
    assert any("商品" in t for t in texts)
    assert not any("movie" in t or "电影" in t for t in texts)
    assert synth.terms == [("Electronics", "Laptops"), ("Electronics", "Headphones")]


def _synthesized(categories, probability, chinese_share):
    def encode(texts):
        return np.zeros((len(texts), 4), dtype=np.float32)  # the test needs ids, not vectors

    return TrainingRequests.synthesized(categories, encode, probability, chinese_share)


def _drawn_texts(requests, targets, seed=0):
    by_id = {i: t for t, i in requests.ids_by_text.items()}
    ids = requests.draw(np.asarray(targets), np.random.default_rng(seed)).numpy()
    return [by_id.get(int(i), "") for i in ids]


def test_synthesized_requests_name_one_of_the_targets_genres():
    categories = [("Horror",), ("Comedy", "Romance"), ()]
    targets = [0, 1, 2] * 50
    drawn = _drawn_texts(_synthesized(categories, 1.0, 0.5), targets)
    for target, text in zip(targets, drawn, strict=True):
        if target == 2:
            assert text == ""  # no genre, no request
        elif target == 0:
            assert "horror" in text.lower()
        else:
            assert any(w in text.lower() for w in ("comedy", "romance"))
    assert {language_of(t) for t in drawn if t} == {"en", "zh"}


def test_chinese_share_sets_the_language_mix_and_probability_the_request_rate():
    categories = [("Horror",), ("Comedy",)]
    targets = [0, 1] * 1000
    for share in (0.0, 0.2, 1.0):
        drawn = [t for t in _drawn_texts(_synthesized(categories, 1.0, share), targets) if t]
        zh = np.mean([language_of(t) == "zh" for t in drawn])
        assert abs(zh - share) < 0.04, (share, zh)
    drawn = _drawn_texts(_synthesized(categories, 0.3, 0.5), targets)
    assert abs(np.mean([t != "" for t in drawn]) - 0.3) < 0.04
