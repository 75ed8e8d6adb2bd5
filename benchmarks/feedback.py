"""`make bench-feedback`: does learning from feedback help? A simulation on ml-100k.

Each user's interactions, in time order, are cut in four: the first 60% are the past (the base
model trains on these only), the next 16% the future (what the simulated user will accept), 4%
the guard's validation (a fine-tune is served only if NDCG@10 of the first of these, given the
past, does not fall by more than 2%), the last 20% held out (never used as feedback or for any
choice; NDCG@10 of the first held-out item, given the past, measures whether the model still
ranks well).

Every round serves top-10 to every user (their past plus what they accepted in earlier rounds
as history, no request; seen items excluded) and logs the lists and the reactions through the
real feedback store:
- a shown item in the user's future is accepted (a `like`); with `--unfold` the future unfolds
  with the rounds, as time passes: in round r of R a user has reached the first r/R of their
  future items in their real time order, and accepts only those;
- a shown item sharing no genre with any of the user's future items is disliked;
- the rest are impressions only.
Then the model is fine-tuned on that round's feedback (`genrec.learning`) and the next round is
served by the new version. A control arm serves the base model every round. Each objective
(sft, dpo, reinforce) is run as its own arm from the same base model.

Writes a section of docs/benchmarks.md, the "feedback loop" rows of docs/benchmarks.json and
docs/feedback_loop.png.

Usage: python benchmarks/feedback.py --out docs [--rounds 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from genrec.data import load_builtin
from genrec.data.schema import Dataset
from genrec.data.split import SequenceSplit, leave_one_out
from genrec.evaluation import ndcg_at_k, target_ranks
from genrec.generative.recommender import GenerativeConfig, GenerativeRecommender
from genrec.learning import FinetuneConfig, build_examples, finetune
from genrec.lifecycle import promotion_check
from genrec.store import FeedbackEvent, ServedList
from genrec.store.database import FeedbackStore

from harness import machine, replace_block, write_json

K = 10


def cut(
    dataset: Dataset,
) -> tuple[Dataset, dict[str, np.ndarray], SequenceSplit, dict[str, np.ndarray]]:
    """(past-only dataset, feedback pool per user, guard split, held-out items per user).

    Per user in time order: 60% past, 16% future (the items the simulated user accepts), 4%
    guard (the promotion check's validation: the most recent interactions before the held-out
    ones, never feedback), 20% held out."""
    frame = dataset.interactions
    keep, future, held = [], {}, {}
    guard_users, guard_targets, past_seqs = [], [], {}
    for user, group in frame.groupby("user_id", sort=False):
        items = group["item_index"].to_numpy()
        n = len(items)
        a, g, b = int(n * 0.6), int(n * 0.76), int(n * 0.8)
        keep.append(group.iloc[:a])
        past_seqs[str(user)] = items[:a]
        future[str(user)] = items[a:g]
        held[str(user)] = items[b:]
        if g < b:
            guard_users.append(str(user))
            guard_targets.append(int(items[g]))
    past = Dataset(dataset.name, dataset.catalog, _concat(keep))
    guard = SequenceSplit(
        n_items=len(dataset.catalog),
        train=past_seqs,
        users=guard_users,
        valid_targets=np.array(guard_targets, dtype=np.int64),
        test_targets=np.array(guard_targets, dtype=np.int64),  # unused: the guard reads "valid"
        valid_requests=[""] * len(guard_users),
        test_requests=[""] * len(guard_users),
        train_requests={u: [""] * len(s) for u, s in past_seqs.items()},
    )
    return past, future, guard, held


def taste_sets(
    future: dict[str, np.ndarray], never: dict[str, set[int]], rounds: int, unfold: bool
) -> dict[str, list[set[int]]]:
    """What each simulated user accepts in each round: their future items, all of them from round
    1, or with ``unfold`` as their future unfolds with time (in round r of R, the first r/R of
    their future items in their real time order). Never ``never`` (their guard and held-out
    items: feedback on those would leak the evaluation)."""
    out: dict[str, list[set[int]]] = {}
    for user, items in future.items():
        out[user] = [
            set(items[: int(np.ceil(len(items) * r / rounds)) if unfold else None].tolist())
            - never.get(user, set())
            for r in range(1, rounds + 1)
        ]
    return out


def _concat(parts: list[Any]) -> Any:
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


def held_out_ndcg(model: GenerativeRecommender, users: list[str], held: dict[str, np.ndarray]
                  ) -> float:  # fmt: skip
    """NDCG@10 of each user's first held-out item, the past as history, seen items excluded."""
    histories = [model.histories[u] for u in users]
    targets = np.array([held[u][0] for u in users])
    top, _ = model.recommend_indices(histories, K, exclude_seen=True)
    return float(np.mean(ndcg_at_k(target_ranks(top, targets), K)))


