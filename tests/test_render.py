from genrec.render import render_sentence
from genrec.requests import Nouns


def test_english_sentence_like_the_seed():
    text = render_sentence(["Alien (1979)", "The Shining (1980)", "Psycho (1960)"], "a scary one")
    assert text == "You may like: Alien (1979), The Shining (1980), Psycho (1960)"


def test_chinese_request_gets_a_chinese_sentence_with_the_catalog_noun():
    text = render_sentence(["异形", "闪灵"], "我想看一部恐怖片", Nouns("movies", "电影", "movie"))
    assert text == "您可能会喜欢以下电影：异形、闪灵"


def test_empty_list_says_so_in_the_request_language():
    assert "no courses" in render_sentence([], "python", Nouns("courses", "课程"))
    assert "课程" in render_sentence([], "我想学编程", Nouns("courses", "课程"))
