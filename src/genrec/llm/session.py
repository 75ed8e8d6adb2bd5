"""A batch of prompts run once, and the token steps and teacher-forced targets that follow
them over the prompts' cache: the machinery under title-constrained decoding and title scoring.

Cost. The prompt runs once per request (for T5: the encoder plus the decoder's start token); its
key/value cache is copied along the batch dimension to the beams (``Cache.reorder_cache``,
an ``index_select`` on every layer), and each step runs all beams of all requests in one
forward of one token each. Prompts of different lengths are left-padded for causal models, with
an attention mask and position ids counted from each prompt's first real token; T5's encoder
input is right-padded.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar, cast

import numpy as np
import torch
from transformers import PreTrainedModel
from transformers.cache_utils import Cache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput

# Most logits one teacher-forcing forward may produce (rows x tokens x vocab): 256 MiB in fp32.
_LOGIT_BUDGET = 1 << 26

_C = TypeVar("_C", bound=Cache)


@contextmanager
def eval_mode(model: PreTrainedModel) -> Iterator[None]:
    """Dropout off while decoding; the model's own mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _take_rows(cache: _C, rows: torch.Tensor) -> _C:
    """A cache holding ``cache``'s batch rows ``rows`` (repeats allowed); ``cache`` is unchanged.

    ``reorder_cache`` replaces each layer's tensors by an ``index_select`` of them, so running it
    on shallow copies of the layers leaves the original layers' tensors untouched.
    """
    if isinstance(cache, EncoderDecoderCache):
        pair = copy.copy(cache)
        pair.self_attention_cache = _take_rows(cache.self_attention_cache, rows)
        pair.cross_attention_cache = _take_rows(cache.cross_attention_cache, rows)
        pair.is_updated = dict(cache.is_updated)
        return pair
    taken = copy.copy(cache)
    taken.layers = [copy.copy(layer) for layer in cache.layers]
    taken.reorder_cache(cast(torch.LongTensor, rows))
    return taken


