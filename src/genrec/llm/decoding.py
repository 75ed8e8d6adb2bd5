"""Title-constrained beam search for Hugging Face language models, and its brute-force reference.

A causal LM (GPT-2, Llama, ...) or an encoder-decoder (T5) reads a prompt and writes item
titles; decoding only follows children in the :class:`~genrec.llm.titles.TitleTrie`, so every
result is a real item, and the results are distinct because each leaf is one item. A result's
score is the exact log-probability of its target (title tokens + EOS) given the prompt: each
token's log-softmax over the full vocabulary, summed. The trie restricts which tokens may be
chosen; it does not renormalise. :func:`score_all_titles` computes the same quantity for every
item by teacher forcing, and a beam at least as wide as the catalog returns the same top K.

Cost. The prompt runs once per request (for T5: the encoder plus the decoder's start token); its
key/value cache is copied along the batch dimension to the beams (``Cache.reorder_cache``,
an ``index_select`` on every layer), and each step runs all beams of all requests in one
forward of one token each. Prompts of different lengths are left-padded for causal models, with
an attention mask and position ids counted from each prompt's first real token; T5's encoder
input is right-padded.

Filters. ``exclude`` and ``allowed`` give each request an item mask. A child is a candidate only
if some allowed item lies under it (a prefix count over the trie's leaves, one subtraction per
node), so filters prune whole subtrees at every depth and never waste a beam.

Beams. Each step, every beam proposes its allowed children. A child reached by EOS is an item:
it joins the request's results. The others compete, per request, for ``beam_width`` places
(never fewer than ``k``). A kept beam under which exactly one allowed item remains is *settled*:
its item is certain, only its exact score is not yet known, and it no longer competes for
places. Keeping at least ``k`` places and never dropping a settled beam guarantees ``k``
results whenever ``k`` items are allowed.

Fast-forward. Without it, settled beams go on through the step loop one token at a time. With
it (the default) a settled beam leaves the loop at once, and after the loop all settled beams
are scored together by teacher forcing their whole target over the prompt's cache (one batched
forward). The loop then ends as soon as no two allowed titles share a beam's prefix, instead of
at the longest title. Both modes take the same decisions, so items are identical and scores
agree to float rounding (the same log-probabilities, summed from a different batch layout).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar, cast

import numpy as np
import torch
from transformers import PreTrainedModel
from transformers.cache_utils import Cache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput

from genrec.llm.titles import TitleTrie

# Most logits one teacher-forcing forward may produce (rows x tokens x vocab): 256 MiB in fp32.
_LOGIT_BUDGET = 1 << 26

_C = TypeVar("_C", bound=Cache)


@contextmanager
def _eval_mode(model: PreTrainedModel) -> Iterator[None]:
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


class _PromptSession:
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


def _request_mask(
    n_items: int,
    batch: int,
    exclude: Sequence[Collection[int]] | None,
    allowed: np.ndarray | None,
) -> np.ndarray:
    """Per-request allowed items [B, N] bool from an optional mask and exclude sets."""
    mask = np.ones((batch, n_items), dtype=bool)
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=bool)
        if allowed.shape not in ((n_items,), (batch, n_items)):
            raise ValueError(f"allowed has shape {allowed.shape}, expected [N] or [B, N]")
        mask &= allowed
    if exclude is not None:
        if len(exclude) != batch:
            raise ValueError(f"{len(exclude)} exclude sets for {batch} prompts")
        for row, items in enumerate(exclude):
            mask[row, np.fromiter(items, dtype=np.int64, count=len(items))] = False
    return mask


def _top_per_group(
    groups: np.ndarray, scores: np.ndarray, ties: np.ndarray, width: int
) -> np.ndarray:
    """Indices of the ``width`` best scores within each group (ties broken by ``ties``)."""
    order = np.lexsort((ties, -scores, groups))
    sorted_groups = groups[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_groups, sorted_groups, side="left")
    return np.sort(order[rank < width])


def constrained_beam_search(
    model: PreTrainedModel,
    trie: TitleTrie,
    prompt_ids: Sequence[Sequence[int]],
    k: int,
    beam_width: int | None = None,
    *,
    exclude: Sequence[Collection[int]] | None = None,
    allowed: np.ndarray | None = None,
    fast_forward: bool = True,
    exact: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best catalog items per prompt, by the log-probability of their target.

    With ``fast_forward`` and ``exact=False`` a settled beam (one allowed title left below it)
    is completed without running the model: its score is the log-probability of the prefix
    decoded so far (an upper bound of the exact one), which saves the teacher-forcing pass.

    ``prompt_ids``: one list of token ids per request (any lengths, special tokens as the model
    wants them). ``beam_width``: places per request and step (default and minimum ``k``).
    ``exclude``: per request, item indices never to return. ``allowed``: item mask [N] or
    [B, N] (bool). Returns items [B, k] int64 (-1 where fewer than ``k`` are allowed) and
    scores [B, k] float64 (-inf there), best first; ties go to the lower item index.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    batch = len(prompt_ids)
    width = max(k, beam_width or k)
    counts = trie.leaf_counts(_request_mask(trie.n_items, batch, exclude, allowed))  # [B, N+1]
    found: list[list[tuple[float, int]]] = [[] for _ in range(batch)]
    settled_req: list[np.ndarray] = []
    settled_item: list[np.ndarray] = []
    settled_score: list[np.ndarray] = []
    with _eval_mode(model):
        session = _PromptSession(model, prompt_ids, trie.pad_token_id)
        # The rows of the step loop: one beam each. First the root of every request.
        req = np.arange(batch)
        node = np.zeros(batch, dtype=np.int64)
        score = np.zeros(batch)
        settled = np.zeros(batch, dtype=bool)
        logits = session.first_logits  # [R, V]
        while len(req):
            lse = torch.logsumexp(logits, dim=-1)  # [R]
            # Every (row, child) edge, in CSR order.
            start = trie.child_ptr[node]
            fan = trie.child_ptr[node + 1] - start
            edge_row = np.repeat(np.arange(len(req)), fan)
            edge = np.arange(int(fan.sum())) + np.repeat(start - (np.cumsum(fan) - fan), fan)
            child = trie.child_nodes[edge]
            keep = trie.allowed_under(counts, req[edge_row], child) > 0
            edge_row, edge, child = edge_row[keep], edge[keep], child[keep]
            token = trie.child_tokens[edge]
            cand_req = req[edge_row]
            rows_t = torch.as_tensor(edge_row, device=logits.device)
            tokens_t = torch.as_tensor(token, device=logits.device)
            logp = (logits[rows_t, tokens_t] - lse[rows_t]).double().cpu().numpy()
            cand_score = score[edge_row] + logp
            item = trie.node_item[child]
            done = item >= 0
            for r, i, s in zip(cand_req[done], item[done], cand_score[done], strict=True):
                found[r].append((float(s), int(i)))
            live = ~done
            compete = np.flatnonzero(live & ~settled[edge_row])
            winners = compete[
                _top_per_group(cand_req[compete], cand_score[compete], child[compete], width)
            ]
            kept = np.sort(np.concatenate([np.flatnonzero(live & settled[edge_row]), winners]))
            now_settled = settled[edge_row[kept]] | (
                trie.allowed_under(counts, cand_req[kept], child[kept]) == 1
            )
            if fast_forward:  # settled beams leave the loop; scored after it
                out = kept[now_settled]
                settled_req.append(cand_req[out])
                settled_item.append(trie.first_allowed(counts, cand_req[out], child[out]))
                settled_score.append(cand_score[out])
                kept, now_settled = kept[~now_settled], now_settled[~now_settled]
            if not len(kept):
                break
            logits = session.step(edge_row[kept], token[kept], cand_req[kept])
            req, node, score, settled = cand_req[kept], child[kept], cand_score[kept], now_settled
        if settled_req:
            s_req = np.concatenate(settled_req)
            s_item = np.concatenate(settled_item)
            s_prefix = np.concatenate(settled_score)
            if exact:
                _complete_exactly(session, trie, found, k, s_req, s_item, s_prefix)
            else:
                for r, i, s in zip(s_req, s_item, s_prefix, strict=True):
                    found[r].append((float(s), int(i)))
    items = np.full((batch, k), -1, dtype=np.int64)
    scores = np.full((batch, k), -np.inf)
    for row, results in enumerate(found):
        best = sorted(results, key=lambda pair: (-pair[0], pair[1]))[:k]
        for col, (s, i) in enumerate(best):
            items[row, col], scores[row, col] = i, s
    return items, scores


def _complete_exactly(
    session: _PromptSession,
    trie: TitleTrie,
    found: list[list[tuple[float, int]]],
    k: int,
    requests: np.ndarray,
    items: np.ndarray,
    prefix: np.ndarray,
    chunk: int = 32,
) -> None:
    """Exact scores of settled beams by teacher forcing, best prefix first, skipping every beam
    whose prefix log-probability (an upper bound of its exact score) is already below its
    request's k-th best complete score: those can never enter the top k."""
    order = np.argsort(-prefix, kind="stable")
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        bound = np.array([_kth(found[int(r)], k) for r in requests[part]])
        part = part[prefix[part] >= bound]
        if not len(part):
            continue
        scores = session.teacher_force(
            requests[part], [trie.target_ids(int(i)) for i in items[part]]
        )
        for r, i, s in zip(requests[part], items[part], scores, strict=True):
            found[int(r)].append((float(s), int(i)))


