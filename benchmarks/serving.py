"""`make bench-serve` (and the last part of `make bench`): the HTTP service under load.

Starts `genrec serve` as a real server process and drives it from another process over loopback
(benchmarks/loadgen.py):
- recommendation latency and throughput at 1, 8 and 32 concurrent clients, against the same
  model's in-process batched throughput measured in this run;
- feedback ingestion on SQLite and PostgreSQL, with every acknowledged event counted afterwards;
- a kill test: `kill -9` during a feedback burst, restart, and check every 2xx event is stored;
- latency while online learning (--learn-every) fine-tunes beside the server, against the same
  server without a fine-tune.

Writes a section of docs/benchmarks.md (between serving markers) and the "serving" rows of
docs/benchmarks.json. PostgreSQL comes from GENREC_BENCH_POSTGRES_URL or
GENREC_TEST_POSTGRES_URL (scripts/ci-services.sh prints one); without it those rows say so.

Usage: python benchmarks/serving.py --out docs [--model-dir DIR] [--seconds 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from genrec.e5 import set_process_precision
from genrec.indexing import E5Encoder
from genrec.serving.service import LoadedModel, Query
from genrec.store.database import FeedbackStore

from harness import SERVICE_PRECISION, encoding_ms, machine, replace_block, write_json
from loadgen import recommend_body

KEY = "bench-key-" + "0" * 16
HERE = Path(__file__).resolve().parent
LOADGEN = HERE / "loadgen.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`genrec serve` in a child process."""

    def __init__(self, model_dir: Path, db: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "genrec.cli", "serve", "--model-dir", str(model_dir),
             "--db", db, "--port", str(self.port), "--no-access-log", "--log-level", "warning"],
            env={**os.environ, "GENREC_API_KEYS": KEY, **env},
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.wait_ready()

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Until /readyz answers 200 twenty times in a row (new connections each time, so with
        several workers it is every worker that is ready, not just the first)."""
        deadline = time.monotonic() + timeout
        streak = 0
        while time.monotonic() < deadline and streak < 20:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}; see {self.log.name}"
                )
            try:
                ok = httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                ok = False
            streak = streak + 1 if ok else 0
            time.sleep(0.05 if ok else 0.25)
        if streak >= 20:
            return
        raise RuntimeError(f"server not ready in {timeout:.0f} s; see {self.log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()


@contextmanager
def serving(model_dir: Path, db: str, log_path: Path, **env: str) -> Iterator[Server]:
    server = Server(model_dir, db, log_path, **env)
    try:
        yield server
    finally:
        server.stop()


def loadgen_argv(mode: str, url: str, concurrency: int, seconds: float, users: str,
                 **extra: Any) -> list[str]:  # fmt: skip
    """The command line of one benchmarks/loadgen.py run; ``extra`` are its other flags."""
    argv = [sys.executable, str(LOADGEN), mode, url, "--concurrency", str(concurrency),
            "--seconds", str(seconds), "--users", users]  # fmt: skip
    for key, value in extra.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def loadgen(mode: str, url: str, concurrency: int, seconds: float, users: str, **extra: Any
            ) -> dict[str, Any]:  # fmt: skip
    argv = loadgen_argv(mode, url, concurrency, seconds, users, **extra)
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out))


# ----------------------------------------------------------------------------- in process
def in_process(model_dir: Path, users: list[str]) -> dict[str, float]:
    """The service's own answer() path without HTTP: one query, and batches of 64."""
    loaded = LoadedModel.load(model_dir)
    rng = random.Random(0)
    single = []
    for _ in range(200):
        query = [Query(user_id=rng.choice(users), k=10)]
        started = time.perf_counter()
        loaded.answer(query)
        single.append(time.perf_counter() - started)
    batched = []
    for _ in range(20):
        queries = [Query(user_id=rng.choice(users), k=10) for _ in range(64)]
        started = time.perf_counter()
        loaded.answer(queries)
        batched.append(time.perf_counter() - started)
    return {
        "single_median_ms": float(np.median(single) * 1000),
        "batch64_median_ms": float(np.median(batched) * 1000),
        "batch64_rps": 64 / float(np.median(batched)),
        **new_texts(loaded, users),
    }


