"""`make bench-recbole`: RecBole 1.2.1's SASRec (CE loss) on our ml-100k, run here, by seed.

The issue's reference figure (../shared/ANCHORS.md) is one RecBole run with seed 2020. This
script reruns RecBole itself, with the same configuration, on the same interaction file and
split, for any seeds, so our SASRec-CE can be compared with RecBole's spread over seeds rather
than with one draw. RecBole needs older NumPy and pandas than genrec, so it runs in its own
virtual environment (.venv-recbole, made by the Makefile target); the three steps are:

    .venv/bin/python benchmarks/recbole_reference.py export bench-out/recbole
    .venv-recbole/bin/python benchmarks/recbole_reference.py run bench-out/recbole \
        --seeds 0 --out docs/recbole_reference.json
    .venv/bin/python benchmarks/recbole_reference.py report docs/recbole_reference.json --out docs

`export` writes the built-in ml-100k interactions as a RecBole atomic file in the original file
order (RecBole breaks timestamp ties by that order, as genrec does). `run` trains and evaluates
each seed and adds it to the JSON file when it finishes (seeds already there are kept, also
those another process finishes meanwhile, so seeds can run as separate processes at the same
time). `report` writes the "recbole" block of docs/benchmarks.md. Measured on a 2-core CPU:
about 2.6 minutes per epoch for one seed alone, 15-30 epochs per seed (RecBole stops 10 epochs
after the best one).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time
from pathlib import Path
from typing import Any

# RecBole's SASRec as in ../shared/ANCHORS.md: CE loss, 2 layers, d=64, inner 256, 2 heads,
# dropout 0.2, 50 items, lr 1e-3, batch 256; leave-one-out by time, full ranking, history kept
# (RecBole never masks history for sequential models); RecBole's own early stopping (MRR@10,
# 10 epochs of patience).
RECBOLE_CONFIG: dict[str, Any] = {
    "loss_type": "CE",
    "train_neg_sample_args": None,
    "n_layers": 2,
    "n_heads": 2,
    "hidden_size": 64,
    "inner_size": 256,
    "hidden_dropout_prob": 0.2,
    "attn_dropout_prob": 0.2,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "initializer_range": 0.02,
    "MAX_ITEM_LIST_LENGTH": 50,
    "learning_rate": 0.001,
    "train_batch_size": 256,
    "eval_batch_size": 4096,
    "epochs": 300,
    "stopping_step": 10,
    "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full"},
    "metrics": ["Recall", "NDCG", "MRR"],
    "topk": [5, 10],
    "valid_metric": "MRR@10",
    "reproducibility": True,
    "device": "cpu",
    "show_progress": False,
}
METRICS = ("ndcg@10", "recall@10", "ndcg@5", "recall@5", "mrr@10")


def export(root: Path) -> Path:
    """Write ``root/ml-100k/ml-100k.inter`` from the built-in dataset, in file order."""
    import pandas as pd

    from genrec.data.builtin import ml100k_files

    raw = pd.read_parquet(ml100k_files()["data"])
    out = root / "ml-100k"
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(
        {
            "user_id:token": raw["user_id"],
            "item_id:token": raw["movie_id"],
            "rating:float": raw["rating"],
            "timestamp:float": raw["timestamp"],
        }
    )
    path = out / "ml-100k.inter"
    table.to_csv(path, sep="\t", index=False)
    print(f"wrote {len(table)} interactions to {path}", flush=True)
    return path


def run_seed(root: Path, seed: int, *, reuse: bool = False) -> dict[str, Any]:
    """Train and evaluate RecBole's SASRec with one seed (inside .venv-recbole).

    With ``reuse``, a checkpoint that an earlier run of this seed left under ``root`` is
    evaluated instead of training again (epochs and training time are then unknown)."""
    torch = importlib.import_module("torch")
    config_mod = importlib.import_module("recbole.config")
    data_mod = importlib.import_module("recbole.data")
    utils = importlib.import_module("recbole.utils")

    saved_dir = root / f"saved-{seed}"
    config = config_mod.Config(
        model="SASRec",
        dataset="ml-100k",
        config_dict={
            **RECBOLE_CONFIG,
            "data_path": str(root),
            "seed": seed,
            "checkpoint_dir": str(saved_dir),
        },
    )
    utils.init_seed(config["seed"], config["reproducibility"])
    utils.init_logger(config)
    dataset = data_mod.create_dataset(config)
    train_data, valid_data, test_data = data_mod.data_preparation(config, dataset)
    utils.init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = utils.get_model("SASRec")(config, train_data._dataset).to(config["device"])
    trainer = utils.get_trainer(config["MODEL_TYPE"], "SASRec")(config, model)
    earlier = sorted(saved_dir.glob("SASRec-*.pth"), key=lambda p: p.stat().st_mtime)
    epochs: int | None = None
    seconds: float | None = None
    if reuse and earlier:
        checkpoint_file = earlier[-1]
        print(f"[recbole] evaluating the saved checkpoint {checkpoint_file}", flush=True)
    else:
        started = time.perf_counter()
        trainer.fit(train_data, valid_data, saved=True, show_progress=False)
        seconds = round(time.perf_counter() - started, 1)
        epochs = max(trainer.train_loss_dict) + 1
        checkpoint_file = Path(trainer.saved_model_file)
    # RecBole's trainer.evaluate(load_best_model=True) calls torch.load with PyTorch's
    # weights-only default, which rejects RecBole's own checkpoint (it pickles the Config), so
    # the best checkpoint is loaded here; the file was written by RecBole in this directory.
    checkpoint = torch.load(checkpoint_file, map_location=config["device"], weights_only=False)
    model.load_state_dict(checkpoint["state_dict"])
    model.load_other_parameter(checkpoint.get("other_parameter"))
    valid = trainer.evaluate(valid_data, load_best_model=False, show_progress=False)
    test = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    return {
        "seed": seed,
        "epochs": epochs,
        "best_epoch": int(checkpoint["epoch"]),  # 0-based, as RecBole's log counts
        "train_seconds": seconds,
        "checkpoint": checkpoint_file.name,
        "threads": torch.get_num_threads(),
        "valid": {k: float(valid[k]) for k in METRICS},
        "test": {k: float(test[k]) for k in METRICS},
    }


def run(root: Path, seeds: list[int], out: Path, *, reuse: bool = False) -> None:
    torch = importlib.import_module("torch")
    recbole = importlib.import_module("recbole")
    results: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    results.update(
        {
            "recbole": recbole.__version__,
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "config": RECBOLE_CONFIG,
        }
    )
    for seed in seeds:
        print(f"[recbole] SASRec seed {seed}", flush=True)
        result = run_seed(root, seed, reuse=reuse)
        print(json.dumps(result), flush=True)
        record_run(out, results, result)


def record_run(out: Path, results: dict[str, Any], result: dict[str, Any]) -> None:
    """Add one seed's result to the JSON file ``out`` and write it.

    The runs are taken from the file as it is just before writing, so seeds that another run
    finished meanwhile (one process per seed, e.g. in parallel) are kept; a seed run again
    replaces its entry."""
    earlier = json.loads(out.read_text()).get("runs", []) if out.is_file() else []
    runs = {r["seed"]: r for r in earlier}
    runs[result["seed"]] = result
    results["runs"] = [runs[s] for s in sorted(runs)]
    out.write_text(json.dumps(results, indent=2) + "\n")


def report(path: Path, out: Path) -> None:
    import numpy as np

    from harness import RECBOLE_ANCHOR as ANCHOR
    from harness import replace_block

    results = json.loads(path.read_text())
    runs = results["runs"]
    ours = next(
        (
            r
            for r in json.loads((out / "benchmarks.json").read_text())
            if r.get("group") == "recbole" and r.get("kind") == "sasrec"
        ),
        None,
    )
    minutes = [r["train_seconds"] / 60 for r in runs if r.get("train_seconds")]
    took = ""
    if minutes:
        low, high = round(min(minutes)), round(max(minutes))
        took = f"; training took {low if low == high else f'{low}-{high}'} min per seed"
    lines = [
        "### RecBole itself, rerun here",
        "",
        f"RecBole {results['recbole']} SASRec (CE loss) with the configuration of "
        "../shared/ANCHORS.md, on the same interaction file and split, history kept, by seed "
        f"(`make bench-recbole`, {results['machine']} CPU, threads per run as given{took}). "
        "Best epoch counts from 0, as RecBole's log does.",
        "",
        "| run | threads | best epoch | valid NDCG@10 | test NDCG@10 | Recall@10 | NDCG@5 | "
        "MRR@10 |",
        "|---|---|---|---|---|---|---|---|",
        f"| ANCHORS.md, seed {ANCHOR['seed']:.0f} | — | {ANCHOR['best_epoch']:.0f} | "
        f"{ANCHOR['valid_ndcg@10']:.4f} | {ANCHOR['ndcg@10']:.4f} | "
        f"{ANCHOR['recall@10']:.4f} | {ANCHOR['ndcg@5']:.4f} | {ANCHOR['mrr@10']:.4f} |",
    ]
    for r in runs:
        t = r["test"]
        lines.append(
            f"| rerun, seed {r['seed']} | {r.get('threads', '—')} | {r['best_epoch']} | "
            f"{r['valid']['ndcg@10']:.4f} | {t['ndcg@10']:.4f} | {t['recall@10']:.4f} | "
            f"{t['ndcg@5']:.4f} | {t['mrr@10']:.4f} |"
        )

    def mean_row(label: str, chosen: list[dict[str, Any]]) -> str:
        values = np.array([r["test"]["ndcg@10"] for r in chosen])
        return (
            f"| rerun, mean ± std of {label} | — | — | — | "
            f"{values.mean():.4f} ± {values.std(ddof=1):.4f} | — | — | — |"
        )

    if len(runs) > 1:
        lines.append(mean_row(f"{len(runs)} seeds", runs))
    if ours is not None:
        # RecBole's mean over the seeds our row used, when the reruns hold more seeds than that
        same = [r for r in runs if r["seed"] in ours["protocol"]["seeds"]]
        if 1 < len(same) < len(runs):
            seeds = "/".join(str(r["seed"]) for r in same)
            lines.append(mean_row(f"seeds {seeds} (genrec's seeds)", same))
        lines.append(
            f"| genrec SASRec-CE (table above), mean of seeds {ours['protocol']['seeds']} | — | — "
            f"| — | {ours['ndcg@10']:.4f} ± {ours['ndcg@10_std']:.4f} | {ours['recall@10']:.4f} | "
            f"{ours['ndcg@5']:.4f} | {ours['mrr@10']:.4f} |"
        )
    reused = [str(r["seed"]) for r in runs if r.get("epochs") is None]
    if reused:
        lines += [
            "",
            f"Seed(s) {', '.join(reused)}: the best checkpoint saved by the training run was "
            "evaluated afterwards (`recbole_reference.py run --reuse-checkpoints`), without "
            "training again.",
        ]
    lines.append("")
    replace_block(out / "benchmarks.md", "recbole", "\n".join(lines))
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="write the RecBole atomic file (run with .venv)")
    p.add_argument("root", type=Path)
    p = sub.add_parser("run", help="train and evaluate RecBole's SASRec (run with .venv-recbole)")
    p.add_argument("root", type=Path)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--out", type=Path, default=Path("docs/recbole_reference.json"))
    p.add_argument(
        "--reuse-checkpoints",
        action="store_true",
        help="evaluate a checkpoint an earlier run of the seed left instead of training again",
    )
    p = sub.add_parser("report", help="write the block in docs/benchmarks.md (run with .venv)")
    p.add_argument("results", type=Path)
    p.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    if args.command == "export":
        export(args.root)
    elif args.command == "run":
        run(args.root, args.seeds, args.out, reuse=args.reuse_checkpoints)
    else:
        report(args.results, args.out)


if __name__ == "__main__":
    main()
