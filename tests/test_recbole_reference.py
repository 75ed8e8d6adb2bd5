"""benchmarks/recbole_reference.py: the RecBole atomic file and the report block (RecBole itself
is not installed here; `make bench-recbole` runs it in its own environment)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from genrec.data.builtin import ml100k_files

from harness import read_block

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "recbole_reference.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("recbole_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_writes_every_interaction_in_file_order_with_recbole_headers(
    script: ModuleType, tmp_path: Path
) -> None:
    path = script.export(tmp_path)
    assert path == tmp_path / "ml-100k" / "ml-100k.inter"
    table = pd.read_csv(path, sep="\t")
    assert list(table.columns) == [
        "user_id:token",
        "item_id:token",
        "rating:float",
        "timestamp:float",
    ]
    raw = pd.read_parquet(ml100k_files()["data"])
    assert len(table) == len(raw) == 100_000
    # File order matters: RecBole breaks timestamp ties by it, as genrec's split does.
    assert table["user_id:token"].tolist() == raw["user_id"].tolist()
    assert table["item_id:token"].tolist() == raw["movie_id"].tolist()
    assert table["timestamp:float"].tolist() == raw["timestamp"].tolist()


def _run(seed: int, ndcg: float) -> dict[str, object]:
    metrics = {"ndcg@10": ndcg, "recall@10": 0.13, "ndcg@5": 0.04, "recall@5": 0.07, "mrr@10": 0.04}
    return {
        "seed": seed,
        "epochs": 20,
        "best_epoch": 9,
        "train_seconds": 100.0,
        "valid": metrics,
        "test": metrics,
    }


def test_report_lists_each_seed_their_mean_and_our_row(script: ModuleType, tmp_path: Path) -> None:
    results = {
        "recbole": "1.2.1",
        "machine": "test machine",
        "runs": [_run(0, 0.0600), _run(1, 0.0620), {**_run(2020, 0.0640), "threads": 2}],
    }
    (tmp_path / "recbole_reference.json").write_text(json.dumps(results))
    ours = {
        "group": "recbole",
        "kind": "sasrec",
        "protocol": {"seeds": [0, 1, 2]},
        "ndcg@10": 0.0595,
        "ndcg@10_std": 0.0008,
        "recall@10": 0.1372,
        "ndcg@5": 0.0367,
        "mrr@10": 0.0364,
    }
    (tmp_path / "benchmarks.json").write_text(json.dumps([{"group": "default"}, ours]))
    (tmp_path / "benchmarks.md").write_text("# Benchmarks\n\nearlier text\n")

    script.report(tmp_path / "recbole_reference.json", tmp_path)

    text = (tmp_path / "benchmarks.md").read_text()
    assert text.startswith("# Benchmarks\n\nearlier text\n")
    block = read_block(tmp_path / "benchmarks.md", "recbole")
    assert block is not None
    assert "| rerun, seed 0 | — | 9 | 0.0600 | 0.0600 |" in block  # threads not recorded
    assert "| rerun, seed 1 | — | 9 | 0.0620 | 0.0620 |" in block
    assert "| rerun, seed 2020 | 2 | 9 | 0.0640 | 0.0640 |" in block
    assert "mean ± std of 3 seeds | — | — | — | 0.0620 ± 0.0020 |" in block
    # RecBole's mean over the seeds genrec's row used (0, 1 and 2; seed 2 is not rerun here)
    assert "mean ± std of seeds 0/1 (genrec's seeds) | — | — | — | 0.0610 ± 0.0014 |" in block
    assert "| ANCHORS.md, seed 2020 | — | 18 | 0.0719 | 0.0640 |" in block
    assert "training took 2 min per seed" in block  # 100 s in every run
    assert "0.0595 ± 0.0008" in block

    # Rewriting replaces the block instead of appending a second one.
    script.report(tmp_path / "recbole_reference.json", tmp_path)
    assert (tmp_path / "benchmarks.md").read_text().count("RecBole itself, rerun here") == 1


def test_record_run_keeps_seeds_another_process_wrote_meanwhile(
    script: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "recbole.json"
    # Two processes start from the same (empty) file, one per seed.
    first: dict[str, object] = {"recbole": "1.2.1"}
    second: dict[str, object] = {"recbole": "1.2.1"}
    script.record_run(out, first, {"seed": 1, "test": {"ndcg@10": 0.06}})
    script.record_run(out, second, {"seed": 2, "test": {"ndcg@10": 0.07}})
    assert [r["seed"] for r in json.loads(out.read_text())["runs"]] == [1, 2]
    # Running a seed again replaces its entry.
    script.record_run(out, second, {"seed": 1, "test": {"ndcg@10": 0.05}})
    runs = json.loads(out.read_text())["runs"]
    assert [(r["seed"], r["test"]["ndcg@10"]) for r in runs] == [(1, 0.05), (2, 0.07)]
