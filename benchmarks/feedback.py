"""`make bench-feedback`: does learning from feedback help? A simulation on ml-100k.

Each user's interactions, in time order, are cut in four: the first 60% are the past (the base
generative model trains on these only), the next 16% the future and the next 4% the guard's old
validation items (NDCG@10 of the first of these, given the past), the last 20% held out (never
used by anything but the held-out NDCG@10 of the first of them, given the past).

The simulated users (`genrec.simulation`) keep wanting things: their taste is a SASRec-CE model
trained on the first 80% of everyone's interactions (so it knows the futures the learner never
saw), which scores every item given what the user has consumed; a user accepts an item with a
probability that falls with its rank among what they have not consumed yet (at most 5 per
list), dislikes some of the items they want least, and ignores the rest. Accepted items join
their history, so their taste moves and what they want never runs dry.

Each round a new cohort of users arrives (the users are cut at random into one cohort per round,
the same cut in every arm) and each of them is served three lists of top-10 in a row (their
consumption as history, no request, seen items excluded), in a random order over the round's
day; the lists and reactions are logged through the real feedback store. A cohort that arrives
later is no different from an earlier one, so a model that does not learn keeps its acceptance
(users served round after round instead would see a static model's acceptance fall: their best
matches get consumed), and a model that learns from earlier cohorts serves later ones better.
Each learning arm fine-tunes its model on each round's feedback
(`genrec.lifecycle.guarded_finetune`: the newest 20% of the lists are its recent holdout) and
serves the new version next round if the guard passes. The control arm serves the base model
every round. All arms start from the same base model and simulated users with the same seed.

Writes a section of docs/benchmarks.md, the "feedback loop" rows of docs/benchmarks.json and
docs/feedback_loop.png.

Usage: python benchmarks/feedback.py --out docs [--rounds 8] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import genrec
from genrec.baselines.sasrec import SASRecConfig, SASRecRecommender
from genrec.data import load_builtin
from genrec.data.schema import Dataset
from genrec.data.split import SequenceSplit, leave_one_out
from genrec.generative.recommender import GenerativeConfig, GenerativeRecommender
from genrec.learning import FinetuneConfig
from genrec.lifecycle import guarded_finetune
from genrec.simulation import ACCEPT, DISLIKE, SimulatedUsers, model_taste
from genrec.store import FeedbackEvent, ServedList
from genrec.store.database import FeedbackStore

from harness import machine, replace_block, write_json

K = 10
EVENTS = {ACCEPT: "like", DISLIKE: "dislike"}


def cut(dataset: Dataset) -> tuple[Dataset, Dataset, SequenceSplit, dict[str, np.ndarray]]:
    """(past dataset: the learner's, taste dataset: the simulated users', guard split, held-out
    items per user). Per user in time order: 60% past, 16% future, 4% guard, 20% held out; the
    taste model trains on the first 80%."""
    frame = dataset.interactions
    keep, taste, held = [], [], {}
    guard_users, guard_targets, past_seqs = [], [], {}
    for user, group in frame.groupby("user_id", sort=False):
        items = group["item_index"].to_numpy()
        n = len(items)
        a, g, b = int(n * 0.6), int(n * 0.76), int(n * 0.8)
        keep.append(group.iloc[:a])
        taste.append(group.iloc[:b])
        past_seqs[str(user)] = items[:a]
        held[str(user)] = items[b:]
        if g < b:
            guard_users.append(str(user))
            guard_targets.append(int(items[g]))
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
    past = Dataset(dataset.name, dataset.catalog, pd.concat(keep, ignore_index=True))
    taste_data = Dataset(dataset.name, dataset.catalog, pd.concat(taste, ignore_index=True))
    return past, taste_data, guard, held


def held_out_ndcg(model: GenerativeRecommender, users: list[str], held: dict[str, np.ndarray]
                  ) -> float:  # fmt: skip
    """NDCG@10 of each user's held-out items (all of them relevant), the past as history, seen
    items excluded; the mean over users. (One held-out item per user would be too noisy to see
    a change of 2% on 943 users.)"""
    histories = [model.histories[u] for u in users]
    top, _ = model.recommend_indices(histories, K, exclude_seen=True)
    discount = 1.0 / np.log2(np.arange(2, K + 2))
    scores = []
    for row, user in enumerate(users):
        relevant = set(held[user].tolist())
        gains = np.array([1.0 if int(i) in relevant else 0.0 for i in top[row][:K]])
        ideal = discount[: min(K, len(relevant))].sum()
        scores.append(float((gains * discount[: len(gains)]).sum() / ideal))
    return float(np.mean(scores))


def serve_round(
    model: GenerativeRecommender,
    sim: SimulatedUsers,
    users: list[str],
    store: FeedbackStore,
    round_no: int,
    version: str,
    args: argparse.Namespace,
    seed: int,
) -> float:
    """Serve ``args.sessions`` lists of top-10 in a row to each user of the round's cohort (in a
    random order over the round's day), let the simulated users react, log lists and reactions;
    returns hits per list."""
    catalog = model.require_catalog()
    day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=round_no)
    slots = np.random.default_rng([seed, round_no]).permutation(len(users))  # same in every arm
    hits = 0
    for session in range(args.sessions):
        histories = [sim.histories[u].copy() for u in users]
        top, scores = model.recommend_indices(histories, K, exclude_seen=True)
        reactions = sim.react(users, top)
        hits += int((reactions == ACCEPT).sum())
        served, events = [], []
        for row, user in enumerate(users):
            t0 = day + dt.timedelta(hours=6 * session, seconds=int(slots[row]) * 10)
            items = [int(i) for i in top[row] if i >= 0]
            rec_id = f"r{round_no}s{session}-{user}"
            ids = [str(catalog.item_ids[i]) for i in items]
            history = [str(catalog.item_ids[i]) for i in histories[row]]
            served.append(ServedList(rec_id, user, "", history, ids,
                                     [float(s) for s in scores[row][: len(items)]], version,
                                     False, t0))  # fmt: skip
            for n, item_id in enumerate(ids):
                event = EVENTS.get(int(reactions[row, n]), "impression")
                events.append(FeedbackEvent(user, item_id, event, t0 + dt.timedelta(seconds=n),
                                            recommendation_id=rec_id))  # fmt: skip
        store.log_served(served)
        store.add_feedback_many(events)
    return hits / (len(users) * args.sessions)


def run_arm(
    name: str,
    base: GenerativeRecommender,
    objective: str | None,
    sim: SimulatedUsers,
    cohorts: list[list[str]],
    held: dict[str, np.ndarray],
    guard: SequenceSplit,
    args: argparse.Namespace,
    seed: int,
    tmp: Path,
) -> list[dict[str, Any]]:
    users = [u for cohort in cohorts for u in cohort]
    store = FeedbackStore(f"sqlite:///{tmp / f'{name}-{seed}.sqlite3'}")
    model, version = base, 1
    rows = []
    for r in range(1, args.rounds + 1):
        started = time.perf_counter()
        ndcg = held_out_ndcg(model, users, held)
        acceptance = serve_round(model, sim, cohorts[r - 1], store, r, f"{name}-v{version}",
                                 args, seed)  # fmt: skip
        row: dict[str, Any] = {"arm": name, "objective": objective or "none", "seed": seed,
                               "round": r, "version": version, "acceptance": acceptance,
                               "heldout_ndcg@10": ndcg}  # fmt: skip
        if objective is not None and r < args.rounds:
            events = store.feedback_frame()
            first = max(1, r - args.window + 1) if args.window else 1
            window = tuple(f"r{x}s" for x in range(first, r + 1))
            events = events[events["recommendation_id"].str.startswith(window)]
            config = FinetuneConfig(objective=objective, seed=seed, epochs=args.ft_epochs,
                                    lr=args.ft_lr, kl_weight=args.ft_kl)  # fmt: skip
            tuned, report, promotion = guarded_finetune(model, events, store.served_frame(),
                                                        config, guard)  # fmt: skip
            row.update({"promoted": promotion.promoted, "checks": promotion.checks,
                        "valid_before": promotion.before, "valid_after": promotion.after,
                        "recent_before": promotion.recent_before,
                        "recent_after": promotion.recent_after,
                        "recent_cases": report["recent_holdout"],
                        "contexts": report["examples"]["contexts"]})  # fmt: skip
            if promotion.promoted:
                assert isinstance(tuned, GenerativeRecommender)
                model, version = tuned, version + 1
        row["seconds"] = round(time.perf_counter() - started, 2)
        verdict = ""
        if "promoted" in row:
            verdict = (
                f", {'promoted' if row['promoted'] else 'refused'} ("
                + "; ".join(f"{k} {v}" for k, v in row["checks"].items())
                + ")"
            )
        print(f"[feedback-bench] seed {seed} {name} round {r}: acceptance {acceptance:.3f} "
              f"hits/list, held-out NDCG@10 {ndcg:.4f}{verdict}", flush=True)  # fmt: skip
        rows.append(row)
    store.close()
    return rows


def run_seed(dataset: Dataset, args: argparse.Namespace, seed: int, tmp: Path
             ) -> list[dict[str, Any]]:  # fmt: skip
    past, taste_data, guard, held = cut(dataset)
    users = [u for u in past.sequences() if len(held[u])]
    if args.users:
        users = users[: args.users]
    # Each round a new cohort arrives: a random 1/rounds of the users, never served before.
    order = np.random.default_rng(seed).permutation(len(users))
    cohorts = [[users[i] for i in part] for part in np.array_split(order, args.rounds)]
    print(f"[feedback-bench] seed {seed}: taste model (SASRec-CE on the first 80%)", flush=True)
    cache = Path(args.cache) / f"seed{seed}" if args.cache else None
    taste_model = cached(cache and cache / "taste", lambda: SASRecRecommender(SASRecConfig())
                         .fit(taste_data, seed=seed, progress=True))  # fmt: skip
    print(f"[feedback-bench] seed {seed}: base model on the past 60% of {len(users)} users",
          flush=True)  # fmt: skip
    config = replace(GenerativeConfig(), max_epochs=args.epochs, eval_every=2, patience=3)
    base = cached(cache and cache / "base", lambda: GenerativeRecommender(config)
                  .fit(past, leave_one_out(past), seed=seed, progress=True))  # fmt: skip
    past_histories = {u: base.histories[u] for u in users}
    rows: list[dict[str, Any]] = []
    arms: list[tuple[str, str | None]] = [("control", None)]
    arms += [(o, o) for o in args.objectives]
    for name, objective in arms:
        sim = SimulatedUsers(model_taste(taste_model), past_histories, seed=seed)
        rows += run_arm(name, base, objective, sim, cohorts, held, guard, args, seed, tmp)
    return rows


def cached(path: Path | None, fit: Callable[[], Any]) -> Any:
    """The model saved at ``path`` (``--cache``, for reruns), else ``fit()`` (saved there)."""
    if path is not None and (path / "genrec.json").is_file():
        return genrec.load(path)
    model = fit()
    if path is not None:
        model.save(path)
    return model


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval over seeds."""
    from scipy import stats

    a = np.asarray(values, dtype=np.float64)
    if len(a) < 2:
        return float(a.mean()), 0.0
    half = stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a))
    return float(a.mean()), float(half)


