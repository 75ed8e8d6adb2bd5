"""``genrec demo`` (what ``make demo`` runs): train the generative model on the built-in
dataset, evaluate it on the held-out test items, save it, and recommend for two users with and
without a request in English and in Chinese."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from genrec import lifecycle
from genrec.data.spec import DataSpec
from genrec.data.split import leave_one_out
from genrec.evaluation import evaluate
from genrec.generative.recommender import GenerativeRecommender

DEMO_USERS = ("1", "42")
DEMO_REQUESTS = (
    ("I want a scary movie", "我想看一部恐怖片"),
    ("something funny and light for tonight", "推荐一部轻松的喜剧片"),
)


def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    spec = DataSpec("ml-100k")
    dataset = spec.load()
    split = leave_one_out(dataset)
    print(
        f"genrec demo: training the generative model on ml-100k ({len(split.users)} users, "
        f"{len(dataset.catalog)} movies), up to {args.epochs} epochs -> {out}"
    )
    started = time.perf_counter()
    model = lifecycle.train(
        "generative",
        dataset,
        out,
        data_spec=spec,
        seed=0,
        overrides={"max_epochs": args.epochs, "eval_every": 2, "patience": 3},
    )
    assert isinstance(model, GenerativeRecommender) and model.index is not None
    index = model.index.stats()
    print(
        f"trained in {time.perf_counter() - started:.0f}s; semantic IDs: "
        f"{index['distinct_prefixes']} prefixes, all unique: {index['code_tuples_unique']}"
    )
    metrics = evaluate(model, split, "test", progress=True).metrics
    print(
        f"test ({len(split.users)} users, full catalog, seen items excluded): "
        f"NDCG@10 {metrics['ndcg@10']:.4f}  Recall@10 {metrics['recall@10']:.4f}  "
        f"MRR {metrics['mrr']:.4f}  coverage {metrics['coverage']:.3f}  "
        f"invalid items {metrics['invalid_rate']:.0%}"
    )
    catalog = model.require_catalog()
    for user, requests in zip(DEMO_USERS, DEMO_REQUESTS, strict=True):
        last = [str(catalog.items.at[int(i), "title"]) for i in model.histories[user][-3:]]
        print(f"\nuser {user} recently watched: {'; '.join(last)}")
        for request in (None, *requests):
            result = model.recommend_with_text(user=user, k=5, request=request)
            print(f"  request: {request or '(none)'}")
            print(f"    {result.text}")
    print(
        f"\nmodel saved in {out}; try:\n  .venv/bin/genrec recommend --model-dir {out} "
        f"--user 7 --request 'a romantic comedy'"
    )
    return 0