def new_texts(loaded: LoadedModel, users: list[str]) -> dict[str, float]:
    """What a request text never seen before costs: the encoder alone per text, one at a time
    and in batches of 8 and 32, and answer() on batches of 8 such requests, with how many
    texts the encoder is asked for per request (the request's text, shared by the parser and
    the learned conditioning, and Chinese pieces not seen before)."""
    rng = random.Random(1)
    encoder = loaded.model.text_encoder()
    out: dict[str, float] = {}
    for precision in ("float32", SERVICE_PRECISION):
        timed = E5Encoder(precision=precision)
        for size in (1, 8, 32):
            groups = [
                [recommend_body(rng, users, "unique")["request"] for _ in range(size)]
                for _ in range(max(4, 64 // size))
            ]
            per_text = encoding_ms(timed.encode_requests, groups)
            out[f"encode{size}_ms_per_text_{precision}"] = float(np.median(per_text))
    cache = getattr(encoder, "_cache", None)  # E5Encoder's LRU of request vectors
    before = len(cache) if cache is not None else 0
    batches = []
    for _ in range(12):
        bodies = [recommend_body(rng, users, "unique") for _ in range(8)]
        queries = [Query(user_id=b["user_id"], k=10, request=b["request"]) for b in bodies]
        started = time.perf_counter()
        loaded.answer(queries)
        batches.append(time.perf_counter() - started)
    if cache is not None:  # 96 requests: far fewer new texts than the cache holds
        out["encoded_per_request"] = (len(cache) - before) / (12 * 8)
    out["unique8_rps"] = 8 / float(np.median(batches))
    return out


# ------------------------------------------------------------------------------- feedback
def stored_keys(db: str) -> set[str]:
    with FeedbackStore(db) as store:
        frame = store.feedback_frame()
    return {str(k) for k in frame["idempotency_key"].dropna()}


def acked_keys(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {line.strip() for line in path.read_text().splitlines() if len(line.strip()) == 32}


def ingestion(model_dir: Path, db: str, tmp: Path, users: str, seconds: float) -> dict[str, Any]:
    keys = tmp / f"acked-{uuid.uuid4().hex}.txt"
    with serving(model_dir, db, tmp / "server.log") as server:
        result = loadgen("feedback", server.url, 32, seconds, users, key=KEY, keys_out=keys)
    acked = acked_keys(keys)
    present = acked & stored_keys(db)
    return {**result, "acked": len(acked), "acked_present": len(present),
            "acked_missing": len(acked) - len(present)}  # fmt: skip


def kill_test(model_dir: Path, db: str, tmp: Path, users: str, kill_after: float
              ) -> dict[str, Any]:  # fmt: skip
    """kill -9 the server during a 32-client feedback burst; restart; count acked events."""
    keys = tmp / f"kill-{uuid.uuid4().hex}.txt"
    server = Server(model_dir, db, tmp / "server.log")
    argv = loadgen_argv("feedback", server.url, 32, kill_after + 4, users, warmup=0, key=KEY,
                        keys_out=keys)  # fmt: skip
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    time.sleep(kill_after)
    server.kill9()
    client_out, _ = client.communicate(timeout=120)
    burst = json.loads(client_out)
    restart_started = time.perf_counter()
    with serving(model_dir, db, tmp / "server.log"):
        restart_s = time.perf_counter() - restart_started
    acked = acked_keys(keys)
    stored = stored_keys(db)
    return {
        "acked_before_kill": len(acked),
        "acked_present_after_restart": len(acked & stored),
        "acked_missing": len(acked - stored),
        "failed_requests_after_kill": burst["failed"],
        "restart_to_ready_s": restart_s,
    }


def _cmdline(pid: str) -> list[bytes]:
    try:
        return (Path("/proc") / pid / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def finetune_children() -> list[int]:
    """Pids of running online fine-tunes: the processes a `genrec serve` spawned with
    multiprocessing (genrec.serving.online)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not any(b"spawn_main" in a for a in _cmdline(entry.name)):
            continue
        try:
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        argv = _cmdline(parent)
        if b"genrec.cli" in argv and b"serve" in argv:
            pids.append(int(entry.name))
    return pids


def serving_while_learning(root: Path, tmp: Path, users: list[str], seconds: float
                           ) -> dict[str, Any]:  # fmt: skip
    """8-client recommendation load on a server started with --learn-every: first with no
    fine-tune running, then while the fine-tune it starts on the feedback runs (a child process
    at nice 10 with one thread), side by side on the same server."""
    models = tmp / "learn-models"
    shutil.copytree(root, models)
    db = f"sqlite:///{tmp / 'learn.sqlite3'}"
    every = 400
    env = {"GENREC_LEARN_EVERY": str(every), "GENREC_LEARN_CHECK_SECONDS": "0.5"}
    joined = ",".join(users)
    with serving(models, db, tmp / "server.log", **env) as server:
        quiet = loadgen("recommend", server.url, 8, seconds, joined, warmup=2)
        # Feedback that starts a fine-tune: a like on 4 items of a list served to each user.
        auth = {"Authorization": f"Bearer {KEY}"}
        posted = 0
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for user in users:
                served = http.post("/v1/recommendations", json={"user_id": user}).json()
                for item in served["items"][:4]:
                    event = {"user_id": user, "item_id": item["item_id"], "event": "like",
                             "recommendation_id": served["recommendation_id"]}  # fmt: skip
                    http.post("/v1/feedback", json=event, headers=auth).raise_for_status()
                    posted += 1
                if posted >= every:
                    break
        deadline = time.monotonic() + 60
        while not finetune_children() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not finetune_children():
            raise RuntimeError(f"no fine-tune started after {posted} events; see server.log")
        started = time.monotonic()
        busy = loadgen("recommend", server.url, 8, seconds, joined, warmup=0)
        overlapped = bool(finetune_children())  # the whole window ran beside the fine-tune
        while finetune_children() and time.monotonic() < started + 900:
            time.sleep(0.5)
        finetune_s = time.monotonic() - started
        time.sleep(2)  # the learner's reload
        version = httpx.get(f"{server.url}/readyz").json().get("model_version")
    written = sorted(p for p in models.iterdir() if p.name.startswith("v") and p.name != "v0001")
    guard = "no new version written"
    if written:
        meta = json.loads((written[-1] / "genrec.json").read_text())
        guard = meta["fit_info"]["lineage"]["promotion"]["reason"]
    return {"quiet": quiet, "busy": busy, "overlapped": overlapped, "events": posted,
            "finetune_s": finetune_s, "version_after": version, "guard": guard}  # fmt: skip


def fresh_postgres(base: str) -> str | None:
    """A new empty database on the server of ``base`` (None if unreachable)."""
    import psycopg

    name = f"genrec_bench_{uuid.uuid4().hex[:10]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"[serve-bench] PostgreSQL unavailable: {str(exc).splitlines()[0]}", flush=True)
        return None
    head, _, _ = plain.rpartition("/")
    return f"{head}/{name}"


# ------------------------------------------------------------------------------ model
def bench_model(model_dir: str | None, tmp: Path) -> tuple[Path, str]:
    """A folder of versions with the model to serve; trains one if none is given."""
    root = tmp / "models"
    if model_dir:
        shutil.copytree(model_dir, root / "v0001")
        return root, f"the model in {model_dir}"
    from genrec.data import load_builtin
    from genrec.data.split import leave_one_out
    from genrec.generative.recommender import GenerativeConfig, GenerativeRecommender

    dataset = load_builtin("ml-100k")
    config = GenerativeConfig(max_epochs=2, eval_every=2)
    print("[serve-bench] training a generative model (default architecture, 2 epochs)", flush=True)
    model = GenerativeRecommender(config).fit(dataset, leave_one_out(dataset), seed=0)
    model.fit_info["data"] = {"data": "ml-100k"}  # as `genrec train` records: the learner's guard
    model.save(root / "v0001")
    return root, "a generative model of the default architecture trained for 2 epochs"


# ------------------------------------------------------------------------------ report
def run(args: argparse.Namespace, tmp: Path) -> tuple[list[dict[str, Any]], list[str]]:
    root, model_note = bench_model(args.model_dir, tmp)
    loaded = LoadedModel.load(root / "v0001")
    user_list = list(loaded.model.histories)
    users = ",".join(user_list)
    del loaded
    print("[serve-bench] in-process answer() path", flush=True)
    set_process_precision(SERVICE_PRECISION)  # as the server does at start
    inproc = in_process(root / "v0001", user_list)
    rows: list[dict[str, Any]] = [{"model": "in-process", "kind": "answer()", **inproc}]
    sqlite_url = f"sqlite:///{tmp / 'load.sqlite3'}"
    load_rows = []
    with serving(root, sqlite_url, tmp / "server.log") as server:
        for concurrency, text in (
            (1, "none"),
            (8, "none"),
            (32, "none"),
            (1, "pool"),
            (8, "pool"),
            (32, "pool"),
            (1, "unique"),
            (8, "unique"),
            (32, "unique"),
        ):
            print(f"[serve-bench] load: {concurrency} clients, request text {text}", flush=True)
            result = loadgen("recommend", server.url, concurrency, args.seconds, users,
                             text=text, warmup=2)  # fmt: skip
            result["ratio_to_in_process_batched"] = result["rps"] / inproc["batch64_rps"]
            load_rows.append(result)
        metrics = httpx.get(f"{server.url}/metrics").text
    if SERVICE_PRECISION != "float32":  # what a CPU without AMX gets (roughly: its float32)
        fp32 = {"GENREC_ENCODER_PRECISION": "float32"}
        with serving(root, sqlite_url, tmp / "server.log", **fp32) as server:
            print("[serve-bench] load: 8 clients, request text unique, float32 encoder", flush=True)
            result = loadgen("recommend", server.url, 8, args.seconds, users, text="unique",
                             warmup=2)  # fmt: skip
            result["ratio_to_in_process_batched"] = result["rps"] / inproc["batch64_rps"]
            result["precision"] = "float32"
            load_rows.append(result)
    # Two processes on two cores: one inference thread each, or they oversubscribe the CPU.
    two = {"GENREC_WORKERS": "2", "GENREC_TORCH_THREADS": "1"}
    with serving(root, sqlite_url, tmp / "server.log", **two) as server:
        print("[serve-bench] load: 32 clients, 2 worker processes", flush=True)
        result = loadgen("recommend", server.url, 32, args.seconds, users, warmup=2)
        result["ratio_to_in_process_batched"] = result["rps"] / inproc["batch64_rps"]
        result["workers"] = 2
        load_rows.append(result)
    print("[serve-bench] load while an online fine-tune runs", flush=True)
    learning = serving_while_learning(root, tmp, user_list, args.seconds)
    batch_count = _metric(metrics, "genrec_decode_batch_size_count")
    batch_sum = _metric(metrics, "genrec_decode_batch_size_sum")
    rows += [{"model": "genrec serve", "kind": "recommendations", **r} for r in load_rows]
    quiet, busy = learning["quiet"], learning["busy"]
    slowdown = {
        "median_ratio": busy["median_ms"] / quiet["median_ms"],
        "p95_ratio": busy["p95_ms"] / quiet["p95_ms"],
        "rps_ratio": busy["rps"] / quiet["rps"],
    }
    rows.append({"model": "genrec serve", "kind": "serving while fine-tuning", **slowdown,
                 **{k: v for k, v in learning.items() if k not in ("quiet", "busy")},
                 "quiet": quiet, "busy": busy})  # fmt: skip

    pg_base = os.environ.get("GENREC_BENCH_POSTGRES_URL") or os.environ.get(
        "GENREC_TEST_POSTGRES_URL"
    )
    stores: list[tuple[str, str | None]] = [("SQLite", f"sqlite:///{tmp / 'fb.sqlite3'}")]
    stores.append(("PostgreSQL", fresh_postgres(pg_base) if pg_base else None))
    ingest_rows, kill_rows = [], []
    for label, url in stores:
        if url is None:
            ingest_rows.append({"store": label, "skipped": "no PostgreSQL server reachable"})
            kill_rows.append({"store": label, "skipped": "no PostgreSQL server reachable"})
            continue
        print(f"[serve-bench] feedback ingestion on {label}", flush=True)
        ingest_rows.append({"store": label, **ingestion(root, url, tmp, users, args.seconds)})
        kill_url = url if label == "PostgreSQL" else f"sqlite:///{tmp / 'kill.sqlite3'}"
        print(f"[serve-bench] kill -9 test on {label}", flush=True)
        kill_rows.append({"store": label, **kill_test(root, kill_url, tmp, users, 3.0)})
    rows += [{"model": "genrec serve", "kind": "feedback ingestion", **r} for r in ingest_rows]
    rows += [{"model": "genrec serve", "kind": "kill -9 test", **r} for r in kill_rows]

    lines = [
        "## Serving (`genrec serve`)",
        "",
        f"Model: {model_note}, ml-100k (943 users, 1682 items). The server is one "
        "`genrec serve` process (1 worker, SQLite store, access log off); the load comes from "
        "`benchmarks/loadgen.py` in another process over loopback, each client sending its next "
        "request when the last is answered. Client and server share this machine's 2 cores. "
        "Requests name a random known user, k = 10; 'unique text' adds a request text never "
        "seen before (so it is encoded, not cached); 'pool' one of a fixed set of request texts "
        f"(encoded once, then cached). Request texts are encoded in {SERVICE_PRECISION}, the "
        "service's default (encoder_precision auto) on this CPU, except in the row that says "
        "float32. The 2-worker row runs two server "
        "processes with one inference thread each.",
        "",
        f"In-process `answer()` on the same model in this run: one query "
        f"{inproc['single_median_ms']:.1f} ms median; batches of 64 "
        f"{inproc['batch64_median_ms']:.1f} ms median = **{inproc['batch64_rps']:.0f} "
        "requests/s** (the batched figure the service is compared with).",
        "",
        f"New request texts, in process: the encoder (PyTorch, `genrec.e5`) takes "
        f"{inproc['encode1_ms_per_text_float32']:.1f} ms a text one at a time, "
        f"{inproc['encode8_ms_per_text_float32']:.1f} ms in batches of 8 and "
        f"{inproc['encode32_ms_per_text_float32']:.1f} ms in batches of 32 in float32; the "
        f"service's default precision on this CPU is {SERVICE_PRECISION}: "
        f"{inproc[f'encode1_ms_per_text_{SERVICE_PRECISION}']:.1f}, "
        f"{inproc[f'encode8_ms_per_text_{SERVICE_PRECISION}']:.1f} and "
        f"{inproc[f'encode32_ms_per_text_{SERVICE_PRECISION}']:.1f} ms. `answer()` on batches of 8 "
        f"new texts serves {inproc['unique8_rps']:.0f} requests/s, asking the encoder for "
        f"{inproc.get('encoded_per_request', float('nan')):.1f} new texts a request (the "
        "request's text, which the parser's category match, the leaning and the learned "
        "conditioning share; for Chinese also the pieces of its content words, which repeat "
        "across requests and are cached after their first time).",
        "",
        "| clients | workers | request text | requests/s | median ms | p95 ms | p99 ms | failed "
        "| ÷ in-process batched |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in load_rows:
        lines.append(
            f"| {r['concurrency']} | {r.get('workers', 1)} | {r['text']}"
            f"{' (float32 encoder)' if r.get('precision') else ''} | {r['rps']:.0f} | "
            f"{r['median_ms']:.1f} | "
            f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['failed']} | "
            f"{r['ratio_to_in_process_batched']:.2f} |"
        )
    if batch_count:
        mean_batch = batch_sum / batch_count
        lines += ["", f"Mean decode batch over the single-worker load runs: {mean_batch:.1f} "
                  "requests (from the server's own /metrics)."]  # fmt: skip
    lines += [
        "",
        f"Serving while learning online: one server started with `--learn-every 400`, 8 "
        f"clients for {args.seconds:.0f} s with no fine-tune running, then {learning['events']} "
        "likes start a fine-tune (`genrec.lifecycle.finetune_version` in a child process at "
        "nice 10 with one thread, guarded on ml-100k validation) and the same load runs again "
        "while it trains"
        + ("" if learning["overlapped"] else " (the fine-tune ended inside the window)")
        + f"; the fine-tune took {learning['finetune_s']:.0f} s from its start in the window and "
        f"the server then served {learning['version_after']} (the guard: "
        f"{learning['guard']}).",
        "",
        "| while | requests/s | median ms | p95 ms | p99 ms | failed |",
        "|---|---|---|---|---|---|",
    ]
    for label, r in (("no fine-tune", quiet), ("fine-tune running", busy)):
        lines.append(
            f"| {label} | {r['rps']:.0f} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['failed']} |"
        )
    lines += ["", f"Bound stated from this run: while a fine-tune trains, median latency is "
              f"×{slowdown['median_ratio']:.2f}, p95 ×{slowdown['p95_ratio']:.2f} and throughput "
              f"×{slowdown['rps_ratio']:.2f} of the same server without one."]  # fmt: skip
    lines += ["", "Feedback ingestion: 32 clients posting events with unique idempotency keys "
              f"for {args.seconds:.0f} s; afterwards every acknowledged (2xx) event is looked up "
              "in the store.", "",
              "| store | events/s | median ms | p99 ms | acknowledged | present | failed |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in ingest_rows:
        if "skipped" in r:
            lines.append(f"| {r['store']} | skipped: {r['skipped']} | | | | | |")
            continue
        lines.append(
            f"| {r['store']} | {r['rps']:.0f} | {r['median_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['acked']} | {r['acked_present']} | {r['failed']} |"
        )
    lines += ["", "Kill test: `kill -9` of the server 3 s into a 32-client feedback burst, then "
              "a restart on the same store.", "",
              "| store | acknowledged before the kill | present after restart | missing | "
              "restart to ready s |", "|---|---|---|---|---|"]  # fmt: skip
    for r in kill_rows:
        if "skipped" in r:
            lines.append(f"| {r['store']} | skipped: {r['skipped']} | | | |")
            continue
        lines.append(
            f"| {r['store']} | {r['acked_before_kill']} | {r['acked_present_after_restart']} | "
            f"{r['acked_missing']} | {r['restart_to_ready_s']:.1f} |"
        )
    return rows, lines


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs")
    parser.add_argument("--model-dir", help="serve this saved model instead of training one")
    parser.add_argument("--seconds", type=float, default=10.0, help="per load level")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="genrec-serve-bench-") as tmp:
        rows, lines = run(args, Path(tmp))
    command = "make bench-serve  (= python benchmarks/serving.py --out docs" + (
        f" --model-dir {args.model_dir})" if args.model_dir else ")"
    )
    minutes = (time.perf_counter() - started) / 60
    lines[1:1] = [
        "",
        f"Produced by `{command}` on {dt.date.today().isoformat()} in {minutes:.1f} min; "
        f"machine: {machine()}.",
    ]
    write_json(rows, out / "benchmarks.json", section="serving")
    replace_block(out / "benchmarks.md", "serving", "\n".join(lines))
    print(f"[serve-bench] wrote the serving section of {out / 'benchmarks.md'} "
          f"in {minutes:.1f} min")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
