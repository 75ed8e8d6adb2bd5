"""Natural-language requests: synthesized from item attributes where a dataset has none.

ml-100k has no request texts, so training attaches a request derived from the target item's
categories (genres) to a share of targets, written with varied templates in English and Chinese.
Some templates of each language are held out of training and used only for evaluation, so the
request-following figures measure generalisation to unseen phrasings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GENRES_ZH = {
    "Action": "动作", "Adventure": "冒险", "Animation": "动画", "Children's": "儿童",
    "Comedy": "喜剧", "Crime": "犯罪", "Documentary": "纪录", "Drama": "剧情",
    "Fantasy": "奇幻", "Film-Noir": "黑色", "Horror": "恐怖", "Musical": "音乐",
    "Mystery": "悬疑", "Romance": "爱情", "Sci-Fi": "科幻", "Thriller": "惊悚",
    "War": "战争", "Western": "西部",
}  # fmt: skip

GENRES_EN = {
    "Children's": "children's", "Sci-Fi": "sci-fi", "Film-Noir": "film noir",
}  # fmt: skip

TRAIN_TEMPLATES = {
    "en": (
        "I want a {g} movie",
        "Recommend me a good {g} film",
        "Something {g} for tonight, please",
        "I'm in the mood for {g}",
        "Show me {g} movies",
        "Any {g} films you would suggest?",
        "Looking for a {g} movie to watch",
        "Give me a {g} pick",
    ),
    "zh": (
        "我想看一部{g}电影",
        "推荐一部好看的{g}片",
        "今晚想看{g}片",
        "给我找几部{g}电影",
        "有什么{g}电影推荐吗",
        "来一部{g}类型的电影",
        "我喜欢{g}片，推荐一下",
        "想看点{g}的",
    ),
}
HELD_OUT_TEMPLATES = {
    "en": (
        "Can you find me something in the {g} genre?",
        "What's a great {g} movie I haven't seen?",
    ),
    "zh": ("帮我挑一部{g}题材的影片", "有没有我没看过的{g}好片"),
}

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def language_of(text: str) -> str:
    """'zh' when the text contains Chinese characters, else 'en'."""
    return "zh" if _CJK.search(text or "") else "en"


def genre_phrase(genre: str, language: str) -> str:
    if language == "zh":
        return GENRES_ZH.get(genre, genre)
    return GENRES_EN.get(genre, genre.lower())


def request_for(genre: str, template: str, language: str) -> str:
    return template.format(g=genre_phrase(genre, language))


@dataclass(frozen=True)
class RequestSynthesizer:
    """The training request texts for a catalog: every training template of both languages,
    filled with every genre the catalog has (held-out templates never appear)."""

    categories: Sequence[tuple[str, ...]]  # per catalog item

    def vocabulary_with_genres(self) -> list[tuple[str, str, str]]:
        """Every (request text, genre it names, language) training can produce."""
        genres = sorted({g for cats in self.categories for g in cats})
        return [
            (request_for(g, t, lang), g, lang)
            for lang, templates in TRAIN_TEMPLATES.items()
            for t in templates
            for g in genres
        ]

    def vocabulary(self) -> list[str]:
        """Every request text training can produce."""
        return [text for text, _, _ in self.vocabulary_with_genres()]


def held_out_requests(
    categories: Sequence[tuple[str, ...]], targets: np.ndarray, language: str, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Evaluation requests from held-out templates: (request texts, the requested genre)."""
    rng = np.random.default_rng(seed)
    templates = HELD_OUT_TEMPLATES[language]
    texts, genres = [], []
    for item in targets:
        cats = categories[int(item)]
        genre = cats[rng.integers(len(cats))] if cats else ""
        texts.append(
            request_for(genre, templates[rng.integers(len(templates))], language) if genre else ""
        )
        genres.append(genre)
    return texts, genres
