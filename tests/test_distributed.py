"""Training under torchrun: 2 CPU processes (gloo) take the same steps as 1 process at the same
global batch.

Dropout is off in these configs: with dropout each process draws its own masks, so no two runs
with different process counts could take the same steps. Without it the only difference left is
the order of float additions (DDP sums two half-batch gradients where one process sums the whole
batch at once), a relative error near 1e-7 per step that Adam carries on. The tolerances below
(losses within 1e-4 relative, validation NDCG@10 within 1e-3) allow that drift over 3 epochs and
nothing more: a wrong scaling of the shares, a rank training on the other's rows, or ranks out
of step give differences of 1e-2 and above.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genrec.cli import main as genrec_main
from genrec.distributed import Sharding, current, launched

from synthetic import free_port

SASREC = """hidden_size = 16
num_layers = 1
num_heads = 1
inner_size = 32
dropout = 0.0
attn_dropout = 0.0
max_len = 8
window_stride = 4
batch_size = 16
max_epochs = 3
patience = 10
"""
GENERATIVE = """codebook_sizes = [4, 4]
hidden_size = 16
num_layers = 1
num_heads = 1
inner_size = 32
dropout = 0.0
attn_dropout = 0.0
max_len = 8
window_stride = 4
batch_size = 16
max_epochs = 3
patience = 10
eval_every = 1
dense_weight = 0.5
parallel_codes = 4
parallel_codebook_size = 4
"""


def write_log(folder: Path, users: int = 60, seed: int = 0) -> list[str]:
    """Three taste groups of 12 items; each user reads 9 of their group's items in order."""
    rng = np.random.default_rng(seed)
    rows, items = ["user,item,ts"], ["item,title,genres"]
    for genre in ("Alpha", "Beta", "Gamma"):
        items += [f"{genre[0]}{i},{genre} story {i},{genre}" for i in range(12)]
    for u in range(users):
        genre = ("A", "B", "G")[u % 3]
        for t, i in enumerate(rng.permutation(12)[:9]):
            rows.append(f"u{u},{genre}{i},{t}")
    (folder / "log.csv").write_text("\n".join(rows) + "\n")
    (folder / "items.csv").write_text("\n".join(items) + "\n")
    return ["--data", str(folder / "log.csv"), "--catalog", str(folder / "items.csv")]


def train(
    tmp_path: Path, kind: str, processes: int, extra: list[str], *, resume_after: int = 0
) -> dict:
    """Train in ``processes`` processes; with ``resume_after``, stop after that many epochs and
    resume the run with --resume."""
    out = tmp_path / f"{kind}-{processes}"
    config = tmp_path / f"{kind}.toml"
    text = SASREC if kind == "sasrec" else GENERATIVE
    if resume_after:
        config.write_text(text.replace("max_epochs = 3", f"max_epochs = {resume_after}"))
        run(config, out, kind, processes, extra)
        extra = [*extra, "--resume"]
    config.write_text(text)
    return run(config, out, kind, processes, extra)


def genrec_train(config: Path, out: Path, kind: str, extra: list[str]) -> list[str]:
    """The ``-m genrec train ...`` every run here passes (after the launcher's own flags)."""
    return ["-m", "genrec", "train", "--model", kind, *extra, "--config", str(config),
            "--out", str(out), "--quiet"]  # fmt: skip


def run_env(**more: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **more}


def run(config: Path, out: Path, kind: str, processes: int, extra: list[str]) -> dict:
    launcher = [sys.executable]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    f"--nproc_per_node={processes}"]  # fmt: skip
    cmd = [*launcher, *genrec_train(config, out, kind, extra)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=run_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "genrec.json").read_text())["fit_info"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sasrec", "generative"])
def test_two_processes_take_the_steps_of_one(tmp_path, kind):
    extra = write_log(tmp_path)
    one = train(tmp_path, kind, 1, extra)
    two = train(tmp_path, kind, 2, extra)
    assert (one["processes"], two["processes"]) == (1, 2)
    if kind == "generative":  # with the parallel-code loss, its codes from rank 0
        assert one["parallel_codes"] == two["parallel_codes"]
        assert two["parallel_codes"]["codebooks"] == 4
    assert len(two["memory_per_process"]) == 2
    assert all(m["cpu_peak_mb"] > 0 for m in two["memory_per_process"])
    assert [c["epoch"] for c in one["curve"]] == [c["epoch"] for c in two["curve"]] == [1, 2, 3]
    for a, b in zip(one["curve"], two["curve"], strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
        assert b["valid_ndcg@10"] == pytest.approx(a["valid_ndcg@10"], abs=1e-3)
    # The losses moved: the test compares training, not two untouched initialisations.
    assert one["curve"][-1]["loss"] < one["curve"][0]["loss"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sasrec", "generative"])
def test_two_processes_resume_from_the_checkpoint_of_rank_0(tmp_path, kind):
    extra = write_log(tmp_path)
    resumed = train(tmp_path, kind, 2, extra, resume_after=2)
    assert resumed["processes"] == 2
    assert [c["epoch"] for c in resumed["curve"]] == [1, 2, 3]
    assert (tmp_path / f"{kind}-2" / "checkpoint" / "loop_state.json").is_file()
    saved = json.loads((tmp_path / f"{kind}-2" / "checkpoint" / "loop_state.json").read_text())
    assert saved["epoch"] == 3


def run_two_nodes(tmp_path: Path, config: Path, extra: list[str], flags: list[str]) -> list[Path]:
    """One torchrun agent per "node" (one process each) meeting at a c10d rendezvous on
    loopback, as on two machines: each node has its own output folder and vector cache, so
    nothing passes through a shared disk. Returns the output folders, node 0's first."""
    endpoint = f"127.0.0.1:{free_port()}"
    outs = [tmp_path / f"node{n}" / "out" for n in range(2)]
    agents = []
    for out in outs:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2",
               "--nproc_per_node=1", "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}",
               "--rdzv-id=genrec-test",
               *genrec_train(config, out, "generative", [*extra, *flags])]  # fmt: skip
        env = run_env(GENREC_CACHE=str(out.parent / "cache"))
        agents.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True))  # fmt: skip
    try:
        for agent in agents:  # ranks out of step would wait on each other: a time limit
            _, err = agent.communicate(timeout=300)
            assert agent.returncode == 0, err[-3000:]
    finally:
        for agent in agents:
            agent.kill()
    return outs


