import numpy as np

from genrec.generative.requests import (
    HELD_OUT_TEMPLATES,
    TRAIN_TEMPLATES,
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
    assert all("恐怖" in t for t in texts)
    assert not set(texts) & training_texts


def test_synthesized_requests_name_one_of_the_targets_genres():
    categories = [("Horror",), ("Comedy", "Romance"), ()]
    synth = RequestSynthesizer(categories, probability=1.0, chinese_share=0.5)
    rng = np.random.default_rng(0)
    drawn = synth.draw(np.array([0, 1, 2] * 50), rng)
    for target, text in zip([0, 1, 2] * 50, drawn, strict=True):
        if target == 2:
            assert text == ""  # no genre, no request
        elif target == 0:
            assert "horror" in text.lower() or "恐怖" in text
        else:
            assert any(w in text.lower() for w in ("comedy", "romance", "喜剧", "爱情"))
    assert {language_of(t) for t in drawn if t} == {"en", "zh"}