def serve_round(
    model: GenerativeRecommender,
    users: list[str],
    liked: dict[str, set[int]],
    future_genres: dict[str, set[str]],
    accepted: dict[str, dict[int, None]],
    store: FeedbackStore,
    round_no: int,
    version: str,
) -> float:
    """Serve top-10 to every user, log lists and reactions; returns hits per list."""
    catalog = model.require_catalog()
    # What a user accepted, they watched: it joins their history (and is excluded as seen).
    histories = [np.concatenate([model.histories[u], np.fromiter(accepted[u], np.int64)])
                 for u in users]  # fmt: skip
    top, scores = model.recommend_indices(histories, K, exclude_seen=True)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=round_no)
    served, events, hits = [], [], 0
    for row, user in enumerate(users):
        items = [int(i) for i in top[row] if i >= 0]
        rec_id = f"r{round_no}-{user}"
        ids = [str(catalog.item_ids[i]) for i in items]
        history = [str(catalog.item_ids[i]) for i in histories[row]]
        served.append(ServedList(rec_id, user, "", history, ids,
                                 [float(s) for s in scores[row][: len(items)]], version,
                                 False, t0))  # fmt: skip
        for n, (idx, item_id) in enumerate(zip(items, ids, strict=True)):
            stamp = t0 + dt.timedelta(seconds=n)
            if idx in liked[user]:
                event = "like"
                hits += 1
                accepted[user][idx] = None  # insertion-ordered: the order they were taken
            elif not set(catalog.categories[idx]) & future_genres[user]:
                event = "dislike"
            else:
                event = "impression"
            events.append(FeedbackEvent(user, item_id, event, stamp, recommendation_id=rec_id))
    store.log_served(served)
    store.add_feedback_many(events)
    return hits / len(users)


def run_arm(
    name: str,
    base: GenerativeRecommender,
    objective: str | None,
    users: list[str],
    future: dict[str, np.ndarray],
    liked: dict[str, list[set[int]]],
    held: dict[str, np.ndarray],
    guard: Any,
    rounds: int,
    tmp: Path,
    seed: int,
) -> list[dict[str, Any]]:
    catalog = base.require_catalog()
    future_genres = {u: {g for i in future[u] for g in catalog.categories[int(i)]} for u in users}
    accepted: dict[str, dict[int, None]] = {u: {} for u in users}
    store = FeedbackStore(f"sqlite:///{tmp / f'{name}.sqlite3'}")
    model = base
    rows = []
    for r in range(1, rounds + 1):
        started = time.perf_counter()
        ndcg = held_out_ndcg(model, users, held)
        now = {u: liked[u][r - 1] for u in users}
        acceptance = serve_round(model, users, now, future_genres, accepted, store, r,
                                 f"{name}-{r}")  # fmt: skip
        row: dict[str, Any] = {"arm": name, "objective": objective or "none", "round": r,
                               "acceptance": acceptance, "heldout_ndcg@10": ndcg}  # fmt: skip
        if objective is not None and r < rounds:
            frame = store.feedback_frame()
            frame = frame[frame["recommendation_id"].str.startswith(f"r{r}-")]
            examples = build_examples(model, frame, store.served_frame())
            config = FinetuneConfig(objective=objective, seed=seed)
            tuned, report = finetune(model, examples, config)
            promotion = promotion_check(model, tuned, guard, config.tolerance)
            row.update({"promoted": promotion.promoted, "valid_before": promotion.before,
                        "valid_after": promotion.after, "pairs": report["pairs"],
                        "contexts": report["examples"]["contexts"]})  # fmt: skip
            if promotion.promoted:
                model = tuned
        row["seconds"] = time.perf_counter() - started
        verdict = ""
        if "promoted" in row:
            verdict = (f", guard {row['valid_before']:.4f} -> {row['valid_after']:.4f} "
                     f"({'promoted' if row['promoted'] else 'refused'})")  # fmt: skip
        print(f"[feedback-bench] {name} round {r}: acceptance {acceptance:.3f} hits/list, "
              f"held-out NDCG@10 {ndcg:.4f}{verdict}", flush=True)  # fmt: skip
        rows.append(row)
    store.close()
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for arm in dict.fromkeys(r["arm"] for r in rows):
        mine = [r for r in rows if r["arm"] == arm]
        rounds = [r["round"] for r in mine]
        style = "--" if arm == "control" else "-"
        axes[0].plot(rounds, [r["acceptance"] for r in mine], style, marker="o", label=arm)
        axes[1].plot(rounds, [r["heldout_ndcg@10"] for r in mine], style, marker="o", label=arm)
    rounds_all = sorted({r["round"] for r in rows})
    axes[0].set(title="acceptance (hits per served top-10)", xlabel="round", xticks=rounds_all)
    axes[1].set(title="held-out NDCG@10", xlabel="round", xticks=rounds_all)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=16, help="base model's training epochs")
    parser.add_argument("--objectives", nargs="+", default=["sft", "dpo", "reinforce"])
    parser.add_argument(
        "--unfold",
        action="store_true",
        help="users' futures unfold over the rounds, as time passes (default: users accept any "
        "of their future items from round 1)",
    )
    args = parser.parse_args()
    out = Path(args.out)
    started = time.perf_counter()
    dataset = load_builtin("ml-100k")
    past, future, guard, held = cut(dataset)
    users = [u for u in past.sequences() if len(future[u]) and len(held[u])]
    guard_item = dict(zip(guard.users, guard.valid_targets.tolist(), strict=True))
    never = {u: set(held[u].tolist()) | {guard_item.get(u, -1)} for u in users}
    liked = taste_sets(future, never, args.rounds, args.unfold)
    sizes = np.array([len(liked[u][-1]) for u in users])
    print(f"[feedback-bench] liked items per user: median {np.median(sizes):.0f}, "
          f"mean {sizes.mean():.1f}", flush=True)  # fmt: skip
    split = leave_one_out(past)  # the base model's own training / early stopping
    config = replace(GenerativeConfig(), max_epochs=args.epochs, eval_every=2, patience=3)
    print(f"[feedback-bench] base model on the past 60% of {len(users)} users", flush=True)
    base = GenerativeRecommender(config).fit(past, split, seed=args.seed, progress=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="genrec-feedback-bench-") as tmp:
        arms: list[tuple[str, str | None]] = [("control", None)]
        arms += [(f"finetune-{o}", o) for o in args.objectives]
        for name, objective in arms:
            rows += run_arm(name, base, objective, users, future, liked, held, guard, args.rounds,
                            Path(tmp), args.seed)  # fmt: skip
    minutes = (time.perf_counter() - started) / 60
    plot(rows, out / "feedback_loop.png")
    write_json(rows, out / "benchmarks.json", section="feedback loop")
    replace_block(out / "benchmarks.md", "feedback", "\n".join(report(rows, args, minutes)))
    print(f"[feedback-bench] wrote docs in {minutes:.1f} min")
    return 0