@pytest.mark.slow
def test_two_nodes_take_the_steps_of_one_and_resume_from_rank_0(tmp_path):
    extra = write_log(tmp_path)
    one = train(tmp_path, "generative", 1, extra)
    config = tmp_path / "nodes.toml"
    config.write_text(GENERATIVE)
    node0, node1 = run_two_nodes(tmp_path, config, extra, [])
    two = json.loads((node0 / "genrec.json").read_text())["fit_info"]
    assert two["processes"] == 2
    assert not (node1 / "genrec.json").exists()  # rank 0 alone writes the model
    for a, b in zip(one["curve"], two["curve"], strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
        assert b["valid_ndcg@10"] == pytest.approx(a["valid_ndcg@10"], abs=1e-3)
    # The 36 texts make one part, encoded by rank 0; node 1's cache stays empty, so it trained
    # on the vectors rank 0 sent (reading its own store, it would have found none).
    parts = [len(list((n.parent / "cache").rglob("part-*.npz"))) for n in (node0, node1)]
    assert parts == [1, 0]

    # Interrupted after 2 epochs, then resumed: the checkpoint exists on node 0 only.
    config.write_text(GENERATIVE.replace("max_epochs = 3", "max_epochs = 2"))
    short0, short1 = run_two_nodes(tmp_path / "resume", config, extra, [])
    assert not (short1 / "checkpoint").exists()
    config.write_text(GENERATIVE)
    run_two_nodes(tmp_path / "resume", config, extra, ["--resume"])
    resumed = json.loads((short0 / "genrec.json").read_text())["fit_info"]
    assert [c["epoch"] for c in resumed["curve"]] == [1, 2, 3]
    for a, b in zip(two["curve"][:2], resumed["curve"][:2], strict=True):
        assert (b["loss"], b["valid_ndcg@10"]) == (a["loss"], a["valid_ndcg@10"])


@pytest.mark.slow
def test_accumulation_takes_the_same_steps(tmp_path):
    extra = write_log(tmp_path)
    one = train(tmp_path, "sasrec", 1, extra)
    (tmp_path / "acc.toml").write_text(SASREC + "accumulate = 4\n")
    acc = run(tmp_path / "acc.toml", tmp_path / "acc", "sasrec", 1, extra)
    for a, b in zip(one["curve"], acc["curve"], strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
        assert b["valid_ndcg@10"] == pytest.approx(a["valid_ndcg@10"], abs=1e-3)


def test_one_process_without_torchrun(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert not launched()
    sharding = current()
    assert (sharding.rank, sharding.world, sharding.main, sharding.active) == (0, 1, True, False)
    assert sharding.all_reduce_sum([1.5, 2.0]) == [1.5, 2.0]
    assert sharding.broadcast("x") == "x"


def test_shares_cover_a_batch_once():
    shares = [Sharding(rank=r, world=3).share(10) for r in range(3)]
    assert sorted(torch.cat(shares).tolist()) == list(range(10))
    assert [len(s) for s in shares] == [4, 3, 3]


def test_bf16_autocast_trains(tmp_path):
    extra = write_log(tmp_path)
    (tmp_path / "bf16.toml").write_text(SASREC + 'precision = "bf16"\n')
    out = tmp_path / "bf16"
    args = ["train", "--model", "sasrec", *extra, "--config", str(tmp_path / "bf16.toml")]
    assert genrec_main([*args, "--out", str(out), "--quiet"]) == 0
    curve = json.loads((out / "genrec.json").read_text())["fit_info"]["curve"]
    assert curve[-1]["loss"] < curve[0]["loss"]
    assert all(np.isfinite(c["loss"]) for c in curve)


def test_unknown_precision_is_named(tmp_path, capsys):
    extra = write_log(tmp_path)
    (tmp_path / "bad.toml").write_text('precision = "fp8"\n')
    args = ["train", "--model", "sasrec", *extra, "--config", str(tmp_path / "bad.toml")]
    assert genrec_main([*args, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "precision must be 'fp32' or 'bf16'" in capsys.readouterr().err
