"""Pretrained-LLM backbone: a language model recommends items by writing their catalog titles.

Titles are made unique per item (:func:`unique_titles`), tokenized into a trie of targets
(title + EOS, :class:`TitleTrie`), and decoded by a beam search that only follows the trie
(:func:`constrained_beam_search`); :func:`score_all_titles` is its brute-force reference.
"""

from genrec.llm.decoding import constrained_beam_search, score_all_titles
from genrec.llm.titles import TitleTrie, unique_titles

__all__ = ["TitleTrie", "constrained_beam_search", "score_all_titles", "unique_titles"]
