"""Tiny synthetic datasets whose right answer is known, and a free loopback port for the tests
that start servers or torchrun rendezvous."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genrec.data.schema import Catalog, Dataset
from genrec.generative.recommender import GenerativeConfig, GenerativeRecommender
from genrec.store import FeedbackEvent, ServedList

GROUP_SIZE = 10
SEEN_PER_USER = 8


def make_dataset(
    sequences: dict[str, list[str]],
    items: pd.DataFrame,
    name: str = "synthetic",
) -> Dataset:
    """A Dataset from per-user item-id sequences (timestamps 1, 2, 3, ... in list order)."""
    catalog = Catalog(items)
    rows = [
        (user, catalog.index_of(item), t)
        for user, seq in sequences.items()
        for t, item in enumerate(seq, start=1)
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_index", "timestamp"])
    frame["item_index"] = frame["item_index"].astype(np.int64)
    frame["timestamp"] = frame["timestamp"].astype(np.int64)
    frame["rating"] = np.nan
    frame["request"] = ""
    return Dataset(name, catalog, frame)


def checkerboard(users: int = 40, seed: int = 0) -> Dataset:
    """Two item groups (alpha, beta) with distinct text; even users only ever pick alpha items,
    odd users beta items, each in a random order. The right answer for a user is the unseen
    items of their own group."""
    rng = np.random.default_rng(seed)
    ids = [f"a{i}" for i in range(GROUP_SIZE)] + [f"b{i}" for i in range(GROUP_SIZE)]
    items = pd.DataFrame(
        {
            "item_id": ids,
            "title": [f"Alpha saga part {i}" for i in range(GROUP_SIZE)]
            + [f"Beta chronicle volume {i}" for i in range(GROUP_SIZE)],
            "categories": [("Alpha",)] * GROUP_SIZE + [("Beta",)] * GROUP_SIZE,
            "description": ["space ships and lasers"] * GROUP_SIZE
            + ["quiet village romance"] * GROUP_SIZE,
        }
    )
    sequences = {}
    for u in range(users):
        prefix = "a" if u % 2 == 0 else "b"
        picks = rng.permutation(GROUP_SIZE)[:SEEN_PER_USER]
        sequences[f"u{u}"] = [f"{prefix}{i}" for i in picks]
    return make_dataset(sequences, items, "checkerboard")


TINY_GENERATIVE = GenerativeConfig(
    codebook_sizes=(2, 2), hidden_size=16, num_layers=1, num_heads=1, inner_size=32,
    max_len=10, window_stride=5, max_epochs=40, batch_size=16, lr=0.01, patience=100,
    eval_every=100, beam_size=8, request_probability=0.7,
)  # fmt: skip


def mixed_dataset(users: int = 40, seed: int = 0) -> Dataset:
    """Users pick alpha and beta items at random, so only a request can say which is next."""
    rng = np.random.default_rng(seed)
    ids = [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)]
    items = pd.DataFrame(
        {
            "item_id": ids,
            "title": [f"Alpha saga part {i}" for i in range(10)]
            + [f"Beta chronicle volume {i}" for i in range(10)],
            "categories": [("Alpha",)] * 10 + [("Beta",)] * 10,
            "description": "",
        }
    )
    sequences = {f"u{u}": [ids[i] for i in rng.permutation(20)[:12]] for u in range(users)}
    return make_dataset(sequences, items, "mixed")


def saved_generative_model(path: Path, max_epochs: int = 40, seed: int = 0) -> Path:
    """Train the tiny generative model on ``mixed_dataset`` and save it to ``path``."""
    config = replace(TINY_GENERATIVE, max_epochs=max_epochs)
    GenerativeRecommender(config).fit(mixed_dataset(), seed=seed).save(path)
    return path


PROMPT_WORDS = ["Request: (none)", "History: ", "Recommendation:", "I want a movie", "我想看电影"]


def tiny_tokenizer(texts: list[str], vocab_size: int = 400) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``, with <pad> (id 0) and <eos> (id 1)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<eos>", pad_token="<pad>")


def save_tiny_lm(folder: Path, titles: list[str], kind: str = "gpt2", seed: int = 0) -> Path:
    """A tiny random language model and a byte-level BPE tokenizer trained on ``titles`` (and
    the prompt's words), saved as a transformers folder: an LLM backbone base for tests."""
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        PreTrainedModel,
        T5Config,
        T5ForConditionalGeneration,
    )

    tokenizer = tiny_tokenizer([" " + t for t in titles] + titles + PROMPT_WORDS)
    vocab = len(tokenizer)
    torch.manual_seed(seed)
    model: PreTrainedModel
    if kind == "gpt2":
        config = GPT2Config(vocab_size=vocab, n_positions=512, n_layer=2, n_head=2, n_embd=32,
                            bos_token_id=1, eos_token_id=1, pad_token_id=0)  # fmt: skip
        model = GPT2LMHeadModel(config)
    elif kind == "t5":
        t5 = T5Config(vocab_size=vocab, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
                      decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)  # fmt: skip
        model = T5ForConditionalGeneration(t5)
    else:
        raise ValueError(kind)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# ------------------------------------------------------------------------------ feedback
