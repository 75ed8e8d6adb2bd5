"""`make bench-scale`: the generative model, SASRec-CE and item-kNN on synthetic catalogs of
10k, 100k and 1M items.

Each catalog has a title per item and given 384-d item vectors (a catalog column: the
``vectors_column`` path, so no text is encoded here; see bench-vectors for encoding rates).
The vectors are anisotropic Gaussian (96 latent factors with a 1/sqrt(i) spectrum, plus
noise), which residual k-means splits as it splits text-encoder vectors. Interactions follow a
power law: item popularity ~ 1/rank^0.8, user lengths ~ a Pareto tail (at least 5).

Each (size, model) runs in its own process, so its peak memory is its own. Per run: the time
to build the semantic IDs and the trie from the vectors, the memory of the decoding tables,
one training epoch with the default config (``max_epochs = 1``; the validation that follows
is not counted), the saved folder's size and load time, the single-request latency (median,
p95 over ``--calls`` users) and the throughput at batch 64.

Usage: python benchmarks/scale.py --out docs [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import genrec
from genrec.data.schema import Catalog, Dataset
from genrec.models import model_class

from harness import machine, replace_block, write_json

LABELS = {"generative": "Generative (hybrid)", "sasrec": "SASRec-CE", "itemknn": "Item-kNN"}


def synthetic_vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(96, 384)).astype(np.float32)
    scale = (1.0 / np.sqrt(np.arange(1, 97))).astype(np.float32)
    out = np.empty((n, 384), dtype=np.float32)
    for begin in range(0, n, 100_000):
        rows = min(100_000, n - begin)
        block = (rng.normal(size=(rows, 96)).astype(np.float32) * scale) @ basis
        block += 0.1 * rng.normal(size=(rows, 384)).astype(np.float32)
        out[begin : begin + rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def synthetic_dataset(n: int, users: int, seed: int = 0, mean_length: float = 21.0) -> Dataset:
    """``n`` items with vectors in a "vec" column; ``users`` with at least 5 interactions each
    (Pareto tail, ``mean_length`` on average, at most 500)."""
    rng = np.random.default_rng(seed)
    vectors = synthetic_vectors(n, seed)
    items = pd.DataFrame({
        "item_id": [f"i{j}" for j in range(n)],
        "title": [f"Item {j}" for j in range(n)],
        "categories": [(f"group {j % 50}",) for j in range(n)],
        "description": "",
        "vec": list(vectors),  # views into one array: no copy per row
    })  # fmt: skip
    catalog = Catalog(items)
    popularity = 1.0 / np.arange(1, n + 1) ** 0.8
    popularity /= popularity.sum()
    by_rank = rng.permutation(n)  # which item has which popularity rank
    tail = (mean_length - 5.0) * 0.5  # a Pareto(1.5) draw has mean 2
    lengths = np.minimum(5 + (rng.pareto(1.5, size=users) * tail).astype(np.int64), 500)
    picks = by_rank[rng.choice(n, size=int(lengths.sum()), p=popularity)]
    index = np.asarray(catalog.indices([f"i{j}" for j in range(n)]))[picks]
    frame = pd.DataFrame({
        "user_id": np.repeat([f"u{u}" for u in range(users)], lengths),
        "item_index": index.astype(np.int64),
        "timestamp": np.concatenate([np.arange(1, k + 1) for k in lengths]).astype(np.int64),
    })  # fmt: skip
    frame["rating"] = np.nan
    frame["request"] = ""
    return Dataset(f"synthetic-{n}", catalog, frame)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table_mb(model: Any) -> float | None:
    """The decoding tables (trie and codes) in MB; None for models without them."""
    index = getattr(model, "index", None)
    if index is None:
        return None
    arrays = [index.codes, *index.children, *index.node_ids, *index.parent_of]
    return sum(a.nbytes for a in arrays) / 2**20


def latency(model: Any, histories: list[np.ndarray], calls: int) -> dict[str, float]:
    single = []
    for h in histories[:calls]:
        started = time.perf_counter()
        model.recommend_indices([h], 10)
        single.append((time.perf_counter() - started) * 1000)
    batches = [histories[i : i + 64] for i in range(0, min(len(histories), 640), 64)]
    started = time.perf_counter()
    for batch in batches:
        model.recommend_indices(batch, 10)
    seconds = time.perf_counter() - started
    return {
        "single_ms_median": statistics.median(single),
        "single_ms_p95": float(np.percentile(single, 95)),
        "batch64_per_s": sum(len(b) for b in batches) / seconds,
    }


def users_for(n: int) -> int:
    """2,000 users up to 100k items; 200 at 1M, where a full-softmax epoch over 2,000 users
    would take over 20 minutes on 2 cores (both trained models score every item per target)."""
    return 2000 if n <= 100_000 else 200


def run_one(kind: str, n: int, users: int, calls: int, mean_length: float = 21.0) -> dict[str, Any]:
    started = time.perf_counter()
    data = synthetic_dataset(n, users, mean_length=mean_length)
    made = time.perf_counter() - started
    overrides: dict[str, Any] = {}
    if kind in ("generative", "sasrec"):
        overrides = {"max_epochs": 1}
    if kind == "generative":
        overrides["vectors_column"] = "vec"
    klass = model_class(kind)
    fields = {f.name for f in dataclasses.fields(klass.config_class)}
    config = klass.config_class(**{k: v for k, v in overrides.items() if k in fields})
    model = klass(config)
    started = time.perf_counter()
    model.fit(data, seed=0)
    fit_s = time.perf_counter() - started
    info: dict[str, Any] = model.fit_info
    index: dict[str, Any] = info.get("index") or {}
    row: dict[str, Any] = {
        "model": LABELS[kind], "kind": kind, "items": n, "users": users,
        "interactions": len(data.interactions), "data_s": made, "fit_s": fit_s,
        "epoch_s": info.get("train_seconds"), "index_s": info.get("index_seconds"),
        "index_peak_mb": info.get("index_peak_mb"),
        "levels": len(index.get("levels", [])) or None,
        "mean_items_per_prefix": index.get("mean_items_per_prefix"),
        "max_items_per_prefix": index.get("max_items_per_prefix"),
        "tables_mb": table_mb(model),
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m")
        row["folder_mb"] = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        row["folder_mb"] /= 2**20
        row["fit_peak_mb"] = peak_mb()
        del model, info, index  # a serving process holds the loaded model only
        gc.collect()
        started = time.perf_counter()
        loaded = genrec.load(Path(tmp) / "m")
        row["load_s"] = time.perf_counter() - started
    histories = list(loaded.histories.values())
    row.update(latency(loaded, histories, calls))
    row["peak_mb"] = peak_mb()
    return row


def log_section(rows: list[dict[str, Any]], minutes: float) -> str:
    lines = [
        "## Large logs (`make bench-logs`)",
        "",
        f"`python benchmarks/scale.py --large-log --out docs` on {machine()}, {minutes:.1f} min. "
        "A synthetic log of about 1M interactions from 100k users (power-law items, at least 5 "
        "per user) over 10k items with given vectors, split leave-one-out by the same code as "
        "every run; one epoch with the default config, each model in its own process. Training "
        "windows are built as arrays over the whole log (no object per window or example). "
        "*epoch s*: one epoch, validation over all 100k users not counted; *fit s*: the whole "
        "`fit` (split, index, epoch, validation, the dense-weight choice).",
        "",
        "| model | users | interactions | epoch s | fit s | peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['users']:,} | {r['interactions']:,} | "
                     f"{r['epoch_s']:.1f} | {r['fit_s']:.1f} | {r['peak_mb']:.0f} |")  # fmt: skip
    return "\n".join(lines)


def plot_latency(rows: list[dict[str, Any]], path: Path) -> None:
    """Single-request median latency against catalog size, one line per model (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label in LABELS.values():
        mine = sorted((r["items"], r["single_ms_median"]) for r in rows if r["model"] == label)
        if mine:
            ax.plot(*zip(*mine, strict=True), marker="o", label=label)
    sizes = sorted({r["items"] for r in rows})
    if len(sizes) > 1:  # a line that grows with the catalog, for the eye
        first = min(r["single_ms_median"] for r in rows if r["items"] == sizes[0])
        ax.plot(sizes, [first * n / sizes[0] for n in sizes], "k:", label="linear in items")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("catalog items")
    ax.set_ylabel("single request, median ms")
    ax.set_title("Latency against catalog size (2-core CPU)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def section(rows: list[dict[str, Any]], minutes: float) -> str:
    lines = [
        "## Large catalogs (`make bench-scale`)",
        "",
        f"`python benchmarks/scale.py --out docs` on {machine()}, {minutes:.1f} min. Synthetic "
        "catalogs with given 384-d item vectors, power-law interactions; each model with its "
        "default config and one epoch (`max_epochs = 1`), in its own process. *index s*: "
        "semantic IDs and trie from the vectors; *tables MB*: trie and code tables; *epoch s*: "
        "one training epoch (validation not counted); *load s*: `genrec.load` of the saved "
        "folder; latency: `recommend_indices` for one user's history, top 10, over the "
        "catalog (history excluded); *peak MB after index*: the process's resident set at its "
        "highest once the synthetic data, the vectors and the index exist (before training); "
        "*peak MB*: at its highest over the whole run, training included (the trained model is "
        "freed once saved, before the saved one is loaded and served). 2,000 users up to "
        "100k items, 200 at 1M (see `users_for`).",
        "",
        "| items | model | interactions | index s | peak MB after index | items/prefix (max) "
        "| tables MB | epoch s | folder MB | load s | single ms (median / p95) "
        "| batch-64 users/s | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def fmt(value: Any, spec: str) -> str:
        return "—" if value is None else format(value, spec)

    for r in rows:
        prefix = None
        if r.get("mean_items_per_prefix") is not None:
            prefix = f"{r['mean_items_per_prefix']:.1f} ({r['max_items_per_prefix']})"
        cells = [
            f"{r['items']:,}", r["model"], f"{r['interactions']:,}", fmt(r["index_s"], ".1f"),
            fmt(r.get("index_peak_mb"), ".0f"), prefix or "—", fmt(r["tables_mb"], ".1f"),
            fmt(r["epoch_s"], ".1f"), f"{r['folder_mb']:.0f}", f"{r['load_s']:.2f}",
            f"{r['single_ms_median']:.1f} / {r['single_ms_p95']:.1f}",
            f"{r['batch64_per_s']:.0f}", f"{r['peak_mb']:.0f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "![single-request latency against catalog size](scale_latency.png)"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", default=list(LABELS))
    parser.add_argument("--users", type=int, help="users per catalog (default: users_for)")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--large-log", action="store_true",
                        help="1M interactions from 100k users over 10k items instead")  # fmt: skip
    parser.add_argument("--mean-length", type=float, default=21.0, help=argparse.SUPPRESS)
    parser.add_argument("--one", nargs=2, metavar=("KIND", "ITEMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        n = int(args.one[1])
        row = run_one(args.one[0], n, args.users or users_for(n), args.calls, args.mean_length)
        print(json.dumps(row), flush=True)
        return 0
    started = time.perf_counter()
    rows = []
    runs = [(n, kind, args.users or users_for(n), 21.0) for n in args.sizes for kind in args.kinds]
    if args.large_log:  # mean length 10: about 1M interactions
        runs = [(10_000, kind, 100_000, 10.0) for kind in ("sasrec", "generative")]
    for n, kind, users, mean_length in runs:
        cmd = [sys.executable, __file__, "--one", kind, str(n), "--users", str(users),
               "--calls", str(args.calls), "--mean-length", str(mean_length)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        if done.returncode != 0:
            print(f"[scale] {kind} at {n} items failed (exit {done.returncode}; -9: killed, "
                  f"e.g. out of memory):\n{done.stderr[-3000:]}", flush=True)  # fmt: skip
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"[scale] {rows[-1]}", flush=True)
    minutes = (time.perf_counter() - started) / 60
    name = "logs" if args.large_log else "scale"
    write_json(rows, args.out / "benchmarks.json", name)
    text = log_section(rows, minutes) if args.large_log else section(rows, minutes)
    if not args.large_log:
        plot_latency(rows, args.out / "scale_latency.png")
    replace_block(args.out / "benchmarks.md", name, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
