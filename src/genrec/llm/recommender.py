"""The LLM backbone: a pretrained language model fine-tuned to write the next item's title.

A prompt (template ``v1``, below) gives the user's request and the titles of their last items;
the target is the next item's title followed by EOS. Training is teacher-forced cross-entropy on
the target tokens only, through LoRA adapters (``peft``, merged into the weights afterwards) or
on every weight. Recommending is title-constrained beam search
(:func:`~genrec.llm.decoding.constrained_beam_search`) over a trie of the catalog's titles, so
every result is a catalog item, seen items are excluded during decoding, and items that no one
has interacted with (cold start) are as reachable as any other: their titles are in the trie.

Prompt template ``v1`` (recorded as ``prompt_version`` in the saved config)::

    Request: <the request text, or (none)>
    History: <title>; <title>; ... (oldest first, at most history_items; or (none))
    Recommendation:

followed, for a causal model, by ``" " + title + EOS`` (for an encoder-decoder the prompt is
the encoder's input and ``title + EOS`` the decoder's target). When the prompt exceeds
``max_prompt_tokens`` the oldest titles are dropped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from genrec.config import ConfigError, require
from genrec.data.split import SequenceSplit
from genrec.llm.base import load_pretrained, resolve_base
from genrec.llm.decoding import constrained_beam_search
from genrec.llm.titles import TitleTrie, unique_titles
from genrec.recommender import Recommender, TopKQuery, Validate
from genrec.requests import RequestSynthesizer
from genrec.requests.synthesis import item_terms
from genrec.training import resolve_device, seed_everything

PROMPT_VERSION = "v1"
LM_FOLDER = "lm"


def build_prompt(history_titles: Sequence[str], request: str) -> str:
    """Prompt template v1 (see the module notes)."""
    history = "; ".join(history_titles) if len(history_titles) else "(none)"
    return f"Request: {request.strip() or '(none)'}\nHistory: {history}\nRecommendation:"


@dataclass
class LLMConfig:
    """LLM backbone settings. The defaults are a CPU-sized run of SmolLM2-135M-Instruct with
    LoRA; on a GPU raise ``max_examples`` (0: every training position) and ``epochs``."""

    base: str = "smollm2"  # "smollm2" or a local transformers model folder
    lora: bool = True  # LoRA adapters (merged after training); False: every weight
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lr: float = 1e-3  # suits LoRA; full fine-tuning wants ~5e-5
    epochs: int = 1
    batch_size: int = 8
    max_examples: int = 2000  # training positions drawn per epoch (0: all)
    max_train_seconds: float = 0.0  # stop training after this long (0: no limit)
    history_items: int = 5  # titles of the most recent items in the prompt
    max_prompt_tokens: int = 256
    request_probability: float = 0.5  # share of training prompts with a (synthesized) request
    chinese_share: float = 0.5  # of synthesized requests, the share in Chinese
    beam_width: int = 20  # beam search places per request (never fewer than k)
    decode_batch: int = 16  # requests decoded together
    fast_forward: bool = True  # settled beams leave the step loop (same results, faster)
    # False (the default): a title settled early (one allowed title left under its prefix) is
    # completed without running the model and scored by that prefix; True: teacher-force it for
    # the exact log-probability (measured 3.5 s vs 0.7 s per request for SmolLM2 on 2 CPU cores).
    exact_scores: bool = False
    prompt_version: str = PROMPT_VERSION
    device: str = "auto"
    bf16: bool = True  # bfloat16 autocast when training on a GPU

    def validate(self) -> None:
        require(bool(self.base), "base must name 'smollm2' or a model folder")
        require(self.lora_r >= 1, f"lora_r must be at least 1, got {self.lora_r}")
        require(self.lora_alpha >= 1, f"lora_alpha must be at least 1, got {self.lora_alpha}")
        require(
            0 <= self.lora_dropout < 1, f"lora_dropout must be in [0, 1), got {self.lora_dropout}"
        )
        require(self.lr > 0, f"lr must be positive, got {self.lr}")
        require(self.epochs >= 0, f"epochs must be >= 0, got {self.epochs}")
        require(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        require(self.max_examples >= 0, f"max_examples must be >= 0, got {self.max_examples}")
        require(self.history_items >= 0, f"history_items must be >= 0, got {self.history_items}")
        require(self.max_prompt_tokens >= 16, "max_prompt_tokens must be at least 16")
        require(0 <= self.request_probability <= 1, "request_probability must be in [0, 1]")
        require(0 <= self.chinese_share <= 1, "chinese_share must be in [0, 1]")
        require(self.beam_width >= 1, f"beam_width must be at least 1, got {self.beam_width}")
        require(self.decode_batch >= 1, f"decode_batch must be at least 1, got {self.decode_batch}")
        require(
            self.prompt_version == PROMPT_VERSION,
            f"prompt_version {self.prompt_version!r} is not supported (this genrec writes "
            f"{PROMPT_VERSION!r})",
        )


class LLMRecommender(Recommender):
    """A pretrained causal or encoder-decoder LM that writes catalog titles."""

    kind = "llm"
    config_class = LLMConfig
    config: LLMConfig

    def __init__(self, config: LLMConfig | None = None) -> None:
        super().__init__(config)
        self.lm: PreTrainedModel | None = None
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.trie: TitleTrie | None = None
        self.titles: list[str] = []
        self.device = torch.device("cpu")

    # ---------------------------------------------------------------- prompts
    @property
    def encoder_decoder(self) -> bool:
        return bool(self.lm is not None and self.lm.config.is_encoder_decoder)

    def _attach(self, lm: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        catalog = self.require_catalog()
        self.lm, self.tokenizer = lm, tokenizer
        titles = [str(t) for t in catalog.items["title"]]
        self.titles = unique_titles(titles, [str(i) for i in catalog.item_ids])
        # A causal model continues "Recommendation:" with " Title"; a SentencePiece-style
        # encoder-decoder adds its own word-start marker.
        self.trie = TitleTrie(tokenizer, self.titles, prefix="" if self.encoder_decoder else " ")

    def prompt_ids(self, history: np.ndarray, request: str) -> list[int]:
        """Token ids of the prompt for one history (catalog indices) and request."""
        assert self.tokenizer is not None
        recent = (
            [self.titles[int(i)] for i in history[-self.config.history_items :]]
            if (self.config.history_items)
            else []
        )
        special = self.encoder_decoder  # T5 ends its encoder input with EOS; causal: no BOS
        while True:
            ids = self.tokenizer(build_prompt(recent, request), add_special_tokens=special)
            tokens = list(ids["input_ids"])
            if len(tokens) <= self.config.max_prompt_tokens or not recent:
                return tokens[-self.config.max_prompt_tokens :]
            recent = recent[1:]

    # ---------------------------------------------------------------- training
    def _fit(self, split: SequenceSplit, *, seed: int, progress: bool, validate: Validate) -> None:
        cfg = self.config
        seed_everything(seed)
        rng = np.random.default_rng(seed)
        folder = resolve_base(cfg.base)
        lm, tokenizer = load_pretrained(folder)
        self._attach(lm, tokenizer)
        assert self.trie is not None
        self.device = resolve_device(cfg.device)
        positions = self._positions(split)
        requests = self._request_maker(split)
        started = time.perf_counter()
        model: Any = lm
        if cfg.lora and cfg.epochs > 0:
            model = self.with_lora(lm, cfg.lora_dropout)
        model.to(self.device)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=cfg.lr)
        per_epoch = min(cfg.max_examples or len(positions), len(positions))
        steps_per_epoch = -(-per_epoch // cfg.batch_size)
        total = steps_per_epoch * cfg.epochs
        use_bf16 = cfg.bf16 and self.device.type == "cuda"
        losses: list[float] = []
        seen = 0
        stopped_early = False
        model.train()
        bar = tqdm(total=total, desc="llm", unit="step", disable=not progress)
        for _ in range(cfg.epochs):
            order = rng.permutation(len(positions))[:per_epoch]
            for start in range(0, per_epoch, cfg.batch_size):
                batch = [positions[int(i)] for i in order[start : start + cfg.batch_size]]
                prompts = [self.prompt_ids(h, requests(t, text, rng)) for h, t, text in batch]
                targets = [self.trie.target_ids(t) for _, t, _ in batch]
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
                    loss = self._loss(model, prompts, targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                losses.append(float(loss.detach()))
                seen += len(batch)
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
                if cfg.max_train_seconds and time.perf_counter() - started > cfg.max_train_seconds:
                    stopped_early = True
                    break
            if stopped_early:
                break
        bar.close()
        if cfg.lora and cfg.epochs > 0:
            model = model.merge_and_unload()  # plain weights: inference pays nothing for LoRA
        self.lm = cast(PreTrainedModel, model).eval()
        seconds = time.perf_counter() - started
        self.fit_info.update({
            "base": str(folder), "training_positions": len(positions), "examples_seen": seen,
            "steps": len(losses), "train_seconds": round(seconds, 3),
            "seconds_per_1k_examples": round(1000 * seconds / seen, 2) if seen else None,
            "first_loss": float(np.mean(losses[:20])) if losses else None,
            "final_loss": float(np.mean(losses[-20:])) if losses else None,
            "stopped_by_time": stopped_early, "trie_nodes": int(self.trie.n_nodes),
        })  # fmt: skip

    def with_lora(self, lm: PreTrainedModel, dropout: float) -> Any:
        """``lm`` wrapped by ``peft`` with fresh LoRA adapters (rank and alpha from the config,
        every linear layer); only the adapters train. ``merge_and_unload()`` gives plain
        weights back."""
        try:
            from peft import LoraConfig, TaskType, get_peft_model
        except ImportError:
            raise ConfigError(
                "LoRA needs the 'llm' extra: pip install 'genrec[llm]' (or train with --no-lora)"
            ) from None

        cfg = self.config
        task = TaskType.SEQ_2_SEQ_LM if self.encoder_decoder else TaskType.CAUSAL_LM
        lora = LoraConfig(task_type=task, r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                          lora_dropout=dropout, target_modules="all-linear")  # fmt: skip
        return get_peft_model(lm, lora)

    def _positions(self, split: SequenceSplit) -> list[tuple[np.ndarray, int, str]]:
        """Every (history so far, next item, the data's request text there) of the training
        sequences."""
        out = []
        for user, seq in split.train.items():
            texts = split.train_requests.get(user, [])
            for t in range(1, len(seq)):
                out.append((seq[:t], int(seq[t]), texts[t] if t < len(texts) else ""))
        if not out:
            raise ValueError("no training positions: every user has fewer than 2 interactions")
        return out

    def _request_maker(self, split: SequenceSplit) -> Any:
        """A function (target item, the data's request text, rng) -> the request of a training
        prompt. Data with request texts uses them; otherwise, with ``request_probability``, a
        synthesized request naming one of the target's category terms (in Chinese with
        ``chinese_share``), else none."""
        cfg = self.config
        catalog = self.require_catalog()
        if any(any(texts) for texts in split.train_requests.values()):
            return lambda target, text, rng: text
        by_term: dict[tuple[str, str], list[str]] = {}
        for text, term, lang in RequestSynthesizer(
            catalog.categories, self.nouns
        ).vocabulary_with_categories():
            by_term.setdefault((term, lang), []).append(text)

        terms = item_terms(catalog.categories)

        def make(target: int, text: str, rng: np.random.Generator) -> str:
            if rng.random() >= cfg.request_probability:
                return ""
            lang = "zh" if rng.random() < cfg.chinese_share else "en"
            named = [g for g in terms[target] if (g, lang) in by_term]
            if not named:
                return ""
            options = by_term[(named[int(rng.integers(len(named)))], lang)]
            return options[int(rng.integers(len(options)))]

        return make

    def _loss(self, model: Any, prompts: list[list[int]], targets: list[list[int]]) -> torch.Tensor:
        """Mean cross-entropy of the target tokens (prompt tokens are not scored)."""
        assert self.trie is not None
        pad = self.trie.pad_token_id
        if self.encoder_decoder:
            inputs = _pad(prompts, pad, self.device)
            labels = _pad(targets, -100, self.device)
            out = model(input_ids=inputs, attention_mask=_mask(prompts, self.device), labels=labels)
            return cast(torch.Tensor, out.loss)
        joined = [p + t for p, t in zip(prompts, targets, strict=True)]
        labels_list = [[-100] * len(p) + t for p, t in zip(prompts, targets, strict=True)]
        inputs = _pad(joined, pad, self.device)
        labels = _pad(labels_list, -100, self.device)
        out = model(input_ids=inputs, attention_mask=_mask(joined, self.device), labels=labels)
        return cast(torch.Tensor, out.loss)

    # ---------------------------------------------------------------- inference
    def _top_k(self, query: TopKQuery) -> tuple[np.ndarray, np.ndarray]:
        if self.lm is None or self.trie is None:
            raise RuntimeError("LLMRecommender is not fitted; call fit() or load()")
        histories, k, allowed, requests = query.histories, query.k, query.allowed, query.requests
        if allowed is None:
            allowed = np.ones((len(histories), len(self.require_catalog())), dtype=bool)
        texts = list(requests) if requests is not None else [""] * len(histories)
        out_idx = np.full((len(histories), k), -1, dtype=np.int64)
        out_scores = np.full((len(histories), k), -np.inf)
        width = max(self.config.beam_width, k)
        step = self.config.decode_batch
        for start in range(0, len(histories), step):
            rows = range(start, min(start + step, len(histories)))
            prompts = [self.prompt_ids(np.asarray(histories[r]), texts[r] or "") for r in rows]
            with torch.no_grad():
                idx, scores = constrained_beam_search(
                    self.lm, self.trie, prompts, k, width, allowed=allowed[start : rows.stop],
                    fast_forward=self.config.fast_forward,
                    exact=self.config.exact_scores,
                )  # fmt: skip
            out_idx[start : start + len(rows)] = idx
            out_scores[start : start + len(rows)] = scores
        return out_idx, out_scores

    def add_items(self, items: pd.DataFrame) -> None:
        """Add catalog items after training: their titles join the trie, so they can be
        recommended at once (no retraining; fine-tuning on feedback can refine them). A new
        title equal to an existing one gives both items the " [item_id]" suffix (see
        :func:`~genrec.llm.titles.unique_titles`)."""
        if self.lm is None or self.tokenizer is None:
            raise RuntimeError("LLMRecommender is not fitted; call fit() or load()")
        self.catalog = self.require_catalog().extended(items)
        self._attach(self.lm, self.tokenizer)

    # -------------------------------------------------------------- persistence
    def _save_state(self, path: Path) -> None:
        if self.lm is None or self.tokenizer is None:
            raise RuntimeError("LLMRecommender is not fitted; nothing to save")
        self.lm.save_pretrained(path / LM_FOLDER)
        self.tokenizer.save_pretrained(path / LM_FOLDER)

    def _load_state(self, path: Path) -> None:
        lm, tokenizer = load_pretrained(path / LM_FOLDER)
        self.device = resolve_device(self.config.device)
        lm.to(self.device)  # type: ignore[arg-type]  # once here, not per request
        self._attach(lm.eval(), tokenizer)


def _pad(rows: list[list[int]], value: int, device: torch.device) -> torch.Tensor:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out.to(device)


def _mask(rows: list[list[int]], device: torch.device) -> torch.Tensor:
    return _pad([[1] * len(r) for r in rows], 0, device)