T0 = datetime(2026, 11, 1, tzinfo=UTC)
USERS = [f"u{i}" for i in range(20)]


def beta_share(model, users, k=5):
    return float(np.mean([
        np.mean([r.item_id.startswith("b") for r in model.recommend(user=u, k=k)])
        for u in users
    ]))  # fmt: skip


def log_beta_lovers(model, url):
    """Serve top-10 to USERS; each likes the beta items shown and dislikes the alpha ones."""
    from genrec.store.database import FeedbackStore  # the 'serve' extra (test_packaging)

    with FeedbackStore(url) as store:
        t = T0
        for user in USERS:
            recs = model.recommend(user=user, k=10)
            rec_id = f"rec-{user}"
            history = [str(model.catalog.item_ids[i]) for i in model.histories[user]]
            store.log_served([ServedList(rec_id, user, "", history, [r.item_id for r in recs],
                                         [r.score for r in recs], "v0001", False, t)])  # fmt: skip
            for r in recs:
                t += timedelta(seconds=1)
                event = "like" if r.item_id.startswith("b") else "dislike"
                store.add_feedback(
                    FeedbackEvent(user, r.item_id, event, t, recommendation_id=rec_id)
                )
    return url


def record_training_data(model_dir, tmp_path, *, missing=False):
    """Write mixed_dataset to CSV files and record them in the saved model as its training data,
    as `genrec train --data FILE --catalog FILE` does."""
    import pandas as pd

    data = mixed_dataset()
    ids = data.catalog.item_ids
    frame = data.interactions.assign(item_id=ids[data.interactions["item_index"].to_numpy()])
    frame[["user_id", "item_id", "timestamp"]].to_csv(tmp_path / "log.csv", index=False)
    pd.DataFrame({"item_id": ids, "title": data.catalog.titles,
                  "categories": ["|".join(c) for c in data.catalog.categories]}
                 ).to_csv(tmp_path / "items.csv", index=False)  # fmt: skip
    meta_path = model_dir / "genrec.json"
    meta = json.loads(meta_path.read_text())
    meta["fit_info"]["data"] = {
        "data": str(tmp_path / ("gone.csv" if missing else "log.csv")),
        "catalog": str(tmp_path / "items.csv"), "users": None, "layout": "log", "columns": {},
        "strict": True, "min_rating": None, "k_core": None, "last_n": None,
    }  # fmt: skip
    meta_path.write_text(json.dumps(meta))


def versions_with_feedback(model_dir, tmp_path, *, recorded=True, missing=False):
    """A folder of versions (``v0001`` = the model in ``model_dir``) whose store holds the beta
    lovers' feedback; with ``recorded`` the model records CSV files as its training data (gone,
    with ``missing``). Returns (the folder, the store URL)."""
    import shutil

    import genrec

    root = tmp_path / "models"
    shutil.copytree(model_dir, root / "v0001")
    if recorded:
        record_training_data(root / "v0001", tmp_path, missing=missing)
    url = log_beta_lovers(genrec.load(root / "v0001"), f"sqlite:///{tmp_path / 'f.sqlite3'}")
    return root, url


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
