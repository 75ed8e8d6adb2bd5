"""`make bench-llm`: the LLM backbone (SmolLM2-135M-Instruct + LoRA) against the native generative
model and SASRec on ml-100k, at one split, with 5% of the items held out of training entirely.

- Split: leave-one-out by time. A random 5% of the items ("cold" items) are removed from every
  training sequence, so no model sees them as an input or a target; they stay in the catalog.
- Evaluation: test NDCG@10 / Recall@10 (full catalog, seen items excluded) on ``--users`` random
  users whose test item is not cold, and cold-start Recall@10 on the users whose test item is
  cold (all of them, up to ``--cold-users``). The LLM decodes with a beam, so evaluating every
  user on this CPU would take most of an hour: every model is evaluated on the same users.
- Request following: held-out-template requests for the test item's genre, English and Chinese
  (harness.request_following), on ``--request-users`` of those users.
- Speed: per-request latency (median, p95) of one request at a time, the LLM with and without
  fast-forward and with 16 requests decoded together; LLM training seconds per 1k examples.

Writes the "llm" section of docs/benchmarks.md and its rows in docs/benchmarks.json.

Usage: python benchmarks/llm.py --out docs [--max-examples 800] [--users 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from genrec.baselines.sasrec import SASRecConfig, SASRecRecommender
from genrec.data import load_builtin
from genrec.data.split import SequenceSplit, leave_one_out
from genrec.evaluation import evaluate
from genrec.generative.recommender import GenerativeConfig, GenerativeRecommender
from genrec.llm.recommender import LLMConfig, LLMRecommender
from genrec.recommender import Recommender
from genrec.requests import RequestSynthesizer

from harness import machine, replace_block, request_following, write_json


def without_items(split: SequenceSplit, cold: set[int]) -> SequenceSplit:
    """The split with ``cold`` items removed from every training sequence (and their requests
    and timestamps)."""
    train, requests, times = {}, {}, {}
    for user, seq in split.train.items():
        keep = np.array([int(i) not in cold for i in seq], dtype=bool)
        train[user] = seq[keep]
        texts = split.train_requests.get(user, [""] * len(seq))
        requests[user] = [t for t, k in zip(texts, keep, strict=True) if k]
        if split.train_times is not None:
            times[user] = split.train_times[user][keep]
    return replace(
        split,
        train=train,
        train_requests=requests,
        train_times=times if split.train_times is not None else None,
    )


def subset(split: SequenceSplit, rows: np.ndarray) -> SequenceSplit:
    """The split restricted to the evaluated users at ``rows``."""
    return replace(
        split,
        users=[split.users[int(r)] for r in rows],
        valid_targets=split.valid_targets[rows],
        test_targets=split.test_targets[rows],
        valid_requests=[split.valid_requests[int(r)] for r in rows],
        test_requests=[split.test_requests[int(r)] for r in rows],
    )


def latency(model: Recommender, split: SequenceSplit, n: int, batch: int = 1) -> dict[str, float]:
    """Milliseconds per request: ``n`` requests, ``batch`` at a time (median, p95 per batch)."""
    histories = split.histories("test")[:n]
    times = []
    for start in range(0, len(histories), batch):
        chunk = histories[start : start + batch]
        began = time.perf_counter()
        model.recommend_indices(chunk, 10)
        times.append((time.perf_counter() - began) * 1000 / len(chunk))
    return {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95))}


def request_token_counts(model: LLMRecommender, categories: list[tuple[str, ...]]
                         ) -> dict[str, float]:  # fmt: skip
    """Mean tokens and characters of the synthesized requests per language, as the LLM's
    tokenizer splits them (SmolLM2's byte-level BPE has few Chinese merges)."""
    assert model.tokenizer is not None
    out: dict[str, float] = {}
    texts = RequestSynthesizer(categories).vocabulary_with_categories()
    for lang in ("en", "zh"):
        chosen = [t for t, _, language in texts if language == lang]
        tokens = [len(model.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in chosen]
        out[f"request_tokens_{lang}"] = float(np.mean(tokens))
        out[f"request_chars_{lang}"] = float(np.mean([len(t) for t in chosen]))
    return out


def prompt_forward_ms(model: LLMRecommender, split: SequenceSplit, n: int) -> dict[str, float]:
    """Median ms of one forward over a request's prompt, for 1 row and for ``beam_width`` rows:
    the first is what the decoder pays once per request (its cache then serves every beam and
    step); the second is the least a decoder that re-ran the prompt for its beams would pay at
    every step."""
    import torch

    assert model.lm is not None
    histories = split.histories("test")[:n]
    out = {}
    for rows in (1, model.config.beam_width):
        times = []
        for history in histories:
            ids = torch.tensor([model.prompt_ids(history, "")] * rows)
            began = time.perf_counter()
            with torch.no_grad():
                model.lm(input_ids=ids)
            times.append((time.perf_counter() - began) * 1000)
        out[f"prompt_forward_ms_{rows}_rows"] = float(np.median(times))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base", default="smollm2")
    parser.add_argument("--max-examples", type=int, default=800, help="LLM training examples")
    parser.add_argument("--epochs", type=int, default=1, help="LLM epochs")
    parser.add_argument("--users", type=int, default=100, help="evaluated users (not cold)")
    parser.add_argument("--cold-users", type=int, default=40)
    parser.add_argument("--request-users", type=int, default=30)
    parser.add_argument("--latency-requests", type=int, default=12)
    parser.add_argument("--cold-share", type=float, default=0.05)
    args = parser.parse_args()
    out = Path(args.out)
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    dataset = load_builtin("ml-100k")
    catalog = dataset.catalog
    full = leave_one_out(dataset)
    n_items = len(catalog)
    cold = set(rng.choice(n_items, round(args.cold_share * n_items), replace=False).tolist())
    split = without_items(full, cold)
    is_cold = np.array([int(t) in cold for t in split.test_targets])
    warm_rows = rng.permutation(np.flatnonzero(~is_cold))[: args.users]
    cold_rows = rng.permutation(np.flatnonzero(is_cold))[: args.cold_users]
    warm, cold_split = subset(split, np.sort(warm_rows)), subset(split, np.sort(cold_rows))
    req_split = subset(split, np.sort(warm_rows[: args.request_users]))
    print(f"[llm-bench] {len(cold)} cold items ({is_cold.sum()} test users' targets); "
          f"evaluating {len(warm.users)} + {len(cold_split.users)} cold users",
          flush=True)  # fmt: skip

    llm_config = LLMConfig(base=args.base, max_examples=args.max_examples, epochs=args.epochs)
    specs: list[tuple[str, Recommender]] = [
        ("SASRec", SASRecRecommender(SASRecConfig())),
        ("generative (native)", GenerativeRecommender(replace(GenerativeConfig(), max_epochs=16))),
        ("llm (SmolLM2-135M + LoRA)" if args.base == "smollm2" else f"llm ({args.base})",
         LLMRecommender(llm_config)),
    ]  # fmt: skip
    rows: list[dict[str, Any]] = []
    for label, model in specs:
        print(f"[llm-bench] training {label}", flush=True)
        began = time.perf_counter()
        model.fit(dataset, split, seed=args.seed, progress=True)
        train_s = time.perf_counter() - began
        print(f"[llm-bench] evaluating {label}", flush=True)
        began = time.perf_counter()
        test = evaluate(model, warm, "test", progress=True)
        cold_result = evaluate(model, cold_split, "test")
        eval_s = time.perf_counter() - began
        following = request_following(model, req_split, catalog.categories, seed=args.seed)
        row: dict[str, Any] = {
            "model": label,
            "ndcg@10": test.metrics["ndcg@10"],
            "recall@10": test.metrics["recall@10"],
            "cold_recall@10": cold_result.metrics["recall@10"],
            "cold_ndcg@10": cold_result.metrics["ndcg@10"],
            "invalid_rate": max(test.metrics["invalid_rate"], cold_result.metrics["invalid_rate"]),
            "train_seconds": train_s,
            "eval_seconds": eval_s,
            **{f"request_{k}": v for k, v in following.items()},
            "latency_single": latency(model, warm, args.latency_requests),
        }
        if isinstance(model, LLMRecommender):
            info = model.fit_info
            row["seconds_per_1k_examples"] = info.get("seconds_per_1k_examples")
            row["examples_seen"] = info.get("examples_seen")
            row["trie_nodes"] = info.get("trie_nodes")
            row["training_positions"] = info.get("training_positions")
            row.update(request_token_counts(model, catalog.categories))
            row["latency_batch16"] = latency(model, warm, args.latency_requests, batch=16)
            row.update(prompt_forward_ms(model, warm, args.latency_requests))
            base_config = model.config
            model.config = replace(base_config, exact_scores=True)
            row["latency_exact_scores"] = latency(model, warm, args.latency_requests)
            model.config = replace(base_config, exact_scores=True, fast_forward=False)
            row["latency_no_fast_forward"] = latency(model, warm, args.latency_requests)
            model.config = base_config
        print(f"[llm-bench] {label}: NDCG@10 {row['ndcg@10']:.4f}, cold Recall@10 "
              f"{row['cold_recall@10']:.4f}, {row['latency_single']['median_ms']:.1f} ms",
              flush=True)  # fmt: skip
        rows.append(row)
    minutes = (time.perf_counter() - started) / 60
    for row in rows:
        row.update({"dataset": "ml-100k", "seed": args.seed, "users": len(warm.users),
                    "cold_users": len(cold_split.users)})  # fmt: skip
    write_json(rows, out / "benchmarks.json", section="llm backbone")
    replace_block(out / "benchmarks.md", "llm", "\n".join(report(rows, args, minutes, len(cold))))
    print(f"[llm-bench] wrote docs in {minutes:.1f} min")
    return 0


def report(rows: list[dict[str, Any]], args: argparse.Namespace, minutes: float, n_cold: int
           ) -> list[str]:  # fmt: skip
    llm = rows[-1]
    per_1k = llm.get("seconds_per_1k_examples") or 0.0
    full_hours = per_1k * (llm.get("training_positions") or 0) / 1000 / 3600
    beam = LLMConfig().beam_width
    one_row, all_rows = llm["prompt_forward_ms_1_rows"], llm[f"prompt_forward_ms_{beam}_rows"]
    lines = [
        "## LLM backbone (`make bench-llm`)",
        "",
        f"Produced by `make bench-llm  (= python benchmarks/llm.py --out docs)` on "
        f"{dt.date.today().isoformat()} in {minutes:.1f} min; machine: {machine()}; seed "
        f"{args.seed}.",
        "",
        f"ml-100k, leave-one-out by time; {n_cold} items (5%, random) are removed from every "
        "training sequence (cold items: no model sees them in training; they stay in the "
        f"catalog). Test metrics on {llm['users']} random users whose test item is not cold; "
        f"cold Recall@10 on {llm['cold_users']} users whose test item is cold; full catalog, "
        "seen items excluded. Request following: held-out-template requests naming the test "
        f"item's genre, on {args.request_users} of those users. The LLM is SmolLM2-135M-Instruct "
        f"with LoRA (r 16, all linear layers), {llm.get('examples_seen')} training examples "
        f"({args.epochs} epoch of at most {args.max_examples} positions), prompt template v1, "
        "beam 20 over a trie of the 1682 titles "
        f"({llm.get('trie_nodes')} nodes). CPU-sized: the full run (all ~97k training positions, "
        "a few epochs, every user) needs a GPU.",
        "",
        "| model | NDCG@10 | Recall@10 | cold Recall@10 | invalid | EN NDCG@10 / genre prec. | "
        "ZH NDCG@10 / genre prec. | train s | ms/request (median, p95) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lat = r["latency_single"]
        lines.append(
            f"| {r['model']} | {r['ndcg@10']:.4f} | {r['recall@10']:.4f} | "
            f"{r['cold_recall@10']:.4f} | {r['invalid_rate']:.0%} | "
            f"{r['request_ndcg@10_request_en']:.4f} / {r['request_genre_precision@10_en']:.0%} | "
            f"{r['request_ndcg@10_request_zh']:.4f} / {r['request_genre_precision@10_zh']:.0%} | "
            f"{r['train_seconds']:.0f} | {lat['median_ms']:.1f}, {lat['p95_ms']:.1f} |"
        )
    lines += [
        "",
        f"LLM training: {llm.get('seconds_per_1k_examples')} s per 1k examples on this CPU. "
        "Decoding speed work, all with the prompt run once and its key/value cache serving "
        "every beam, and all beams of a batch in one forward per step; median ms per request, "
        "one request at a time unless said:",
        "",
        "| decoding | ms/request |",
        "|---|---|",
        f"| settled titles completed without the model (default) | "
        f"{llm['latency_single']['median_ms']:.0f} |",
        f"| settled titles teacher-forced for exact scores | "
        f"{llm['latency_exact_scores']['median_ms']:.0f} |",
        f"| exact, no fast-forward (settled beams stepped token by token) | "
        f"{llm['latency_no_fast_forward']['median_ms']:.0f} |",
        f"| default, 16 requests decoded together | {llm['latency_batch16']['median_ms']:.0f} |",
        "",
        f"Prompt cache: one forward over a request's prompt takes {one_row:.0f} ms; it runs once "
        f"per request and its key/value cache serves every beam at every step. Run again for "
        f"the {beam} beams it takes {all_rows:.0f} ms, which a decoder without the shared cache "
        "would pay at each step on top of the new tokens.",
        "",
        f"What the full run needs: at {llm.get('seconds_per_1k_examples')} s per 1k examples, "
        f"one epoch over all {llm.get('training_positions')} training positions would take "
        f"{full_hours:.0f} h on this CPU; that is GPU work. Chinese requests: the synthesized "
        f"requests average {llm['request_chars_en']:.0f} characters / "
        f"{llm['request_tokens_en']:.1f} tokens in English and {llm['request_chars_zh']:.0f} "
        f"characters / {llm['request_tokens_zh']:.1f} tokens in Chinese (byte-level pieces), "
        f"{llm['request_tokens_zh'] / llm['request_tokens_en']:.1f}x the tokens of an English "
        "one; they fit the prompt template as they are (a small "
        "part of the prompt), and whether the model follows them is the ZH column above.",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
