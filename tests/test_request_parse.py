"""Hard constraints read from requests against a catalog: categories (spelled or through the
multilingual encoder), numeric bounds, eras, exclusions, "similar to", and what nothing names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genrec.indexing import E5Encoder
from genrec.requests import CatalogTerms, Nouns
from genrec.requests.parse import MAX_REQUEST_CHARS, RequestParser
from genrec.requests.patterns import content_words
from genrec.requests.terms import infer_nouns

ITEMS = pd.DataFrame(
    {
        "item_id": [f"p{i}" for i in range(8)],
        "title": ["Apple MacBook Pro", "Dell XPS 15", "Sony WH-1000XM5", "Bose QuietComfort 45",
                  "Canon EOS R6", "Apple Watch Series 9", "Logitech MX Keys", "Lenovo ThinkPad X1"],
        "categories": [("Electronics > Laptops",), ("Electronics > Laptops",),
                       ("Electronics > Headphones",), ("Electronics > Headphones",),
                       ("Electronics > Cameras",), ("Electronics > Watches",),
                       ("Electronics > Keyboards",), ("Electronics > Laptops",)],
        "description": [""] * 8,
        "price": ["1,999", "1499", "399", "329", "2499", "399", "99", "1799"],
        "release_date": ["2021-10-01", "2022", "2022", "2021", "2020", "2023", "2019", "2021"],
    }
)  # fmt: skip


@pytest.fixture(scope="module")
def parser(encoder: E5Encoder) -> RequestParser:
    terms = CatalogTerms.from_items(ITEMS, Nouns.parse("products/商品"))
    popularity = np.arange(8)
    return RequestParser(terms, ITEMS["title"], encoder.encode_requests, popularity)


def kinds(parser: RequestParser, text: str) -> dict[str, object]:
    return {c.kind: c.value for c in parser.parse(text).constraints}


def test_catalog_terms_split_category_paths_and_find_numbers_and_years():
    terms = CatalogTerms.from_items(ITEMS)
    assert terms.categories[0] == ("Electronics", "Laptops")
    assert terms.numeric["price"].values[0] == 1999.0  # "1,999" read as a number
    assert terms.numeric["price"].kind == "price"
    assert terms.years is not None and terms.years[0] == 2021.0


@pytest.mark.parametrize("text", ["I want to buy a laptop", "LAPTOPS please", "show me laptops"])
def test_a_spelled_category_in_any_form_is_a_hard_category(parser, text):
    parsed = parser.parse(text)
    assert kinds(parser, text) == {"category": "Laptops"}
    assert parsed.constraints[0].how == "spelled"
    assert parsed.mask(parser.terms).tolist() == [True, True] + [False] * 5 + [True]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("我想要买一款笔记本电脑", "Laptops"),
        ("推荐一款降噪耳机", "Headphones"),
        ("想买相机", "Cameras"),
    ],
)
def test_chinese_words_find_english_categories_through_the_shared_space(parser, text, category):
    parsed = parser.parse(text)
    assert [(c.kind, c.value, c.how) for c in parsed.constraints] == [
        ("category", category, "shared-space")
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("headphones under $350", {"category": "Headphones", "max": 350.0}),
        ("推荐一款降噪耳机，500元以内", {"category": "Headphones", "max": 500.0}),
        ("不超过1000元的", {"max": 1000.0}),
        ("over 2k dollars", {"min": 2000.0}),
        ("2000元以上", {"min": 2000.0}),
    ],
)
def test_price_bounds_in_english_and_chinese(parser, text, expected):
    assert kinds(parser, text) == expected


def test_between_gives_both_bounds_and_cheap_the_lower_third(parser):
    parsed = parser.parse("a camera between 100 and 3000")
    assert [(c.kind, c.value) for c in parsed.constraints if c.kind in ("min", "max")] == [
        ("min", 100.0),
        ("max", 3000.0),
    ]
    cheap = parser.parse("便宜一点的").of("max")[0]
    assert cheap.value == pytest.approx(
        np.quantile([1999, 1499, 399, 329, 2499, 399, 99, 1799], 1 / 3)
    )


@pytest.mark.parametrize(
    ("text", "span"),
    [("something from the 2020s", (2020, 2029)), ("before 2021", (0, 2020)),
     ("2021年以后的", (2022, 9999)), ("laptops from 2022", (2022, 2022))],
)  # fmt: skip
def test_eras_from_a_date_column(parser, text, span):
    assert tuple(kinds(parser, text)["years"]) == span  # type: ignore[arg-type]


def test_no_era_without_dates(encoder):
    terms = CatalogTerms.from_items(ITEMS.drop(columns="release_date"))
    parsed = RequestParser(terms, ITEMS["title"], encoder.encode_requests).parse("a 90s laptop")
    assert [c.kind for c in parsed.constraints] == ["category"]


@pytest.mark.parametrize("text", ["anything but laptops", "no laptops, please", "不要笔记本电脑"])
def test_exclusions_remove_the_category(parser, text):
    parsed = parser.parse(text)
    assert [(c.kind, c.value) for c in parsed.constraints] == [("exclude", "Laptops")]
    assert not parsed.mask(parser.terms)[[0, 1, 7]].any()


@pytest.mark.parametrize(
    ("text", "genre"),
    [("推荐一部特别搞笑的电影", "Comedy"), ("非常恐怖的电影", "Horror"), ("特别恐怖的", "Horror")],
)  # fmt: skip
def test_words_that_only_contain_a_negation_exclude_nothing(genre_parser, text, genre):
    # 特别 (especially) and 非常 (very) read as 别 / 非 had made the genre asked for an exclusion
    assert [(c.kind, c.value) for c in genre_parser.parse(text).constraints] == [
        ("category", genre)
    ]


@pytest.mark.parametrize("text", ["别笔记本电脑了", "非笔记本电脑的"])
def test_a_negation_standing_alone_still_excludes(parser, text):
    assert kinds(parser, text) == {"exclude": "Laptops"}


def test_similar_to_names_an_item_that_is_never_returned(parser):
    parsed = parser.parse("something like the ThinkPad but lighter")
    assert parsed.similar_items == [7]
    assert parsed.similar_titles == ["Lenovo ThinkPad X1"]
    assert parsed.mask(parser.terms)[7] == np.False_


def test_the_most_popular_of_several_matching_titles_is_the_one_meant(parser):
    assert parser.find_title("apple") == 5  # popularity 5 beats the MacBook's 0


@pytest.mark.parametrize(
    "text",
    ["something new for tonight", "I want a product", "我想要一个商品", "随便推荐一个",
     "surprise me", "what should I get next", "", "   "],
)  # fmt: skip
def test_requests_that_name_nothing_the_catalog_checks_give_no_constraint(parser, text):
    parsed = parser.parse(text)
    assert parsed.constraints == []
    assert parsed.mask(parser.terms) is None


@pytest.mark.parametrize(
    ("text", "words"),
    [("还有什么", ""), ("来点新的", ""), ("再给我看看", ""), ("随便来一个", ""),
     ("新闻类的播客", "新闻 播客"), ("我想买新的笔记本电脑", "笔记本电脑")],
)  # fmt: skip
def test_chinese_frame_words_leave_no_fragment_to_match(text, words):
    # "还有什么" used to leave "还", which the encoder matched to a category
    assert content_words(text) == words


def test_hostile_requests_are_cut_and_never_raise(parser):
    long = "laptop " * 5000 + "(((" + "[a-z]*" * 50
    parsed = parser.parse(long)
    assert len(parsed.text) <= MAX_REQUEST_CHARS
    assert parser.parse("$$$ 元元元 under under 9" * 10) is not None


def test_the_answer_phrase_repeats_what_was_understood(parser):
    nouns = parser.terms.nouns
    assert parser.parse("laptops under $1,000").describe("en", nouns) == "laptops under $1,000"
    zh = parser.parse("推荐一款降噪耳机，500元以内").describe("zh", nouns)
    assert zh == "500元以内的降噪耳机"  # a category found through the encoder, in the words used
    assert (
        parser.parse("anything but laptops").describe("en", nouns) == "products other than Laptops"
    )


def test_the_catalogs_noun_is_inferred_from_its_item_texts(encoder):
    pairs = zip(ITEMS["title"], ITEMS["categories"], strict=True)
    shop = [f"{t}. {c[0].split(' > ')[1]}" for t, c in pairs]
    assert infer_nouns(shop, encoder.encode_requests).en == "products"
    games = ["The Legend of Zelda. Adventure, RPG", "Tetris. Puzzle", "FIFA 23. Sports", "Doom"]
    assert infer_nouns(games, encoder.encode_requests).en == "games"
    assert Nouns.parse("courses") == Nouns("courses", "课程", "course")


@pytest.mark.parametrize(
    ("given", "one"),
    [("movies/电影", "movie"), ("series", "series"), ("video games", "video game"),
     ("cookies", "cookie"), ("boxes", "box"), ({"en": "movies"}, "movie"), ("电影", "电影")],
)  # fmt: skip
def test_a_nouns_singular_is_english_not_a_suffix_rule(given, one):
    # a rule on "-ies" made "movies" "movy", and the training requests "I want a Comedy movy"
    parsed = Nouns.parse(given)
    assert parsed is not None and parsed.one == one


GENRES = ["Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
          "Thriller", "War", "Western"]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "genre", "said"),
    [("我想看一部动作电影", "Action", "动作"), ("来一部黑色电影", "Film-Noir", "黑色"),
     ("有没有好的纪录电影", "Documentary", "纪录")],
)  # fmt: skip
def test_a_short_chinese_word_is_read_with_the_catalogs_noun(genre_parser, text, genre, said):
    # alone, "动作" is also "motion" and "黑色" "black": none of these stood out as a genre
    found = genre_parser.parse(text).of("category")
    assert [(c.value, c.text, c.how) for c in found] == [(genre, said, "shared-space")]


@pytest.mark.parametrize(
    "text", ["放松一下", "你来定", "我什么都想看", "最近火的", "大家都在看什么"]
)
def test_chinese_requests_about_nothing_name_no_category(genre_parser, text):
    # their leftover words read with the noun ("都电影", "放松电影") leaned to Film-Noir, the
    # encoder's hub, by more than MATCH_MARGIN and became a filter
    assert genre_parser.parse(text).of("category") == []


@pytest.fixture(scope="module")
def genre_parser(encoder: E5Encoder) -> RequestParser:
    movies = pd.DataFrame(
        {"item_id": GENRES, "title": GENRES, "categories": [(g,) for g in GENRES],
         "description": ""}
    )  # fmt: skip
    terms = CatalogTerms.from_items(movies, Nouns.parse("movies/电影"))
    return RequestParser(terms, movies["title"], encoder.encode_requests)


def test_category_masks_cover_every_level_of_a_path_in_any_case():
    terms = CatalogTerms.from_items(ITEMS)
    laptops = terms.category_mask(["laptops"])
    assert laptops.tolist() == [True, True, False, False, False, False, False, True]
    assert terms.category_mask(["Electronics"]).all()
    both = terms.category_mask(["Laptops", "WATCHES"])
    assert both.sum() == 4 and both[5]
    assert not terms.category_mask(["Tents"]).any() and not terms.category_mask([]).any()


class CountingEncoder:
    """The encoder's request path with a cache of its own, recording the texts each call had
    to encode (calls that found every text in the cache record nothing)."""

    def __init__(self, encoder: E5Encoder) -> None:
        self.encoder, self.calls, self.seen = encoder, [], set()

    def __call__(self, texts: list[str]) -> np.ndarray:
        new = [t for t in texts if t not in self.seen]
        if new:
            self.calls.append(new)
            self.seen.update(new)
        return self.encoder.encode_requests(texts)


def test_a_batch_of_new_requests_asks_the_encoder_once_for_one_text_each(encoder):
    counting = CountingEncoder(encoder)
    terms = CatalogTerms.from_items(ITEMS, Nouns.parse("products/商品"))
    parser = RequestParser(terms, ITEMS["title"], counting, reads_text=True, leaning=True)
    parser.parse("warm up: the category terms are encoded once")
    counting.calls.clear()
    texts = ["something to take photos on holiday #17", "I want to buy a laptop #17",
             "a keyboard that clicks #17", "推荐一款降噪耳机 #17"]  # fmt: skip
    parsed = parser.parse_many(texts)
    assert len(counting.calls) == 1  # the match, the leaning and the conditioning's texts
    asked = counting.calls[0]
    assert set(texts) <= set(asked) and len(asked) <= len(texts) + 2  # + a Chinese piece
    assert "#17" not in asked  # a piece without a letter names nothing: not encoded
    assert [c.text for c in parsed[3].of("category")] == ["降噪耳机"]  # the words, not the frame
    counting([request.soft_text for request in parsed])  # what the conditioning reads next
    assert len(counting.calls) == 1


def test_a_parser_for_a_model_that_reads_no_text_encodes_only_what_it_matches(encoder):
    counting = CountingEncoder(encoder)
    terms = CatalogTerms.from_items(ITEMS, Nouns.parse("products/商品"))
    parser = RequestParser(terms, ITEMS["title"], counting)
    parser.parse("warm up")
    counting.calls.clear()
    parser.parse_many(["I want to buy a laptop", "laptops under $1,000"])  # spelled: no encoder
    assert counting.calls == []
