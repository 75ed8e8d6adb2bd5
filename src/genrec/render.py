"""The sentence that comes with a list, in the request's language.

"You may like: Alien (1979), The Shining (1980), Psycho (1960)" /
"您可能会喜欢以下电影：异形、闪灵、惊魂记". The noun fits the catalog and is configurable.
"""

from __future__ import annotations

from collections.abc import Sequence

from genrec.requests.language import language_of
from genrec.requests.terms import Nouns


def render_sentence(
    titles: Sequence[str],
    request: str | None = None,
    nouns: Nouns | None = None,
    understood: str | None = None,
) -> str:
    """One sentence naming the titles, in Chinese when the request is Chinese, else English.

    ``understood`` is the phrase of the constraints read from the request ("laptops under
    $1,000"), which the sentence repeats so the user sees what was understood.
    """
    nouns = nouns or Nouns()
    if language_of(request or "") == "zh":
        what = understood or nouns.zh
        if not titles:
            return f"抱歉，没有找到符合要求的{what}。"
        return f"您可能会喜欢以下{what}：" + "、".join(titles)
    if not titles:
        return f"Sorry, no {understood or nouns.en} match this request."
    if understood:
        return f"You may like these {understood}: " + ", ".join(titles)
    return "You may like: " + ", ".join(titles)
