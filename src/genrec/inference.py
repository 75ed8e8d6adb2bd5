"""Batch inference: the top k for every known user, written to Parquet as it goes.

One process writes one file. Under torchrun each rank takes every ``world``-th user and writes
its own part, ``OUT/part-00000.parquet`` ... (a partitioned folder that pandas, pyarrow, Spark
and DuckDB read as one table). Rows come out in batches, so memory stays flat with the number of
users; a part appears under its final name only once it is complete.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from genrec import distributed
from genrec.recommender import Recommender

SCHEMA = pa.schema([
    ("user", pa.string()), ("rank", pa.int32()), ("item", pa.string()),
    ("score", pa.float32()), ("title", pa.string()),
])  # fmt: skip


def recommend_all(
    model: Recommender,
    out: str | Path,
    *,
    k: int = 10,
    batch_size: int = 256,
    exclude_seen: bool = True,
    progress: bool = True,
) -> Path:
    """Write (user, rank, item, score, title) for every user the model knows; returns the file,
    or under torchrun the folder of parts. Rank 1 is the best item; a user with fewer than ``k``
    eligible items gets fewer rows."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    catalog = model.require_catalog()
    item_ids = np.asarray([str(i) for i in catalog.item_ids], dtype=object)
    titles = np.asarray([str(t) for t in catalog.items["title"]], dtype=object)
    sharding = distributed.current()
    users = list(model.histories)[sharding.rank :: sharding.world]
    out = Path(out)
    if sharding.active:
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"part-{sharding.rank:05d}.parquet"
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        target = out
    tmp = target.with_name(f".{target.name}.tmp")
    bar = tqdm(total=len(users), unit="user", desc="recommend",
               disable=not (progress and sharding.main))  # fmt: skip
    with pq.ParquetWriter(tmp, SCHEMA) as writer:
        for begin in range(0, len(users), batch_size):
            chunk = users[begin : begin + batch_size]
            idx, scores = model.recommend_indices(
                [model.histories[u] for u in chunk], k, exclude_seen=exclude_seen
            )  # [B, k'] each
            found = idx >= 0
            rows, ranks = np.nonzero(found)
            picked = idx[found]
            names = np.asarray([str(u) for u in chunk], dtype=object)
            table = pa.table(
                {
                    "user": pa.array(names[rows], pa.string()),
                    "rank": pa.array(ranks + 1, pa.int32()),
                    "item": pa.array(item_ids[picked], pa.string()),
                    "score": pa.array(scores[found].astype(np.float32), pa.float32()),
                    "title": pa.array(titles[picked], pa.string()),
                },
                schema=SCHEMA,
            )
            writer.write_table(table)
            bar.update(len(chunk))
    bar.close()
    tmp.replace(target)
    sharding.barrier()  # the folder is complete when any rank returns
    return out
