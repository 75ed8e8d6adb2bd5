"""`make bench-gpu`: what one GPU buys, in one script that finishes within 8 minutes.

1. Training examples per second on the full ml-100k (seed 0, default configs on the GPU):
   SASRec-CE and the generative model (2 epochs; the second epoch's windows' targets per
   second), the LLM backbone (SmolLM2-135M with LoRA, every training position, bf16, capped at
   ``--llm-seconds``).
2. Decode latency of the generative model on the GPU at 10k, 100k and 1M synthetic items
   (benchmarks/scale.py's catalogs: given vectors, one training epoch): single request
   median / p95 and batch-64 throughput.

Without a CUDA device it stops at once with exit status 2 and says so; the test suite never
needs it. Parts that would pass the deadline (``--budget`` seconds) are skipped and listed.

Usage: python benchmarks/gpu.py --out docs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

from genrec.data import load_builtin
from genrec.models import model_class
from scale import LABELS, latency, synthetic_dataset

from harness import machine, replace_block, write_json


def gpu_name() -> str:
    memory = torch.cuda.get_device_properties(0).total_memory / 2**30
    return f"{torch.cuda.get_device_name(0)} ({memory:.0f} GiB)"


def training_rate(kind: str, llm_seconds: float) -> dict[str, Any]:
    data = load_builtin("ml-100k")
    klass = model_class(kind)
    if kind == "llm":
        config = klass.config_class(max_examples=0, epochs=1, max_train_seconds=llm_seconds)
    else:
        config = klass.config_class(max_epochs=2, patience=3, eval_every=1)
    torch.cuda.reset_peak_memory_stats()
    model = klass(config).fit(data, seed=0)
    info: dict[str, Any] = model.fit_info
    if kind == "llm":
        examples, seconds = info["examples_seen"], info["train_seconds"]
    else:
        curve = info["curve"]
        seconds = curve[-1]["seconds"] - curve[-2]["seconds"]
        examples = info["train_targets"]
    row = {"part": "training", "model": {"llm": "LLM backbone (LoRA)", **LABELS}[kind],
           "kind": kind, "examples": examples, "seconds": seconds,
           "examples_per_second": examples / seconds,
           "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20}  # fmt: skip
    print(f"[gpu] {row}", flush=True)
    return row


def decoding(n: int, users: int) -> dict[str, Any]:
    data = synthetic_dataset(n, users)
    config = model_class("generative").config_class(max_epochs=1, vectors_column="vec")
    started = time.perf_counter()
    model: Any = model_class("generative")(config).fit(data, seed=0)
    fit_s = time.perf_counter() - started
    histories = list(model.histories.values())
    row = {"part": "decoding", "model": LABELS["generative"], "items": n, "fit_s": fit_s,
           "index_s": model.fit_info.get("index_seconds"), "device": str(model.device),
           **latency(model, histories, 200)}  # fmt: skip
    print(f"[gpu] {row}", flush=True)
    return row


def section(rows: list[dict[str, Any]], skipped: list[str], minutes: float) -> str:
    lines = [
        "## One GPU (`make bench-gpu`)",
        "",
        f"`python benchmarks/gpu.py --out docs` on {gpu_name()}, host {machine()}, "
        f"{minutes:.1f} min. Training: examples (target positions) per second on the full "
        "ml-100k, default configs; decoding: the generative model on synthetic catalogs "
        "(see bench-scale), top 10, history excluded.",
        "",
        "| part | model | items | examples/s | single ms (median / p95) | batch-64 users/s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["part"] == "training":
            lines.append(f"| training | {r['model']} | 1,682 | {r['examples_per_second']:,.0f} "
                         "| — | — |")  # fmt: skip
        else:
            lines.append(f"| decoding | {r['model']} | {r['items']:,} | — | "
                         f"{r['single_ms_median']:.1f} / {r['single_ms_p95']:.1f} | "
                         f"{r['batch64_per_s']:,.0f} |")  # fmt: skip
    if skipped:
        lines += ["", f"Skipped to stay within the time budget: {', '.join(skipped)}."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for everything")
    parser.add_argument("--llm-seconds", type=float, default=90.0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        message = ("bench-gpu needs a CUDA GPU and none is visible (torch.cuda.is_available() "
                   "is False); run it on a GPU machine. The tests never need it.")  # fmt: skip
        print(message, file=sys.stderr)
        return 2
    started = time.perf_counter()
    # (name, expected seconds, job): a part starts only if it should end within the budget
    parts: list[tuple[str, float, Any]] = [
        ("SASRec-CE training", 30, lambda: training_rate("sasrec", args.llm_seconds)),
        ("generative training", 60, lambda: training_rate("generative", args.llm_seconds)),
        ("LLM training", args.llm_seconds + 40, lambda: training_rate("llm", args.llm_seconds)),
        *[(f"decoding at {n:,} items", 20 + n / 4000, lambda n=n: decoding(n, 2000))
          for n in args.sizes],
    ]  # fmt: skip
    rows, skipped = [], []
    for name, expected, job in parts:
        if time.perf_counter() - started + expected > args.budget:
            skipped.append(name)
            continue
        rows.append(job())
    minutes = (time.perf_counter() - started) / 60
    write_json(rows, args.out / "benchmarks.json", "gpu")
    replace_block(args.out / "benchmarks.md", "gpu", section(rows, skipped, minutes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
