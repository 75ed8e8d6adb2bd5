"""Requests synthesized from a catalog's own categories, for data that has no request texts.

Training attaches a request naming one of the target item's category terms (any level of a
category path) to a share of targets, written with templates in English and Chinese that use
the catalog's noun ("I want a comedy movie", "I want a laptops product" reads oddly but trains
the same). Categories keep the catalog's own words: a Chinese template names an English category
in English ("我想要一个Laptops商品"); requests that use the Chinese word ("笔记本电脑") reach the
category through the multilingual encoder (see :mod:`genrec.requests.parse`). Some templates of
each language are held out of training and used only for evaluation, so the request-following
figures measure generalisation to unseen phrasings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from genrec.requests.terms import Nouns, category_levels

TRAIN_TEMPLATES = {
    "en": (
        "I want a {c} {n}",
        "Recommend me a good {c} {n}",
        "Something {c}, please",
        "I'm in the mood for {c}",
        "Show me {c} {ns}",
        "Any {c} {ns} you would suggest?",
        "Looking for a {c} {n}",
        "Give me a {c} pick",
    ),
    "zh": (
        "我想要一个{c}{nz}",
        "推荐一个好的{c}{nz}",
        "最近想要{c}",
        "给我找几个{c}{nz}",
        "有什么{c}{nz}推荐吗",
        "来一个{c}类的{nz}",
        "我喜欢{c}，推荐一下",
        "想要点{c}的",
    ),
}
HELD_OUT_TEMPLATES = {
    "en": (
        "Can you find me something in the {c} category?",
        "What's a great {c} {n} I haven't seen?",
    ),
    "zh": ("帮我挑一个{c}类的{nz}", "有没有我没见过的{c}好{nz}"),
}


def category_phrase(category: str, language: str, names: Mapping[str, str] | None = None) -> str:
    """How a request writes a category: ``names`` (the category in that language) where given,
    else the catalog's own word, lower-cased for English sentences."""
    if names and category in names:
        return names[category]
    return category.lower() if language == "en" else category


def fill(
    template: str,
    category: str,
    language: str,
    nouns: Nouns,
    names: Mapping[str, str] | None = None,
) -> str:
    phrase = category_phrase(category, language, names)
    return template.format(c=phrase, n=nouns.one, ns=nouns.en, nz=nouns.zh)


def frames(language: str, nouns: Nouns) -> list[str]:
    """The training templates of a language with the category left out: requests that name
    no category, in the catalog's noun ("I want a movie", "推荐一个好的电影")."""
    out = []
    for template in TRAIN_TEMPLATES[language]:
        text = template.format(c="", n=nouns.one, ns=nouns.en, nz=nouns.zh)
        out.append(re.sub(r"\s+([,?.])", r"\1", " ".join(text.split())))
    return out


def item_terms(categories: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    """Each item's category terms: every level of every category path, once."""
    return [
        tuple(dict.fromkeys(level for c in cats for level in category_levels(str(c))))
        for cats in categories
    ]


@dataclass(frozen=True)
class RequestSynthesizer:
    """The training request texts for a catalog: every training template of both languages,
    filled with every category term the catalog has (held-out templates never appear)."""

    categories: Sequence[Sequence[str]]  # per catalog item, as the catalog writes them
    nouns: Nouns = field(default_factory=Nouns)

    @property
    def terms(self) -> list[tuple[str, ...]]:
        return item_terms(self.categories)

    def vocabulary_with_categories(self) -> list[tuple[str, str, str]]:
        """Every (request text, category term it names, language) training can produce."""
        terms = sorted({t for cats in self.terms for t in cats})
        return [
            (fill(t, term, lang, self.nouns), term, lang)
            for lang, templates in TRAIN_TEMPLATES.items()
            for t in templates
            for term in terms
        ]

    def vocabulary(self) -> list[str]:
        """Every request text training can produce."""
        return [text for text, _, _ in self.vocabulary_with_categories()]


def held_out_requests(
    categories: Sequence[Sequence[str]],
    targets: np.ndarray,
    language: str,
    seed: int = 0,
    *,
    nouns: Nouns | None = None,
    names: Mapping[str, str] | None = None,
) -> tuple[list[str], list[str]]:
    """Evaluation requests from held-out templates: (request texts, the requested category).

    ``names`` writes categories in the request's language (e.g. Chinese genre names), as a user
    of that language would; without it the catalog's own words are used.
    """
    rng = np.random.default_rng(seed)
    templates = HELD_OUT_TEMPLATES[language]
    terms = item_terms(categories)
    nouns = nouns or Nouns()
    texts, wanted = [], []
    for item in targets:
        cats = terms[int(item)]
        term = cats[rng.integers(len(cats))] if cats else ""
        template = templates[rng.integers(len(templates))]
        texts.append(fill(template, term, language, nouns, names) if term else "")
        wanted.append(term)
    return texts, wanted
