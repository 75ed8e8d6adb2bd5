"""Title-constrained beam search for Hugging Face language models, and its brute-force reference.

A causal LM (GPT-2, Llama, ...) or an encoder-decoder (T5) reads a prompt and writes item
titles; decoding only follows children in the :class:`~genrec.llm.titles.TitleTrie`, so every
result is a real item, and the results are distinct because each leaf is one item. A result's
score is the exact log-probability of its target (title tokens + EOS) given the prompt: each
token's log-softmax over the full vocabulary, summed. The trie restricts which tokens may be
chosen; it does not renormalise. :func:`score_all_titles` computes the same quantity for every
item by teacher forcing, and a beam at least as wide as the catalog returns the same top K.

Cost. The prompt runs once per request, and its cache is shared by every beam
(:class:`~genrec.llm.session.PromptSession`); each step runs all beams of all requests in one
forward of one token each.

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

from collections.abc import Collection, Sequence

import numpy as np
import torch
from transformers import PreTrainedModel

from genrec.llm.session import PromptSession, eval_mode
from genrec.llm.titles import TitleTrie


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
    # Beams settled on one title, scored after the loop: requests, items, prefix scores.
    settled_req: list[np.ndarray] = []
    settled_item: list[np.ndarray] = []
    settled_score: list[np.ndarray] = []
    with eval_mode(model):
        session = PromptSession(model, prompt_ids, trie.pad_token_id)
        # The rows of the step loop: one beam each. First the root of every request.
        req = np.arange(batch)
        node = np.zeros(batch, dtype=np.int64)
        score = np.zeros(batch)
        settled = np.zeros(batch, dtype=bool)
        logits = session.first_logits  # [R, V]
        while len(req):
            lse = torch.logsumexp(logits, dim=-1)  # [R]
            edge_row, edge, child = _allowed_edges(trie, counts, req, node)
            token = trie.child_tokens[edge]
            cand_req = req[edge_row]
            rows_t = torch.as_tensor(edge_row, device=logits.device)
            tokens_t = torch.as_tensor(token, device=logits.device)
            logp = (logits[rows_t, tokens_t] - lse[rows_t]).double().cpu().numpy()
            cand_score = score[edge_row] + logp
            kept, now_settled = _survivors(
                trie, counts, found, cand_req, child, cand_score, settled[edge_row], width
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
            settled_parts = (settled_req, settled_item, settled_score)
            s_req, s_item, s_prefix = (np.concatenate(part) for part in settled_parts)
            if exact:
                _complete_exactly(session, trie, found, k, s_req, s_item, s_prefix)
            else:
                for r, i, s in zip(s_req, s_item, s_prefix, strict=True):
                    found[r].append((float(s), int(i)))
    return _best_found(found, k)


def _survivors(
    trie: TitleTrie,
    counts: np.ndarray,
    found: list[list[tuple[float, int]]],
    cand_req: np.ndarray,
    child: np.ndarray,
    cand_score: np.ndarray,
    was_settled: np.ndarray,
    width: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Among a step's candidates: record the finished titles in ``found``; keep every settled
    beam and the ``width`` best others per request. Returns the kept candidates' positions and
    whether each is now settled (one allowed title left below it)."""
    item = trie.node_item[child]
    done = item >= 0
    for r, i, s in zip(cand_req[done], item[done], cand_score[done], strict=True):
        found[r].append((float(s), int(i)))
    live = ~done
    compete = np.flatnonzero(live & ~was_settled)
    winners = compete[_top_per_group(cand_req[compete], cand_score[compete], child[compete], width)]
    kept = np.sort(np.concatenate([np.flatnonzero(live & was_settled), winners]))
    now_settled = was_settled[kept] | (trie.allowed_under(counts, cand_req[kept], child[kept]) == 1)
    return kept, now_settled


def _allowed_edges(
    trie: TitleTrie, counts: np.ndarray, req: np.ndarray, node: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (beam row, trie edge, child node) below the beams' nodes with an allowed title
    under it, in CSR order."""
    start = trie.child_ptr[node]
    fan = trie.child_ptr[node + 1] - start
    edge_row = np.repeat(np.arange(len(req)), fan)
    edge = np.arange(int(fan.sum())) + np.repeat(start - (np.cumsum(fan) - fan), fan)
    child = trie.child_nodes[edge]
    keep = trie.allowed_under(counts, req[edge_row], child) > 0
    return edge_row[keep], edge[keep], child[keep]


def _best_found(found: list[list[tuple[float, int]]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each request's ``k`` best (score, item) pairs as items [B, k] and scores [B, k] (-1 and
    -inf where fewer were found); ties go to the lower item index."""
    items = np.full((len(found), k), -1, dtype=np.int64)
    scores = np.full((len(found), k), -np.inf)
    for row, results in enumerate(found):
        best = sorted(results, key=lambda pair: (-pair[0], pair[1]))[:k]
        for col, (s, i) in enumerate(best):
            items[row, col], scores[row, col] = i, s
    return items, scores


def _complete_exactly(
    session: PromptSession,
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
    with eval_mode(model):
        session = PromptSession(model, prompt_ids, trie.pad_token_id)
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
    session = PromptSession(model, prompt_ids, trie.pad_token_id)
    requests = np.repeat(np.arange(len(prompt_ids)), counts)
    targets = [trie.target_ids(int(i)) for row in items for i in row]
    return list(torch.split(session.teacher_force_tensor(requests, targets), counts))
