"""The sentence that comes with a list, in the request's language.

"You may like: Alien (1979), The Shining (1980), Psycho (1960)" /
"您可能会喜欢以下电影：异形、闪灵、惊魂记". The noun fits the catalog and is configurable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from genrec.requests import language_of


@dataclass(frozen=True)
class Nouns:
    """What the catalog's items are called: English plural and Chinese."""

    en: str = "items"
    zh: str = "商品"


NOUNS_BY_DATASET = {"ml-100k": Nouns("movies", "电影")}


def render_sentence(
    titles: Sequence[str], request: str | None = None, nouns: Nouns | None = None
) -> str:
    """One sentence naming the titles, in Chinese when the request is Chinese, else English."""
    nouns = nouns or Nouns()
    if language_of(request or "") == "zh":
        if not titles:
            return f"抱歉，没有找到符合要求的{nouns.zh}。"
        return f"您可能会喜欢以下{nouns.zh}：" + "、".join(titles)
    if not titles:
        return f"Sorry, no {nouns.en} match this request."
    return "You may like: " + ", ".join(titles)
