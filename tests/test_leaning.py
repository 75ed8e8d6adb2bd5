"""A request that describes a category without naming it leans to it (the encoder, zero-shot):
evidence per category term, the item prior it implies, and when there is none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genrec.indexing import E5Encoder
from genrec.minilm import encode_english
from genrec.requests import CatalogTerms, Nouns
from genrec.requests.applied import apply_requests
from genrec.requests.leaning import FLOOR, CategoryLeaning, combined, term_vectors
from genrec.requests.parse import RequestParser
from genrec.requests.synthesis import frames

GENRES = ["Action", "Comedy", "Documentary", "Horror", "Romance", "Sci-Fi", "Western"]
MOVIES = pd.DataFrame(
    {"item_id": [f"m{i}" for i in range(len(GENRES) + 1)],
     "title": [f"{g} film" for g in GENRES] + ["Untitled"],
     "categories": [(g,) for g in GENRES] + [()], "description": ""}
)  # fmt: skip


@pytest.fixture(scope="module")
def parser(encoder: E5Encoder) -> RequestParser:
    terms = CatalogTerms.from_items(MOVIES, Nouns.parse("movies/电影"))
    return RequestParser(terms, MOVIES["title"], encoder.encode_requests, leaning=True)


@pytest.mark.parametrize(
    ("text", "genre"),
    [("dusty saloons and sheriffs", "Western"), ("两个人坠入爱河", "Romance")],
)  # fmt: skip
def test_a_description_leans_to_the_genre_it_describes(parser, text, genre):
    parsed = parser.parse(text)
    assert parsed.of("category") == []  # not a filter: nothing was named
    assert parsed.leans_to == genre
    assert parsed.to_list()[-1] == {
        "kind": "leaning",
        "text": text,
        "value": genre,
        "match": "shared-space",
    }


def test_the_prior_is_zero_for_the_leading_genre_and_lower_for_the_rest(parser):
    parsed = parser.parse("dusty saloons and sheriffs")
    prior = parser.item_prior(parsed, strength=200)
    assert prior is not None and prior.shape == (len(MOVIES),)
    western = GENRES.index("Western")
    assert prior[western] == 0
    others = np.delete(prior, western)
    assert np.all(others < 0) and np.all(others >= FLOOR)
    assert prior[-1] == FLOOR  # an item of no category
    assert parser.item_prior(parsed, strength=0) is None


@pytest.mark.parametrize(
    "text", ["I want a horror movie", "anything but horror", "I want a movie", "我想看电影", ""]
)
def test_a_named_or_excluded_category_or_no_words_give_no_leaning(parser, text):
    parsed = parser.parse(text)
    assert parsed.leaning is None and parsed.leans_to is None
    assert parser.item_prior(parsed) is None


def test_no_leaning_unless_asked(encoder):
    terms = CatalogTerms.from_items(MOVIES, Nouns.parse("movies/电影"))
    plain = RequestParser(terms, MOVIES["title"], encoder.encode_requests)
    assert plain.parse("ghosts, demons and a haunted house").leaning is None


def test_a_description_stands_out_more_than_a_request_about_nothing(encoder):
    terms = CatalogTerms.from_items(MOVIES, Nouns.parse("movies/电影"))
    leaning = CategoryLeaning(
        terms, encoder.encode_requests, term_vectors(terms, encoder.encode_requests)
    )
    nothing, cowboys = leaning.evidence(
        ["something for tonight", "cowboys riding across the desert"]
    )

    def lead(row: np.ndarray) -> float:
        top = np.sort(row)
        return float(top[-1] - top[-2])

    assert cowboys.argmax() == leaning.names.index("Western")
    assert lead(cowboys) > 2 * lead(nothing)


def test_category_free_frames_keep_the_catalogs_noun():
    nouns = Nouns("products", "商品", "product")
    assert "I want a product" in frames("en", nouns)
    assert "推荐一个好的商品" in frames("zh", nouns)
    assert not any("{" in f or "  " in f or " ," in f for f in frames("en", nouns))


def test_applied_requests_carry_the_leaning_of_the_rows_that_lean(parser):
    histories = [np.array([0]), np.array([1]), np.array([2])]
    requests = ["dusty saloons and sheriffs", "I want a horror movie", ""]
    applied = apply_requests(parser, histories, None, requests, leaning_strength=100)
    assert applied.leaning is not None and applied.leaning.shape == (3, len(MOVIES))
    assert applied.leaning[0, GENRES.index("Western")] == 0 and applied.leaning[0].min() < 0
    assert not applied.leaning[1:].any()  # a named category is a filter, not a leaning
    assert applied.allowed is not None
    assert applied.allowed[1].sum() == 1 and applied.allowed[1, GENRES.index("Horror")]
    assert applied.soft_texts == [requests[0], requests[1], ""]
    assert apply_requests(parser, histories, None, requests).leaning is None  # strength 0
    named_only = apply_requests(parser, histories, None, requests, 100, soft_only_when_named=True)
    assert named_only.soft_texts == ["", requests[1], ""]


def test_the_english_reader_changes_english_evidence_only_and_keeps_its_scale(encoder):
    terms = CatalogTerms.from_items(MOVIES, Nouns.parse("movies/电影"))
    vectors = term_vectors(terms, encoder.encode_requests)
    alone = CategoryLeaning(terms, encoder.encode_requests, vectors)
    both = CategoryLeaning(terms, encoder.encode_requests, vectors, english=encode_english)
    texts = ["ghosts, demons and a haunted house", "有鬼屋和幽灵的", "une comédie légère"]
    before, after = alone.evidence(texts), both.evidence(texts)
    assert not np.allclose(before[0], after[0])
    np.testing.assert_array_equal(before[1:], after[1:])  # Chinese and accented text: e5 alone
    np.testing.assert_allclose(after[0].mean(), before[0].mean(), atol=1e-6)
    np.testing.assert_allclose(after[0].std(), before[0].std(), rtol=1e-4)
    assert after[0].argmax() == GENRES.index("Horror")


def test_a_catalog_whose_terms_are_not_all_english_keeps_e5_alone(encoder):
    items = MOVIES.assign(categories=[("动作",), ("喜剧",), ("纪录片",), ("恐怖",), ("爱情",),
                                      ("科幻",), ("西部",), ()])  # fmt: skip
    terms = CatalogTerms.from_items(items, Nouns.parse("movies/电影"))

    def refuse(texts: list[str]) -> np.ndarray:
        raise AssertionError(f"the English reader was asked: {texts}")

    leaning = CategoryLeaning(
        terms, encoder.encode_requests, term_vectors(terms, encoder.encode_requests), refuse
    )
    assert leaning.evidence(["ghosts and a haunted house"]).shape == (1, 7)


def test_combined_evidence_sums_z_scores_and_keeps_the_first_readers_scale():
    first = np.array([[0.0, 1.0, 0.9]], dtype=np.float32)
    second = np.array([[0.0, 0.0, 5.0]], dtype=np.float32)
    mixed = combined(first, second)
    assert mixed.argmax() == 2  # the second reader's strong lead carries the close call
    np.testing.assert_allclose(mixed.mean(), first.mean(), atol=1e-6)
    np.testing.assert_allclose(mixed.std(), first.std(), rtol=1e-5)
    np.testing.assert_allclose(combined(first, first), first, atol=1e-6)


def test_an_exclusion_that_names_no_category_ranks_away_from_what_it_describes(parser):
    parsed = parser.parse("nothing with ghosts or haunted houses")
    assert parsed.of("exclude") == [] and parsed.soft_text == ""  # not a filter, not a wish
    assert parsed.avoids == "Horror" and parsed.leaning is None
    assert parsed.to_list()[-1] == {"kind": "avoid", "text": "ghosts haunted houses",
                                    "value": "Horror", "match": "shared-space"}  # fmt: skip
    prior = parser.item_prior(parsed, strength=100)
    assert prior is not None and prior.shape == (len(MOVIES),)
    horror = GENRES.index("Horror")
    assert prior[horror] == prior.min() < np.delete(prior, horror).min()
    assert np.all(prior <= 0) and np.all(prior >= FLOOR)
    assert prior[-1] == 0  # an item of no category cannot be what was excluded
    assert parser.item_prior(parsed, strength=0) is None


def test_an_exclusion_the_catalog_names_is_a_filter_and_no_avoidance(parser):
    parsed = parser.parse("anything but horror")
    assert [c.value for c in parsed.of("exclude")] == ["Horror"]
    assert parsed.avoids is None and parser.item_prior(parsed) is None


def test_a_request_can_lean_to_one_category_and_avoid_another(parser):
    parsed = parser.parse("dusty saloons and sheriffs, nothing with ghosts or haunted houses")
    assert parsed.leans_to == "Western" and parsed.avoids == "Horror"
    prior = parser.item_prior(parsed, strength=100)
    assert prior is not None
    genres = prior[: len(GENRES)]  # the last item has no category: the leaning's floor
    assert genres[GENRES.index("Western")] == genres.max()
    assert genres[GENRES.index("Horror")] == genres.min()
