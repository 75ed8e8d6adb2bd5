"""Which categories a request leans to when it names none: a soft prior from the encoder.

"something with haunted houses and ghosts" names no category, yet the multilingual encoder
puts it nearer "Horror" than any other genre. The learned request conditioning was trained on
requests that name a category, so on such descriptions it follows them only in part; this
module adds what the encoder knows, zero-shot, for any catalog and language.

The evidence for category ``c`` is the request's cosine similarity to ``c`` (the term alone and
followed by the catalog's noun, averaged), less the similarity a request that names no category
has to it: the training templates of the request's language with the category left out ("I
want a movie", "推荐一个好的电影"). That correction removes hubness, the terms that are near
every request of a language (in Chinese one genre name attracts most queries), and leaves each
term's evidence as how much more this request is about it than a request about nothing is.

An item's prior is ``LEANING_STRENGTH`` times the evidence of its best category term, less the
best evidence of all (0 for items of the leading category, negative for the rest), added to the
model's log-probabilities. The strength was chosen on the DEV paraphrases and the DEV requests
that name nothing of benchmarks/paraphrases.py (validation users of ml-100k, the seed-0
generative model, requests as served: hard matches first, beam search), by a rule fixed before
the last measurement: the largest strength whose cost on requests that name nothing ("something
for tonight", "我该看什么": NDCG@10 of the held-out item, against strength 0) stays within .01
(mean of English and Chinese). With the learned conditioning reading every request, 100 raised
the share of top-10 items in the described genre from .730 to .784 (2 sets x 2 languages) at a
cost of .006 (200: .809 at .0115; 400: .810 at .020). With it reading only requests that name
a category (the default for synthesized training requests), 100 gives .774 at a cost of .0088
against strength 0 (.684), and 150 .798 at .011: 100 again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from genrec.requests.language import language_of
from genrec.requests.patterns import unit_vectors
from genrec.requests.synthesis import TRAIN_TEMPLATES, frames
from genrec.requests.terms import CatalogTerms

LEANING_STRENGTH = 100.0
# Items of no category, or priors this far below the leader, are all equally unlikely.
FLOOR = -50.0


def term_vectors(terms: CatalogTerms, encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """The category terms as unit request vectors [2, C, D]: alone, and followed by the
    catalog's noun ("Action", "Action movies"), in the order of ``terms.names``."""
    names = terms.names
    forms = [*names, *(f"{n} {terms.nouns.en}" for n in names)]
    return unit_vectors(encode(forms)).reshape(2, len(names), -1)


class CategoryLeaning:
    """The evidence a request gives for each of a catalog's category terms, and the item prior
    it implies. ``encode`` embeds texts as requests (the multilingual encoder);
    ``term_vectors`` [2, C, D] are the unit request vectors of ``terms.names``, alone and
    followed by the catalog's noun (:func:`term_vectors`, which the parser's shared-space
    match has already computed)."""

    def __init__(
        self,
        terms: CatalogTerms,
        encode: Callable[[list[str]], np.ndarray],
        term_vectors: np.ndarray,
    ) -> None:
        self.names = terms.names
        self._encode = encode
        self._vectors = unit_vectors(term_vectors[0] + term_vectors[1])  # [C, D]
        self._baseline: dict[str, np.ndarray] = {}
        for language in TRAIN_TEMPLATES:
            nothing = unit_vectors(encode(frames(language, terms.nouns)))
            self._baseline[language] = (nothing @ self._vectors.T).mean(axis=0)  # [C]
        # Items grouped by their tuple of terms (few kinds, even for a million items), so a
        # prior costs one gather over the items.
        column = {name: j for j, name in enumerate(self.names)}
        kinds: dict[tuple[str, ...], int] = {}
        self._item_kind = np.array(
            [kinds.setdefault(tuple(cats), len(kinds)) for cats in terms.categories],
            dtype=np.int64,
        )
        self._kinds = np.asarray([k for cats, k in kinds.items() for _ in cats], dtype=np.int64)
        self._terms = np.asarray([column[c] for cats in kinds for c in cats], dtype=np.int64)
        self._n_kinds = len(kinds)

    def evidence(self, texts: Sequence[str]) -> np.ndarray:
        """[T, C]: each text's similarity to each term less a category-free request's."""
        if not texts:
            return np.zeros((0, len(self.names)), dtype=np.float32)
        sims = unit_vectors(self._encode(list(texts))) @ self._vectors.T
        languages = [language_of(t) if language_of(t) in self._baseline else "en" for t in texts]
        return sims - np.stack([self._baseline[lang] for lang in languages])

    def item_prior(self, evidence: np.ndarray, strength: float = LEANING_STRENGTH) -> np.ndarray:
        """Log-weights [N] for one text's evidence [C]: 0 for items of the leading term, the
        strength times the shortfall of their best term for the others (at least FLOOR)."""
        best = np.full(self._n_kinds, -np.inf, dtype=np.float64)
        np.maximum.at(best, self._kinds, evidence[self._terms].astype(np.float64))
        prior = strength * (best[self._item_kind] - float(evidence.max()))
        return np.maximum(prior, FLOOR).astype(np.float32)
