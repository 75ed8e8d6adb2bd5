"""Natural-language requests: understanding them against a catalog, and synthesizing them for
training where the data has none."""

from genrec.requests.language import language_of
from genrec.requests.synthesis import (
    HELD_OUT_TEMPLATES,
    TRAIN_TEMPLATES,
    RequestSynthesizer,
    held_out_requests,
)
from genrec.requests.terms import CatalogTerms, Nouns

__all__ = [
    "HELD_OUT_TEMPLATES",
    "TRAIN_TEMPLATES",
    "CatalogTerms",
    "Nouns",
    "RequestSynthesizer",
    "held_out_requests",
    "language_of",
]
