"""The English reader (all-MiniLM-L6-v2 from its package, run by transformers): unit sentence
vectors that read meaning, independent of the batch, and which texts it is given."""

from __future__ import annotations

import numpy as np
import pytest

import genrec
import genrec.recommender
from genrec.minilm import DIM, encode_english, process_reader, reads_english, set_process_reader
from genrec.serving.app import create_app
from genrec.serving.settings import ServeSettings


def test_vectors_are_unit_length_and_near_for_related_texts():
    vectors = encode_english(["a film about ghosts and haunted houses", "Horror", "Comedy"])
    assert vectors.shape == (3, DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.05


def test_a_text_gets_the_same_vector_alone_and_in_a_batch_of_longer_texts():
    text = "cowboys riding across the desert"
    alone = encode_english([text])[0]
    batch = encode_english(["a much longer text about " + "many things " * 20, text])[1]
    np.testing.assert_allclose(alone, batch, atol=1e-5)


def test_no_texts_give_no_rows_and_long_texts_are_cut_not_refused():
    assert encode_english([]).shape == (0, DIM)
    long = encode_english(["words " * 2000])
    assert long.shape == (1, DIM) and np.isfinite(long).all()


@pytest.mark.parametrize(
    ("text", "english"),
    [("something with ghosts", True), ("我想看电影", False), ("une comédie légère", False),
     ("1990", False), ("", False), ("Sci-Fi", True)],
)  # fmt: skip
def test_only_ascii_texts_with_letters_go_to_the_english_reader(text, english):
    assert reads_english(text) is english


def test_recommenders_built_with_the_reader_off_lean_on_the_multilingual_encoder_alone(
    tiny_model_dir, monkeypatch
):
    asked: list[list[str]] = []

    def counting(texts: list[str]) -> np.ndarray:
        asked.append(list(texts))
        return encode_english(texts)

    monkeypatch.setattr(genrec.recommender, "encode_english", counting)
    set_process_reader(False)
    (off,) = genrec.load(tiny_model_dir).understand(["something bright and new"])
    assert off.leaning is not None and asked == []
    set_process_reader(True)
    (on,) = genrec.load(tiny_model_dir).understand(["something bright and new"])
    assert on.leaning is not None and ["something bright and new"] in asked


def test_the_service_setting_turns_the_reader_off_for_its_process(tiny_model_dir):
    create_app(ServeSettings(model_dir=tiny_model_dir, insecure_dev=True, english_reader=False))
    assert process_reader() is False
    create_app(ServeSettings(model_dir=tiny_model_dir, insecure_dev=True))
    assert process_reader() is True
