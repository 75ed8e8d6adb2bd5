"""The explicit table of model kinds (used by the CLI and by ``Recommender.load``)."""

from __future__ import annotations

from genrec.recommender import Recommender


def registry() -> dict[str, type[Recommender]]:
    from genrec.baselines.content import ContentRecommender
    from genrec.baselines.itemknn import ItemKNNRecommender
    from genrec.baselines.popular import PopularRecommender
    from genrec.baselines.sasrec import SASRecRecommender
    from genrec.generative.recommender import GenerativeRecommender
    from genrec.llm.recommender import LLMRecommender

    return {
        PopularRecommender.kind: PopularRecommender,
        ItemKNNRecommender.kind: ItemKNNRecommender,
        ContentRecommender.kind: ContentRecommender,
        SASRecRecommender.kind: SASRecRecommender,
        GenerativeRecommender.kind: GenerativeRecommender,
        LLMRecommender.kind: LLMRecommender,
    }


def model_class(kind: str) -> type[Recommender]:
    table = registry()
    if kind not in table:
        raise ValueError(f"unknown model '{kind}'; available: {', '.join(sorted(table))}")
    return table[kind]