def report(rows: list[dict[str, Any]], args: argparse.Namespace, minutes: float) -> list[str]:
    last = {r["arm"]: r for r in rows if r["round"] == args.rounds}
    first = {r["arm"]: r for r in rows if r["round"] == 1}
    control = last["control"]
    lines = [
        "## Learning from feedback (`make bench-feedback`)",
        "",
        f"Produced by `make bench-feedback  (= python benchmarks/feedback.py --out docs)` on "
        f"{dt.date.today().isoformat()} in {minutes:.1f} min; machine: {machine()}; seed "
        f"{args.seed}.",
        "",
        "ml-100k, every user's interactions in time order cut 60/16/4/20: the base generative "
        "model trains on the first 60% only; each round serves top-10 to every user (history: "
        "the past plus what they accepted in earlier rounds) and a "
        "simulated user likes the shown items that are in their next 16%"
        + (
            " and that they have reached (their future unfolds with the rounds, as time passes: "
            "in round r of R they have reached its first r/R, in their real time order)"
            if args.unfold
            else ""
        )
        + ", dislikes shown "
        "items sharing no genre with those, and ignores the rest; the model is then "
        "fine-tuned on that round's feedback (logged through the real store) and is served "
        "only if the guard passes (NDCG@10 of the next 4%, given the past, falls by at most "
        "2%). Held-out NDCG@10: the first item of the last 20%, never used as feedback or for "
        "any choice, given the past.",
        "",
        "| arm | versions served | acceptance round 1 → last | last vs control | "
        "accepted per user, all rounds | vs control | held-out NDCG@10 first → last | change |",
        "|---|---|---|---|---|---|---|---|",
    ]
    total = {a: sum(r["acceptance"] for r in rows if r["arm"] == a) for a in last}
    for arm, r in last.items():
        vs = r["acceptance"] / control["acceptance"] - 1 if control["acceptance"] else 0.0
        vs_total = total[arm] / total["control"] - 1 if total["control"] else 0.0
        served = 1 + sum(1 for x in rows if x["arm"] == arm and x.get("promoted") is True)
        n0, n1 = first[arm]["heldout_ndcg@10"], r["heldout_ndcg@10"]
        lines.append(
            f"| {arm} | {served} | {first[arm]['acceptance']:.3f} → {r['acceptance']:.3f} | "
            f"{vs:+.1%} | {total[arm]:.2f} | {vs_total:+.1%} | {n0:.4f} → {n1:.4f} | "
            f"{(n1 - n0) / n0 if n0 else 0:+.1%} |"
        )
    lines += ["", "Acceptance = hits per served list of 10. Every round's figures are rows of "
              "benchmarks.json (section \"feedback loop\").", "",
              "![feedback loop](feedback_loop.png)"]  # fmt: skip
    return lines


if __name__ == "__main__":
    sys.exit(main())
