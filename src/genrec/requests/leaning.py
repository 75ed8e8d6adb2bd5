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

Only a request that describes something leans (:meth:`CategoryLeaning.describes`): "what should
I watch" or "我不知道想要什么" leave content words, but they are about nothing, and a leaning
read into them costs the ranking. The test needs no setting: a request is placed between the
catalog's own two kinds of training requests (the frames, and the frames filled with its most
common terms). On ml-100k validation (seed-0 model, requests as served), over the DEV requests
that name nothing (both sets of benchmarks/paraphrases.py, 24 a language), NDCG@10 rose from
.1069/.0890 to .1099/.0995 (EN/ZH; .1283 with no request), while the DEV paraphrases kept
their precision (.762/.824 of the top 10 in the described genre, .762/.823 with the test).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from genrec.requests.language import language_of
from genrec.requests.patterns import unit_vectors
from genrec.requests.synthesis import TRAIN_TEMPLATES, fill, frames
from genrec.requests.terms import CatalogTerms

LEANING_STRENGTH = 100.0
# Category terms (the most common) put in the training templates to place, per language, what a
# request that names a category looks like (see CategoryLeaning.describes).
REFERENCE_TERMS = 16
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
        self._nothing: dict[str, np.ndarray] = {}  # the unit centroid of the category-free frames
        self._midpoint: dict[str, float] = {}
        counts: dict[str, int] = {}
        for cats in terms.categories:
            for c in cats:
                counts[c] = counts.get(c, 0) + 1
        common = sorted(counts, key=lambda c: (-counts[c], c))[:REFERENCE_TERMS]
        for language, templates in TRAIN_TEMPLATES.items():
            nothing = unit_vectors(encode(frames(language, terms.nouns)))
            self._baseline[language] = (nothing @ self._vectors.T).mean(axis=0)  # [C]
            self._nothing[language] = unit_vectors(nothing.mean(axis=0, keepdims=True))[0]
            named = [fill(t, c, language, terms.nouns) for c in common for t in templates]
            about_nothing = np.median(self._nothingness(nothing, language))
            about_a_term = np.median(self._nothingness(unit_vectors(encode(named)), language))
            self._midpoint[language] = float((about_nothing + about_a_term) / 2)
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

    def _nothingness(self, units: np.ndarray, language: str) -> np.ndarray:
        """[T]: how much nearer unit request vectors are to the category-free frames' centroid
        than to their nearest category term."""
        return units @ self._nothing[language] - (units @ self._vectors.T).max(axis=1)

    def evidence(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """[T, C]: each text's similarity to each term less a category-free request's; and
        [T] booleans: whether the text describes something (:meth:`describes`)."""
        if not texts:
            return np.zeros((0, len(self.names)), dtype=np.float32), np.zeros(0, dtype=bool)
        units = unit_vectors(self._encode(list(texts)))
        languages = [language_of(t) if language_of(t) in self._baseline else "en" for t in texts]
        evidence = units @ self._vectors.T - np.stack([self._baseline[lang] for lang in languages])
        return evidence, self.describes(units, languages)

    def describes(self, units: np.ndarray, languages: Sequence[str]) -> np.ndarray:
        """[T] booleans: whether each request reads more like one that names a category than
        like one that names nothing, on one axis: its nearness to the category-free frames less
        its nearness to the nearest term, against the midpoint of the medians of the two kinds
        of training requests of its language (the frames; the frames filled with the most common
        terms). Only such a request leans: "pick one for me" is about nothing and must rank as
        no request does, "something with haunted houses and ghosts" is about something."""
        out = np.zeros(len(languages), dtype=bool)
        for language in set(languages):
            rows = np.array([lang == language for lang in languages])
            out[rows] = self._nothingness(units[rows], language) < self._midpoint[language]
        return out

    def item_prior(self, evidence: np.ndarray, strength: float = LEANING_STRENGTH) -> np.ndarray:
        """Log-weights [N] for one text's evidence [C]: 0 for items of the leading term, the
        strength times the shortfall of their best term for the others (at least FLOOR)."""
        best = np.full(self._n_kinds, -np.inf, dtype=np.float64)
        np.maximum.at(best, self._kinds, evidence[self._terms].astype(np.float64))
        prior = strength * (best[self._item_kind] - float(evidence.max()))
        return np.maximum(prior, FLOOR).astype(np.float32)