def by_arm_round(rows: list[dict[str, Any]], key: str) -> dict[str, dict[int, list[float]]]:
    out: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        out.setdefault(r["arm"], {}).setdefault(r["round"], []).append(float(r[key]))
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Acceptance, lift over the control and held-out NDCG@10 by round (mean and 95% band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    lift_rows = [{**r, "lift": lifts(rows, r["arm"])[r["seed"]][r["round"]]} for r in rows]
    panels = (("acceptance", "acceptance (hits per list of 10)"),
              ("lift", "lift over the control (same cohort)"),
              ("heldout_ndcg@10", "held-out NDCG@10"))  # fmt: skip
    for ax, (key, title) in zip(axes, panels, strict=True):
        for arm, per_round in by_arm_round(lift_rows, key).items():
            rounds = sorted(per_round)
            stats = [interval(per_round[r]) for r in rounds]
            mean = np.array([m for m, _ in stats])
            half = np.array([h for _, h in stats])
            style = "--" if arm == "control" else "-"
            ax.plot(rounds, mean, style, marker="o", label=arm)
            ax.fill_between(rounds, mean - half, mean + half, alpha=0.15)
        ax.set(title=title, xlabel="round")
    axes[1].yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=16, help="base model's training epochs")
    parser.add_argument("--objectives", nargs="+", default=["sft", "dpo", "reinforce"])
    parser.add_argument(
        "--window",
        type=int,
        default=1,
        help="fine-tune on the feedback of the last N rounds (0: all so far)",
    )
    parser.add_argument("--ft-epochs", type=int, default=FinetuneConfig.epochs)
    parser.add_argument("--ft-lr", type=float, default=FinetuneConfig.lr)
    parser.add_argument("--ft-kl", type=float, default=FinetuneConfig.kl_weight)
    parser.add_argument("--sessions", type=int, default=3, help="lists per user in a round")
    parser.add_argument("--users", type=int, default=0, help="first N users only (0: all)")
    parser.add_argument("--cache", help="keep the trained taste and base models here (reruns)")
    parser.add_argument("--no-docs", action="store_true", help="print only; write nothing")
    args = parser.parse_args()
    out = Path(args.out)
    started = time.perf_counter()
    dataset = load_builtin("ml-100k")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="genrec-feedback-bench-") as tmp:
        for seed in args.seeds:
            rows += run_seed(dataset, args, seed, Path(tmp))
    minutes = (time.perf_counter() - started) / 60
    lines = report(rows, args, minutes)
    print("\n".join(lines))
    if not args.no_docs:
        plot(rows, out / "feedback_loop.png")
        write_json(rows, out / "benchmarks.json", section="feedback loop")
        replace_block(out / "benchmarks.md", "feedback", "\n".join(lines))
    print(f"[feedback-bench] done in {minutes:.1f} min")
    return 0