def _kth(results: list[tuple[float, int]], k: int) -> float:
    if len(results) < k:
        return -np.inf
    return sorted((s for s, _ in results), reverse=True)[k - 1]


def score_all_titles(
    model: PreTrainedModel, trie: TitleTrie, prompt_ids: Sequence[Sequence[int]]
) -> np.ndarray:
    """Exact log-probability of every item's target given each prompt: [B, N] float64.

    Brute force by teacher forcing (prompt once, then every target over its cache, in chunks):
    the reference for beam search, and usable for full-ranking evaluation on small catalogs.
    """
    with _eval_mode(model):
        session = _PromptSession(model, prompt_ids, trie.pad_token_id)
        batch, n_items = len(prompt_ids), trie.n_items
        targets = [trie.target_ids(i) for i in range(n_items)]
        scores = session.teacher_force(np.repeat(np.arange(batch), n_items), targets * batch)
    return scores.reshape(batch, n_items)


def title_logprobs(
    model: PreTrainedModel,
    trie: TitleTrie,
    prompt_ids: Sequence[Sequence[int]],
    items: Sequence[Sequence[int]],
) -> list[torch.Tensor]:
    """Log-probability of the targets of ``items[b]`` after prompt ``b``: one float64 tensor
    per prompt, differentiable when gradients are enabled (learning from feedback).

    Each prompt runs once; its items' targets are teacher-forced over its cache. The model's
    train/eval mode is the caller's.
    """
    if len(items) != len(prompt_ids):
        raise ValueError(f"{len(prompt_ids)} prompts but {len(items)} item lists")
    counts = [len(row) for row in items]
    if not sum(counts):
        return [torch.zeros(0, dtype=torch.float64) for _ in counts]
    session = _PromptSession(model, prompt_ids, trie.pad_token_id)
    requests = np.repeat(np.arange(len(prompt_ids)), counts)
    targets = [trie.target_ids(int(i)) for row in items for i in row]
    return list(torch.split(session.teacher_force_tensor(requests, targets), counts))
