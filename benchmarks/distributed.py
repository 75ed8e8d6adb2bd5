"""`make bench-ddp`: the time per training epoch with 1 and 2 processes (torchrun, gloo).

SASRec-CE and the generative model, each with its default config and 3 epochs on ml-100k (seed
0; validation after every epoch, not counted). One process runs with 2 threads (the machine's
cores); 2 processes run under ``torchrun --standalone --nproc_per_node 2`` with one thread each,
at the same global batch. Reported: training seconds per epoch (median over the epochs), the
validation NDCG@10 after the last epoch, and each process's peak memory, from the model's own
``fit_info``. Then ``genrec recommend --all-users`` (top 10 for every user, to Parquet) with the
1-process model, in 1 and 2 processes: users per second.

Usage: python benchmarks/distributed.py --out docs [--epochs 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import machine, replace_block, write_json

LABELS = {"sasrec": "SASRec-CE", "generative": "Generative (hybrid)"}


def run(kind: str, processes: int, epochs: int, folder: Path) -> dict[str, Any]:
    config = folder / f"{kind}.toml"
    config.write_text(f"max_epochs = {epochs}\npatience = {epochs + 1}\n")
    out = folder / f"{kind}-{processes}"
    launcher = [sys.executable, "-m", "genrec"]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    f"--nproc_per_node={processes}", "-m", "genrec"]  # fmt: skip
        env["OMP_NUM_THREADS"] = "1"
    cmd = [*launcher, "train", "--model", kind, "--data", "ml-100k", "--config", str(config),
           "--out", str(out), "--quiet", "--seed", "0"]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    info = json.loads((out / "genrec.json").read_text())["fit_info"]
    curve = info["curve"]
    # The curve has a point per validation, which need not be every epoch (eval_every).
    ends = [(0, 0.0)] + [(c["epoch"], c["seconds"]) for c in curve]
    per_epoch = [(t1 - t0) / (e1 - e0) for (e0, t0), (e1, t1) in itertools.pairwise(ends)]
    row = {
        "model": LABELS[kind], "kind": kind, "processes": processes,
        "epoch_s": statistics.median(per_epoch), "epochs": curve[-1]["epoch"], "wall_s": wall,
        "valid_ndcg@10": curve[-1]["valid_ndcg@10"], "loss": curve[-1]["loss"],
        "peak_mb": [m["cpu_peak_mb"] for m in info["memory_per_process"]],
    }  # fmt: skip
    print(f"[ddp] {row}", flush=True)
    return row


def infer(kind: str, processes: int, folder: Path) -> dict[str, Any]:
    """Top 10 for every user of the 1-process model, to Parquet, in ``processes`` processes."""
    launcher = [sys.executable, "-m", "genrec"]
    env = {**os.environ, "OMP_NUM_THREADS": str(2 // processes)}
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    f"--nproc_per_node={processes}", "-m", "genrec"]  # fmt: skip
    out = folder / f"recs-{kind}-{processes}.parquet"
    cmd = [*launcher, "recommend", "--model-dir", str(folder / f"{kind}-1"), "--all-users",
           "--out", str(out), "--json", "--quiet"]  # fmt: skip
    done = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    keep = ("users", "seconds", "users_per_second")
    row = {"model": LABELS[kind], "kind": kind, "processes": processes,
           **{name: summary[name] for name in keep}}  # fmt: skip
    print(f"[ddp] {row}", flush=True)
    return row


def section(
    rows: list[dict[str, Any]], recs: list[dict[str, Any]], epochs: int, minutes: float
) -> str:
    lines = [
        "## Training with torchrun (`make bench-ddp`)",
        "",
        f"`python benchmarks/distributed.py --out docs` on {machine()}, {minutes:.1f} min. "
        f"ml-100k, default configs, seed 0, {epochs} epochs; 1 process with 2 threads against "
        "`torchrun --standalone --nproc_per_node 2` (gloo, one thread each) at the same global "
        "batch. *s/epoch*: training time per epoch (median; validation not counted). Peak "
        "memory is each process's resident set.",
        "",
        "| model | processes | s/epoch | × 1 process | valid NDCG@10 after the last epoch "
        "| last epoch's loss | peak MB per process |",
        "|---|---|---|---|---|---|---|",
    ]
    base = {r["kind"]: r["epoch_s"] for r in rows if r["processes"] == 1}
    for r in rows:
        peaks = " / ".join(f"{p:.0f}" for p in r["peak_mb"])
        lines.append(
            f"| {r['model']} | {r['processes']} | {r['epoch_s']:.1f} | "
            f"{r['epoch_s'] / base[r['kind']]:.2f} | {r['valid_ndcg@10']:.4f} | "
            f"{r['loss']:.4f} | {peaks} |"
        )
    lines += [
        "",
        "`genrec recommend --model-dir DIR --all-users --out recs.parquet` with the 1-process "
        "model: the top 10 of every user (history excluded), written to Parquet; 1 process with "
        "2 threads against 2 processes with one thread each (each writes its part).",
        "",
        "| model | processes | users | seconds | users/s | × 1 process |",
        "|---|---|---|---|---|---|",
    ]
    rate = {r["kind"]: r["users_per_second"] for r in recs if r["processes"] == 1}
    for r in recs:
        lines.append(
            f"| {r['model']} | {r['processes']} | {r['users']} | {r['seconds']:.2f} | "
            f"{r['users_per_second']:.0f} | {r['users_per_second'] / rate[r['kind']]:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--kinds", nargs="+", default=list(LABELS))
    args = parser.parse_args()
    started = time.perf_counter()
    rows, recs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds:
            for processes in (1, 2):
                rows.append(run(kind, processes, args.epochs, Path(tmp)))
            for processes in (1, 2):
                recs.append(infer(kind, processes, Path(tmp)))
    minutes = (time.perf_counter() - started) / 60
    write_json(rows + [{**r, "task": "recommend --all-users"} for r in recs],
               args.out / "benchmarks.json", "ddp")  # fmt: skip
    text = section(rows, recs, args.epochs, minutes)
    replace_block(args.out / "benchmarks.md", "ddp", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