def lifts(rows: list[dict[str, Any]], arm: str) -> dict[int, dict[int, float]]:
    """Per seed, per round: the arm's acceptance over the control's, minus 1 (the same cohort
    and simulated users in both, so the comparison is paired)."""
    acc = {(r["arm"], r["seed"], r["round"]): float(r["acceptance"]) for r in rows}
    out: dict[int, dict[int, float]] = {}
    for (name, seed, rnd), value in acc.items():
        control = acc.get(("control", seed, rnd), 0.0)
        if name == arm and control > 0:
            out.setdefault(seed, {})[rnd] = value / control - 1
    return out


def slope(values: dict[int, float]) -> float:
    """Least-squares change per round."""
    x = np.array(sorted(values), dtype=np.float64)
    y = np.array([values[int(r)] for r in x])
    return float(np.polyfit(x, y, 1)[0]) if len(x) > 1 else 0.0


def report(rows: list[dict[str, Any]], args: argparse.Namespace, minutes: float) -> list[str]:
    accept = by_arm_round(rows, "acceptance")
    last, rounds = args.rounds, list(range(1, args.rounds + 1))
    seeds = sorted({r["seed"] for r in rows})
    arms = list(accept)

    def per_seed(arm: str, key: str, rnd: int) -> list[float]:
        return [float(r[key]) for s in seeds for r in rows
                if r["arm"] == arm and r["round"] == rnd and r["seed"] == s]  # fmt: skip

    def fmt(values: list[float], digits: int = 3, percent: bool = False) -> str:
        mean, half = interval(values)
        if percent:
            return f"{mean:+.1%} ± {half:.1%}"
        return f"{mean:.{digits}f} ± {half:.{digits}f}"

    lines = [
        "## Learning from feedback (`make bench-feedback`)",
        "",
        f"Produced by `make bench-feedback  (= python benchmarks/feedback.py --out docs)` on "
        f"{dt.date.today().isoformat()} in {minutes:.1f} min; machine: {machine()}; seeds "
        f"{', '.join(map(str, seeds))}; {last} rounds; fine-tune: the feedback of "
        + (
            {0: "every round so far", 1: "that round"}.get(args.window)
            or f"the last {args.window} rounds"
        )
        + f", {args.ft_epochs} epochs at lr {args.ft_lr:g}, KL weight {args.ft_kl:g}, the other "
        "FinetuneConfig defaults.",
        "",
        "ml-100k. The base generative model trains on each user's first 60% of interactions. "
        "Simulated users (`genrec.simulation`) take their taste from a SASRec-CE model trained "
        "on the first 80% and keep wanting things: the chance to accept an item falls with its "
        "rank among what they have not consumed yet (`0.9 * exp(-share / 0.002)`, at most 5 "
        "per list), they dislike half of the items in the bottom half of their taste, and what "
        f"they accept joins their history. Each round a new cohort (1/{last} of the users, at "
        f"random, the same in every arm) is served {args.sessions} lists of top-10 in a row; "
        "each learning arm then fine-tunes and serves the new version next round if the guard "
        "passes (recent holdout: the newest 20% of the lists, kept out of the fine-tune, must "
        "not be ranked worse within the lists; old validation: NDCG@10 of the next 4% of each "
        "user's items may fall by 2%, or by as much as the recent holdout rose, up to 10%). "
        "Held-out NDCG@10: each user's last 20% of interactions as the relevant items, given "
        "the past, used by nothing else. Lift: an arm's acceptance over the control's in the "
        "same round (same cohort, same simulated users), minus 1. Means ± 95% t-intervals over "
        "seeds.",
        "",
        "| arm | acceptance, rounds 2–last | lift, rounds 2–last | lift, last round | lift "
        "per round (trend) | versions served | held-out NDCG@10 round 1 → last | change |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        mine = lifts(rows, arm)
        later = [float(np.mean([v for rnd, v in mine[s].items() if rnd > 1])) for s in mine]
        final = [mine[s][last] for s in mine]
        trend = [slope(mine[s]) for s in mine]
        mean_acc = [float(np.mean([per_seed(arm, "acceptance", r)[i] for r in rounds[1:]]))
                    for i in range(len(seeds))]  # fmt: skip
        versions = [max(r["version"] for r in rows if r["arm"] == arm and r["seed"] == s)
                    for s in seeds]  # fmt: skip
        n0, n1 = per_seed(arm, "heldout_ndcg@10", 1), per_seed(arm, "heldout_ndcg@10", last)
        change = [(b - a) / a for a, b in zip(n0, n1, strict=True) if a]
        lines.append(
            f"| {arm} | {fmt(mean_acc)} | {fmt(later, percent=True)} | "
            f"{fmt(final, percent=True)} | {fmt(trend, percent=True)} | "
            f"{np.mean(versions):.1f} | {np.mean(n0):.4f} → {np.mean(n1):.4f} | "
            f"{fmt(change, percent=True)} |"
        )
    control_trend = [slope({r: per_seed("control", "acceptance", r)[i] for r in rounds})
                     for i in range(len(seeds))]  # fmt: skip
    lines += ["", "Acceptance by round (hits per list of 10), and each learning arm's lift over "
              "the control, mean over seeds:", "",
              "| arm | " + " | ".join(str(r) for r in rounds) + " |",
              "|---|" + "---|" * len(rounds)]  # fmt: skip
    for arm, per_round in accept.items():
        cells = [f"{np.mean(per_round[r]):.3f}" for r in rounds]
        if arm != "control":
            mine = lifts(rows, arm)
            cells = [f"{c} ({np.mean([mine[s][r] for s in mine]):+.0%})"
                     for c, r in zip(cells, rounds, strict=True)]  # fmt: skip
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    lines += ["", f"The control's acceptance changes by {fmt(control_trend, percent=False)} hits "
              "per list per round (its trend).", ""]  # fmt: skip
    lines += ["The guard, per round (seeds together): which checks passed.", "",
              "| arm | promoted | refused | recent holdout passed | old validation passed |",
              "|---|---|---|---|---|"]  # fmt: skip
    for arm in arms:
        tuned = [r for r in rows if r["arm"] == arm and "promoted" in r]
        if not tuned:
            continue
        promoted = sum(r["promoted"] for r in tuned)
        recent = sum(r["checks"].get("recent", "").startswith("passed") for r in tuned)
        valid = sum(r["checks"].get("validation", "").startswith("passed") for r in tuned)
        lines.append(f"| {arm} | {promoted} | {len(tuned) - promoted} | {recent}/{len(tuned)} | "
                     f"{valid}/{len(tuned)} |")  # fmt: skip
    lines += ["", "Every round's figures, and each check's verdict, are rows of benchmarks.json "
              "(section \"feedback loop\").", "",
              "![feedback loop](feedback_loop.png)"]  # fmt: skip
    return lines


if __name__ == "__main__":
    sys.exit(main())
