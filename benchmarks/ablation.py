"""`make bench-ablation`: what carried the generative model's gain, lever by lever, on ml-100k.

Each variant is the default GenerativeConfig with a few settings changed; each is trained with
the same seed(s) and split as `make bench`, and ranked four ways on the validation and the test
users (history excluded):

- path: the code path alone (beam search, ``dense_weight`` 0), the purely generative ranking;
- dense: the dense head alone, a full softmax over the catalog (not generative: no beam);
- hybrid w=1: path + 1 x dense log-probability over the beam's items;
- hybrid w*: the weight of DENSE_WEIGHTS best on validation (what ``fit`` keeps by default).

Usage: python benchmarks/ablation.py --out docs [--seeds 0] [--reuse DIR] [--only NAME ...]
``--reuse DIR``: a variant's model saved as DIR/<name>-s<seed> is loaded instead of trained when
its saved config equals the variant's (training settings included). ``--only NAME ...``: measure
only these variants; the other rows are kept from the last run (docs/benchmarks.json), and the
table says which rows this run measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import genrec
from genrec.data import load_builtin
from genrec.data.split import SequenceSplit, leave_one_out
from genrec.evaluation import Ranker, evaluate
from genrec.generative.config import DENSE_WEIGHTS, TRAINING_DENSE_WEIGHT, GenerativeConfig
from genrec.generative.recommender import GenerativeRecommender
from genrec.recommender import blocked_items

from harness import machine, replace_block, write_json

# Each variant pins every lever it does not test to its value before that lever became the default
# (average_decay 0, validation_smoothing 1, text_inputs off, no parallel codes), so that a row keeps
# its meaning when a default changes.
_OLD = {"average_decay": 0.0, "validation_smoothing": 1, "text_inputs": False, "parallel_codes": 0}
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("base", "#3's model: the path loss shares the backbone, no later items",
     {"later_weight": 0.0, "detach_path": False, "dense_weight": 0.0,
      "collaborative_weight": 0.0, **_OLD}),
    ("later3", "+ later items (0.3) in the dense head's targets, path still shared",
     {"detach_path": False, "dense_weight": 0.0, "collaborative_weight": 0.0, **_OLD}),
    ("flatonly", "the dense head alone (no path loss; validated on the dense ranking)",
     {"path_loss_weight": 0.0, "distill_weight": 0.0, "detach_path": False, "dense_weight": 100.0,
      "beam_size": 2000, "collaborative_weight": 0.0, **_OLD}),
    ("dall_nod", "hybrid, path detached, no distillation into the path",
     {"distill_weight": 0.0, "collaborative_weight": 0.0, **_OLD}),
    ("dall", "hybrid, path detached, distilled, text-only codes", {**_OLD}),
    ("collab", "+ collaborative semantic IDs (collaborative_weight 1)",
     {"collaborative_weight": 1.0, **_OLD}),
    ("average", "hybrid, text-only codes, weights averaged over epochs (average_decay 0.6)",
     {"average_decay": 0.6, "validation_smoothing": 1, "text_inputs": False,
      "parallel_codes": 0}),
    ("smooth", "+ early stopping on the mean of 3 validation scores (validation_smoothing 3)",
     {"average_decay": 0.6, "validation_smoothing": 3, "text_inputs": False,
      "parallel_codes": 0}),
    ("text", "+ each history item's text vector as an input (text_inputs)",
     {"average_decay": 0.6, "validation_smoothing": 3, "text_inputs": True, "parallel_codes": 0}),
    ("parallel", "+ the parallel-code loss (16 PQ codes of 32 predicted at once; parallel_codes)",
     {"average_decay": 0.6, "validation_smoothing": 3, "text_inputs": True,
      "parallel_codes": 16}),
]  # fmt: skip


class DenseOnly:
    """The dense head's full-catalog ranking (not generative: every item scored)."""

    def __init__(self, model: GenerativeRecommender) -> None:
        self.model = model

    def recommend_indices(
        self,
        histories: Sequence[np.ndarray],
        k: int,
        *,
        requests: Sequence[str] | None = None,
        exclude_seen: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        net = self.model._require_net()
        with torch.no_grad():
            scores = torch.log_softmax(
                net.flat_logits(self.model.start_states(histories, None)), -1
            )
        n = scores.shape[1]
        scores[torch.from_numpy(blocked_items(n, histories, exclude_seen, None, None))] = -torch.inf
        top, idx = scores.topk(k, dim=1)
        return idx.numpy(), top.numpy()


def with_weight(model: GenerativeRecommender, weight: float) -> GenerativeRecommender:
    view = model.with_decoding()
    view.config = dataclasses.replace(model.config, dense_weight=weight)
    return view


def trained(
    name: str, config: GenerativeConfig, seed: int, dataset: Any, split: SequenceSplit,
    reuse: Path | None,
) -> tuple[GenerativeRecommender, float, bool]:  # fmt: skip
    """The variant's model, its training seconds, and whether it was reused."""
    folder = reuse / f"{name}-s{seed}" if reuse is not None else None
    if folder is not None and (folder / "genrec.json").is_file():
        model = genrec.load(folder)
        assert isinstance(model, GenerativeRecommender)
        wanted = dataclasses.replace(
            config,
            dense_weight=config.dense_weight if config.dense_weight is not None
            else TRAINING_DENSE_WEIGHT,
        )  # fmt: skip
        saved = dataclasses.replace(model.config, dense_weight=wanted.dense_weight)
        if saved == wanted and model.fit_info.get("seed") == seed:
            seconds = model.fit_info["train_seconds"]
            assert isinstance(seconds, (int, float))
            return model, float(seconds), True
    started = time.perf_counter()
    model = GenerativeRecommender(config).fit(dataset, split, seed=seed, progress=False)
    if folder is not None:
        model.save(folder)
    return model, time.perf_counter() - started, False


def measure(model: GenerativeRecommender, split: SequenceSplit) -> dict[str, float]:
    row: dict[str, float] = {}
    weights: dict[float, float] = {}
    for weight in DENSE_WEIGHTS:
        weights[weight] = evaluate(with_weight(model, weight), split, "valid").metrics["ndcg@10"]
    chosen = max(DENSE_WEIGHTS, key=lambda w: (weights[w], -w))
    rankers: dict[str, Ranker] = {
        "path": with_weight(model, 0.0),
        "dense": DenseOnly(model),
        "hybrid w=1": with_weight(model, 1.0),
        "hybrid w*": with_weight(model, chosen),
    }
    for label, ranker in rankers.items():
        for part in ("valid", "test"):
            row[f"{label} {part}"] = evaluate(ranker, split, part).metrics["ndcg@10"]
    row["w*"] = chosen
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--reuse", type=Path, default=None)
    names = [name for name, _, _ in VARIANTS]
    parser.add_argument("--only", nargs="+", choices=names, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    dataset = load_builtin("ml-100k")
    split = leave_one_out(dataset)
    earlier = earlier_rows(args.out / "benchmarks.json") if args.only else {}
    rows = []
    for name, label, overrides in VARIANTS:
        if args.only and name not in args.only:
            if name in earlier:
                rows.append({**earlier[name], "description": label, "measured": False})
            continue
        config = GenerativeConfig(**overrides)
        per_seed = []
        for seed in args.seeds:
            model, seconds, reused = trained(name, config, seed, dataset, split, args.reuse)
            per_seed.append({**measure(model, split), "train s": seconds})
            index = model.fit_info.get("index", {})
            print(f"[ablation] {name} seed {seed}{' (reused)' if reused else ''}: "
                  f"{per_seed[-1]}", flush=True)  # fmt: skip
        mean = {k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0]}
        rows.append({"variant": name, "description": label, "overrides": overrides,
                     "seeds": args.seeds, "index": index, "machine": machine(),
                     "measured": True, **mean})  # fmt: skip
    command = (
        "python benchmarks/ablation.py --out docs"
        + (f" --seeds {' '.join(map(str, args.seeds))}" if args.seeds != [0] else "")
        + (f" --only {' '.join(args.only)}" if args.only else "")
    )
    write_json(rows, args.out / "benchmarks.json", "ablation")
    replace_block(args.out / "benchmarks.md", "ablation", section(rows, command))
    return 0


def earlier_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The last run's ablation rows by variant name."""
    if not path.is_file():
        return {}
    saved = json.loads(path.read_text())
    return {r["variant"]: r for r in saved if r.get("section") == "ablation" and "variant" in r}


def section(rows: list[dict[str, Any]], command: str) -> str:
    cols = ["path", "dense", "hybrid w=1", "hybrid w*"]
    head = "| variant | " + " | ".join(f"{c} valid | {c} test" for c in cols) + " | w* | train s |"
    lines = [
        "## Generative model: ablation (`make bench-ablation`)",
        "",
        f"`{command}` on {machine()}; ml-100k, the split and protocol of `make bench` "
        f"(history excluded), NDCG@10, seeds {rows[0]['seeds']} (mean where several). Each "
        "variant is the default config with the settings named changed. *path*: the code path "
        "alone (beam search); *dense*: the dense head alone over the whole catalog (not "
        "generative); *hybrid w=1*: path + dense log-probability over the beam's items; "
        "*hybrid w\\**: the dense weight best on validation among "
        f"{', '.join(map(str, DENSE_WEIGHTS))} (what `fit` keeps).",
        *measured_note(rows),
        "",
        head,
        "|---|" + "---|---|" * len(cols) + "---|---|",
    ]
    for row in rows:
        cells = " | ".join(f"{row[f'{c} valid']:.4f} | {row[f'{c} test']:.4f}" for c in cols)
        lines.append(f"| {row['description']} | {cells} | {row['w*']:g} | {row['train s']:.0f} |")
    index = next((r["index"] for r in rows if r["variant"] == "collab"), rows[-1]["index"])
    if index.get("mean_items_per_prefix") is not None:
        lines += [
            "",
            "Semantic IDs with collaborative vectors (sized to the catalog): "
            f"{len(index['levels'])} levels of 32 for {index['items']} items, "
            f"{index['distinct_prefixes']} distinct prefixes; "
            f"items per prefix: mean {index['mean_items_per_prefix']}, p90 "
            f"{index['p90_items_per_prefix']:g}, max {index['max_items_per_prefix']}.",
        ]
    return "\n".join(lines)


def measured_note(rows: list[dict[str, Any]]) -> list[str]:
    """Which rows this run trained and which it kept from an earlier run."""
    kept = [r["description"] for r in rows if not r.get("measured", True)]
    if not kept:
        return []
    fresh = [r["description"] for r in rows if r.get("measured", True)]
    return [
        "",
        f"This run measured: {'; '.join(fresh)}. The other rows are kept from an earlier run "
        "(same seeds, split and protocol; their *train s* was measured then, possibly on another "
        "machine or beside other work, so compare train s only between rows of one run).",
    ]


if __name__ == "__main__":
    sys.exit(main())