class PromptSession:
    """One batch of prompts run once, then continued many times from its cache.

    Rows of the continuations point back to prompts through ``requests`` (indices into the
    batch). Causal models: prompts left-padded. Encoder-decoders: the encoder runs once on the
    right-padded prompts, and the decoder's start token is the "prompt" whose cache is reused.
    """

    def __init__(
        self, model: PreTrainedModel, prompt_ids: Sequence[Sequence[int]], pad_token_id: int
    ) -> None:
        if not prompt_ids:
            raise ValueError("no prompts")
        lengths = [len(p) for p in prompt_ids]
        if min(lengths) == 0:
            raise ValueError("empty prompt: a causal model needs at least one token (e.g. BOS)")
        self.model = model
        self.device = model.device
        self.seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
        batch, width = len(prompt_ids), max(lengths)
        ids = torch.full((batch, width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for row, prompt in enumerate(prompt_ids):
            span = slice(0, len(prompt)) if self.seq2seq else slice(width - len(prompt), width)
            ids[row, span] = torch.as_tensor(list(prompt), dtype=torch.long)
            mask[row, span] = 1
        self.ids = ids.to(self.device)  # [B, P]
        self.mask = mask.to(self.device)  # [B, P]
        self.lengths = torch.as_tensor(lengths, device=self.device)  # [B]
        if self.seq2seq:
            encoder = model.get_encoder()
            self.encoded = encoder(input_ids=self.ids, attention_mask=self.mask).last_hidden_state
            start = _decoder_start(model)
            out = model(
                encoder_outputs=BaseModelOutput(last_hidden_state=self.encoded),
                attention_mask=self.mask,
                decoder_input_ids=torch.full((batch, 1), start, device=self.device),
                use_cache=True,
            )
        else:
            extra = {}
            if "logits_to_keep" in inspect.signature(model.forward).parameters:
                extra["logits_to_keep"] = 1
            out = model(
                input_ids=self.ids,
                attention_mask=self.mask,
                position_ids=(self.mask.cumsum(1) - 1).clamp(min=0),
                use_cache=True,
                **extra,
            )
        self.first_logits: torch.Tensor = out.logits[:, -1].float()  # [B, V]
        self.first_lse = torch.logsumexp(self.first_logits, dim=-1)  # [B]
        self.prompt_cache: Cache = out.past_key_values
        self.vocab_size = self.first_logits.shape[-1]
        self._cache: Cache | None = None  # the step loop's cache
        self._generated = 0  # tokens the step loop has fed after the prompt

    def forward(
        self, requests: torch.Tensor, input_ids: torch.Tensor, cache: Cache, generated: int
    ) -> tuple[torch.Tensor, Cache]:
        """Continue rows of ``cache`` (prompt + ``generated`` tokens) by ``input_ids`` [R, L]:
        logits [R, L, V] and the grown cache."""
        rows, length = input_ids.shape
        if self.seq2seq:
            out = self.model(
                encoder_outputs=BaseModelOutput(last_hidden_state=self.encoded[requests]),
                attention_mask=self.mask[requests],
                decoder_input_ids=input_ids,
                past_key_values=cache,
                use_cache=True,
            )
        else:
            ones = torch.ones(rows, generated + length, dtype=torch.long, device=self.device)
            offsets = torch.arange(generated, generated + length, device=self.device)
            out = self.model(
                input_ids=input_ids,
                attention_mask=torch.cat([self.mask[requests], ones], dim=1),
                position_ids=self.lengths[requests][:, None] + offsets,  # [R, L]
                past_key_values=cache,
                use_cache=True,
            )
        return out.logits.float(), out.past_key_values

    def step(self, parents: np.ndarray, tokens: np.ndarray, requests: np.ndarray) -> torch.Tensor:
        """One token for each new row; ``parents`` index the previous step's rows (the prompts
        at the first step). Returns next-token logits [R, V]."""
        parent_rows = torch.as_tensor(parents, device=self.device)
        if self._cache is None:
            self._cache = _take_rows(self.prompt_cache, parent_rows)
        else:
            self._cache.reorder_cache(cast(torch.LongTensor, parent_rows))
        input_ids = torch.as_tensor(tokens, device=self.device)[:, None]
        req = torch.as_tensor(requests, device=self.device)
        logits, self._cache = self.forward(req, input_ids, self._cache, self._generated)
        self._generated += 1
        return logits[:, -1]

    def teacher_force(self, requests: np.ndarray, targets: Sequence[Sequence[int]]) -> np.ndarray:
        """Log-probability of each whole target given its prompt: [R] float64 (chunked)."""
        if not targets:
            return np.zeros(0)
        return self.teacher_force_tensor(requests, targets).detach().cpu().numpy()

    def teacher_force_tensor(
        self, requests: np.ndarray, targets: Sequence[Sequence[int]]
    ) -> torch.Tensor:
        """:meth:`teacher_force` as a float64 tensor on the model's device, differentiable when
        gradients are enabled (the prompt's cache included)."""
        longest = max(len(t) for t in targets)
        chunk = max(1, _LOGIT_BUDGET // (longest * self.vocab_size))
        parts = [
            self._teacher_force(requests[start : start + chunk], targets[start : start + chunk])
            for start in range(0, len(targets), chunk)
        ]
        return torch.cat(parts)

    def _teacher_force(
        self, requests: np.ndarray, targets: Sequence[Sequence[int]]
    ) -> torch.Tensor:
        rows, length = len(targets), max(len(t) for t in targets) - 1
        req = torch.as_tensor(requests, device=self.device)
        first = torch.as_tensor([t[0] for t in targets], device=self.device)
        head = self.first_logits[req, first] - self.first_lse[req]  # [R]
        inputs = torch.full((rows, length), 0, dtype=torch.long)
        labels = torch.full((rows, length), -1, dtype=torch.long)
        for row, target in enumerate(targets):
            inputs[row, : len(target) - 1] = torch.as_tensor(list(target[:-1]))
            labels[row, : len(target) - 1] = torch.as_tensor(list(target[1:]))
        inputs, labels = inputs.to(self.device), labels.to(self.device)
        # Right padding needs no mask: causal attention never lets a real token see the pads.
        cache = _take_rows(self.prompt_cache, req)
        logits, _ = self.forward(req, inputs, cache, 0)  # [R, L, V]
        lse = torch.logsumexp(logits, dim=-1)  # [R, L]
        picked = logits.gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1) - lse
        picked = picked.masked_fill(labels < 0, 0.0)
        return head.double() + picked.double().sum(dim=1)


def _decoder_start(model: PreTrainedModel) -> int:
    start = getattr(model.config, "decoder_start_token_id", None)
    if start is None and model.generation_config is not None:
        start = model.generation_config.decoder_start_token_id
    if start is None:
        raise ValueError("encoder-decoder model without decoder_start_token_id")
    return int(start)
