"""Batch inference for every user: one Parquet file, or one part per torchrun process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

import genrec
from genrec.cli import main
from genrec.inference import recommend_all


def test_every_user_gets_their_top_k_in_one_file(model, tmp_path):
    out = recommend_all(model, tmp_path / "recs.parquet", k=3, batch_size=7, progress=False)
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["user", "rank", "item", "score", "title"]
    assert sorted(frame["user"].unique()) == sorted(str(u) for u in model.histories)
    assert all(ranks == [1, 2, 3] for ranks in frame.groupby("user")["rank"].apply(list))
    catalog = model.require_catalog()
    titles = dict(zip(map(str, catalog.item_ids), catalog.items["title"], strict=True))
    assert (frame["title"] == frame["item"].map(titles)).all()
    for user, rows in frame.groupby("user"):
        seen = {str(catalog.item_ids[i]) for i in model.histories[user]}
        assert not seen & set(rows["item"])  # seen items excluded, as in recommend()
        assert rows["score"].is_monotonic_decreasing
    one = model.recommend(user="u0", k=3)
    assert list(frame[frame["user"] == "u0"]["item"]) == [r.item_id for r in one]


def test_seen_items_can_be_included(model, tmp_path):
    out = recommend_all(model, tmp_path / "r.parquet", k=2, exclude_seen=False, progress=False)
    assert len(pd.read_parquet(out)) == 2 * len(model.histories)


def test_bad_arguments_are_named(model, tmp_path):
    with pytest.raises(ValueError, match="k must be at least 1"):
        recommend_all(model, tmp_path / "r.parquet", k=0)
    with pytest.raises(ValueError, match="batch_size"):
        recommend_all(model, tmp_path / "r.parquet", batch_size=0)
    assert not (tmp_path / "r.parquet").exists()


def test_cli_all_users(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "recs.parquet"
    args = ["recommend", "--model-dir", str(tiny_model_dir), "--all-users", "-k", "2"]
    assert main([*args, "--out", str(out), "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["users"] == pd.read_parquet(out)["user"].nunique()
    assert summary["processes"] == 1 and summary["users_per_second"] > 0
    assert main(args) == 2
    assert "--out" in capsys.readouterr().err
    assert main([*args, "--out", str(out), "--user", "u0"]) == 2
    assert "drop --user" in capsys.readouterr().err


@pytest.mark.slow
def test_two_processes_write_the_same_rows_in_two_parts(tiny_model_dir, tmp_path):
    single = recommend_all(genrec.load(tiny_model_dir), tmp_path / "one.parquet", k=3)
    folder = tmp_path / "parts"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "genrec", "recommend", "--model-dir", str(tiny_model_dir), "--all-users",
           "-k", "3", "--out", str(folder), "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in folder.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    key = ["user", "rank"]
    both = pd.read_parquet(folder).sort_values(key).reset_index(drop=True)
    one = pd.read_parquet(single).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(both[key + ["item", "title"]], one[key + ["item", "title"]])
    assert both["score"].to_numpy() == pytest.approx(one["score"].to_numpy(), abs=1e-5)
