"""`make bench`: train every model on ml-100k and write docs/benchmarks.{md,json} and plots.

Usage: python benchmarks/run.py --out docs [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import genrec
from genrec.baselines.sasrec import SASRecConfig
from genrec.data import load_builtin
from genrec.data.split import SequenceSplit, leave_one_out
from genrec.e5 import set_process_precision
from genrec.evaluation import evaluate
from genrec.generative.recommender import GenerativeConfig, GenerativeRecommender

from harness import (
    GUIDANCE_MIN_PRECISION,
    RECBOLE_ANCHOR,
    SERVICE_PRECISION,
    ExactDecoding,
    Run,
    choose_guidance,
    encoding_ms,
    generate_calls,
    guidance_sweep,
    machine,
    markdown_table,
    paired_bootstrap,
    plot_bars,
    read_block,
    recommend_calls,
    replace_block,
    request_following,
    rows_for,
    run_isolated,
    run_model,
    side_by_side,
    write_json,
)


def train_all(seeds: list[int], model_root: Path) -> tuple[list[Run], Any, SequenceSplit]:
    dataset = load_builtin("ml-100k")
    split = leave_one_out(dataset)
    runs: list[Run] = []
    for kind, label in (("popular", "Popular"), ("itemknn", "Item-kNN"),
                        ("content", "Content (TF-IDF)")):  # fmt: skip
        print(f"[bench] {label}", flush=True)
        runs.append(run_model(Run(kind, label, True, seeds), dataset, split))
        # History kept among the candidates; refitting is cheap and deterministic.
        runs.append(
            run_model(
                Run(kind, label, False, seeds, group="recbole"), dataset, split, progress=False
            )
        )
    print("[bench] SASRec-CE (history masked in validation and test)", flush=True)
    runs.append(
        run_isolated(Run("sasrec", "SASRec-CE", True, seeds, config=SASRecConfig()), model_root)
    )
    print("[bench] SASRec-CE under RecBole's protocol (history kept)", flush=True)
    runs.append(
        run_isolated(
            Run(
                "sasrec",
                "SASRec-CE",
                False,
                seeds,
                config=SASRecConfig(valid_exclude_seen=False),
                group="recbole",
            ),
            model_root,
        )
    )
    print("[bench] Generative (semantic IDs, constrained beam search)", flush=True)
    runs.append(
        run_isolated(
            Run("generative", "Generative", True, seeds, config=GenerativeConfig()), model_root
        )
    )
    return runs, dataset, split


def baselines_section(
    rows: list[dict[str, Any]], split: SequenceSplit, n_items: int, seeds: list[int], out: Path
) -> str:
    default_rows = [r for r in rows if r["group"] == "default"]
    recbole_rows = [r for r in rows if r["group"] == "recbole"]
    plot_bars(
        default_rows,
        out / "baselines_ml100k.png",
        "ml-100k test, full catalog, seen items excluded",
    )
    sasrec_recbole = next(r for r in recbole_rows if r["kind"] == "sasrec")
    verdict = "at or above" if sasrec_recbole["ndcg@10"] >= RECBOLE_ANCHOR["ndcg@10"] else "BELOW"
    return "\n".join(
        [
            "## All models on ml-100k",
            "",
            f"Leave-one-out by time ({len(split.users)} test users), every item of the "
            f"{n_items}-item catalog ranked, mean ± std over seeds {seeds}. "
            "Popular, item-kNN and content-based fit deterministically (std 0). "
            "ΔNDCG@10 is the paired bootstrap (2000 resamples of users) of the per-user NDCG@10 "
            "difference to SASRec-CE under the same protocol, per-user values averaged over seeds. "
            "`invalid` is the share of returned ids that are not catalog items.",
            "",
            "### Our protocol: the user's history is excluded from the candidates",
            "",
            markdown_table(default_rows),
            "",
            "![NDCG@10 and Recall@10](baselines_ml100k.png)",
            "",
            "### RecBole's protocol for sequential models: history kept among the candidates",
            "",
            "SASRec-CE here also early-stops on validation NDCG@10 with history kept, "
            "as RecBole does.",
            "",
            markdown_table(recbole_rows),
            "",
            f"RecBole 1.2.1 SASRec (CE loss) on the same data and split, from ../shared/ANCHORS.md "
            f"(one run, seed 2020, reproduced here exactly; RecBole rerun here with that and "
            f"other seeds: the last section, `make bench-recbole`): NDCG@10 "
            f"{RECBOLE_ANCHOR['ndcg@10']:.4f}, Recall@10 {RECBOLE_ANCHOR['recall@10']:.4f}, "
            f"NDCG@5 {RECBOLE_ANCHOR['ndcg@5']:.4f}, MRR@10 {RECBOLE_ANCHOR['mrr@10']:.4f}. "
            f"Our SASRec-CE: NDCG@10 {sasrec_recbole['ndcg@10']:.4f} ± "
            f"{sasrec_recbole['ndcg@10_std']:.4f} (seeds {seeds}: "
            f"{' / '.join(f'{v:.4f}' for v in sasrec_recbole['ndcg@10_per_seed'])}), "
            f"Recall@10 {sasrec_recbole['recall@10']:.4f} — {verdict} RecBole's figure.",
            "",
        ]
    )


def plot_curves(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for run, colour in ((r, c) for r, c in zip(runs, ("tab:blue", "tab:orange"), strict=False)):
        for i, info in enumerate(run.fit_infos):
            curve = info.get("curve", [])
            ax.plot(
                [c["seconds"] for c in curve],
                [c["valid_ndcg@10"] for c in curve],
                color=colour,
                alpha=0.8,
                label=run.label if i == 0 else None,
            )
    ax.set_xlabel("training seconds (2-core CPU)")
    ax.set_ylabel("validation NDCG@10 (seen excluded)")
    ax.set_title("NDCG@10 vs training time, ml-100k, one line per seed")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def generative_section(
    runs: list[Run],
    rows: list[dict[str, Any]],
    dataset: Any,
    split: SequenceSplit,
    out: Path,
    command: str,
) -> tuple[str, list[dict]]:
    gen_run = next(r for r in runs if r.model == "generative")
    sas_run = next(r for r in runs if r.model == "sasrec" and r.group == "default")
    gen_row = next(r for r in rows if r["kind"] == "generative")
    sas_row = next(r for r in rows if r["kind"] == "sasrec" and r["group"] == "default")
    json_rows: list[dict[str, Any]] = []
    protocol = {**gen_row["protocol"], "command": command}

    # quality vs SASRec-CE
    quality = {}
    for key in ("ndcg@10", "recall@10"):
        diff, low, high = paired_bootstrap(gen_run.mean_per_user(key), sas_run.mean_per_user(key))
        quality[key] = (diff, low, high, 100.0 * diff / max(sas_row[key], 1e-12))

    # request guidance chosen on the validation users, then request following on the test
    # users with it, every seed's model
    categories = dataset.catalog.categories
    models = [GenerativeRecommender.load(info["model_dir"]) for info in gen_run.fit_infos]
    sweep = guidance_sweep(models, split, categories)
    chosen = choose_guidance(sweep)
    default_guidance = GenerativeConfig().request_guidance
    for row in sweep:
        json_rows.append(
            {
                "dataset": "ml-100k",
                "model": "Generative",
                "section": "guidance on validation",
                "protocol": {**protocol, "requests": "held-out templates, valid item genre"},
                **row,
            }
        )
    following = [request_following(model, split, categories, guidance=chosen) for model in models]
    follow = {k: float(np.mean([f[k] for f in following])) for k in following[0]}
    json_rows.append(
        {
            "dataset": "ml-100k",
            "model": "Generative",
            "section": "requests",
            "protocol": {**protocol, "requests": "held-out templates, test item genre"},
            "request_guidance": chosen,
            **follow,
        }
    )

    # how much the beam loses against scoring every item's path, seed-0 model
    exact_model = GenerativeRecommender.load(gen_run.fit_infos[0]["model_dir"])
    exact = evaluate(ExactDecoding(exact_model), split, "test").metrics
    beam = gen_run.results[0].metrics
    json_rows.append(
        {
            "dataset": "ml-100k",
            "model": "Generative",
            "section": "beam vs exact",
            "protocol": {**protocol, "seed": gen_run.seeds[0]},
            "ndcg@10_beam": beam["ndcg@10"],
            "ndcg@10_exact": exact["ndcg@10"],
            "recall@10_beam": beam["recall@10"],
            "recall@10_exact": exact["recall@10"],
        }
    )

    # speed, seed-0 model, against transformers generate() and SASRec scoring
    model = GenerativeRecommender.load(gen_run.fit_infos[0]["model_dir"])
    assert isinstance(model, GenerativeRecommender)
    sasrec = genrec.load(sas_run.fit_infos[0]["model_dir"])
    histories = split.histories("test")
    from genrec.requests import held_out_requests

    texts, _ = held_out_requests(categories, split.test_targets, "en", nouns=model.nouns)
    encoder = model.encoder
    fresh = [f"{t} tonight #{i}" for i, t in enumerate(texts[:100])]
    encode_ms = encoding_ms(encoder.encode_requests, [[t] for t in fresh])
    new_text = {
        precision: new_text_latency(
            gen_run.fit_infos[0]["model_dir"], histories, texts[:100], precision
        )
        for precision in ("float32", SERVICE_PRECISION)
    }
    beam_width = model.config.beam_size
    timed = side_by_side(
        {
            "ours": recommend_calls(model, histories),
            "ours_request": recommend_calls(model, histories, requests=texts),
            "usual": generate_calls(model, histories, beam_size=beam_width),
            "usual_our_forward": generate_calls(
                model, histories, beam_size=beam_width, library_forward=False
            ),
            "sasrec": recommend_calls(sasrec, histories),
        }
    )
    ours, ours_request, usual = timed["ours"], timed["ours_request"], timed["usual"]
    shared, floor = timed["usual_our_forward"], timed["sasrec"]
    speed = {
        "generative_latency_ms_median": ours["latency_ms_median"],
        "generative_latency_ms_p95": ours["latency_ms_p95"],
        "generative_throughput_rps_batch64": ours["throughput_rps_batch64"],
        "generative_with_request_latency_ms_median": ours_request["latency_ms_median"],
        "generative_with_request_latency_ms_p95": ours_request["latency_ms_p95"],
        "request_encoding_ms_median": float(np.median(encode_ms)),
        **{f"new_text_latency_ms_median_{p}": ms for p, ms in new_text.items()},
        "request_encoding_ms_p95": float(np.percentile(encode_ms, 95)),
        "hf_generate_latency_ms_median": usual["latency_ms_median"],
        "hf_generate_latency_ms_p95": usual["latency_ms_p95"],
        "hf_generate_throughput_rps_batch64": usual["throughput_rps_batch64"],
        "speedup_vs_hf_generate_single": usual["latency_ms_median"] / ours["latency_ms_median"],
        "speedup_vs_hf_generate_batch64": ours["throughput_rps_batch64"]
        / usual["throughput_rps_batch64"],
        "hf_generate_our_forward_latency_ms_median": shared["latency_ms_median"],
        "hf_generate_our_forward_latency_ms_p95": shared["latency_ms_p95"],
        "hf_generate_our_forward_throughput_rps_batch64": shared["throughput_rps_batch64"],
        "speedup_vs_hf_generate_our_forward_single": shared["latency_ms_median"]
        / ours["latency_ms_median"],
        "speedup_vs_hf_generate_our_forward_batch64": ours["throughput_rps_batch64"]
        / shared["throughput_rps_batch64"],
        "sasrec_latency_ms_median": floor["latency_ms_median"],
        "sasrec_latency_ms_p95": floor["latency_ms_p95"],
        "sasrec_throughput_rps_batch64": floor["throughput_rps_batch64"],
        "beam_size": float(beam_width),
    }
    json_rows.append(
        {
            "dataset": "ml-100k",
            "model": "Generative",
            "section": "speed",
            "protocol": {**protocol, "k": 10, "machine": machine()},
            **speed,
        }
    )

    costs = []
    for run in (gen_run, sas_run):
        seconds = [info["train_seconds"] for info in run.fit_infos]
        best = [
            next(
                (c["seconds"] for c in info["curve"] if c["epoch"] == info["best_epoch"]),
                info["train_seconds"],
            )
            for info in run.fit_infos
        ]
        peak = [info["peak_rss_mb"] for info in run.fit_infos]
        costs.append(
            (
                run.label,
                np.mean(seconds),
                np.mean(best),
                np.mean(peak),
                np.mean([info["epochs"] for info in run.fit_infos]),
            )
        )
        json_rows.append(
            {
                "dataset": "ml-100k",
                "model": run.label,
                "section": "training cost",
                "protocol": protocol,
                "train_seconds": float(np.mean(seconds)),
                "seconds_to_best_checkpoint": float(np.mean(best)),
                "peak_rss_mb": float(np.mean(peak)),
            }
        )
    plot_curves([gen_run, sas_run], out / "ndcg_vs_time.png")

    stats = gen_run.fit_infos[0]["index"]
    levels = ", ".join(f"{lv['used']}/{lv['codebook_size']}" for lv in stats["levels"])
    lines = [
        "## Generative recommender",
        "",
        f"Semantic IDs: {len(stats['levels'])} residual k-means levels over "
        f"multilingual-e5-small item vectors (codes used per level: {levels}), "
        f"{stats['distinct_prefixes']} distinct prefixes of {stats['prefix_capacity']}, "
        f"{stats['items_sharing_a_prefix']} items share a prefix (max "
        f"{stats['max_items_per_prefix']}) and are told apart by the collision digit; "
        f"all code tuples unique: {stats['code_tuples_unique']}.",
        "",
        "### Quality without a request, against SASRec-CE from the same run",
        "",
        "| metric | Generative | SASRec-CE | difference [95% CI, paired bootstrap] | relative |",
        "|---|---|---|---|---|",
    ]
    for key, (diff, low, high, rel) in quality.items():
        lines.append(
            f"| {key} | {gen_row[key]:.4f} ± {gen_row[key + '_std']:.4f} | "
            f"{sas_row[key]:.4f} ± {sas_row[key + '_std']:.4f} | "
            f"{diff:+.4f} [{low:+.4f}, {high:+.4f}] | {rel:+.1f}% |"
        )
    lines += [
        "",
        f"Invalid-item rate of the generative model: {gen_row['invalid_rate']:.4f} "
        "(decoding only follows catalog prefixes).",
        "",
        f"Beam search against exact scoring of every item's path (seed {gen_run.seeds[0]} model): "
        f"NDCG@10 {beam['ndcg@10']:.4f} vs {exact['ndcg@10']:.4f}, Recall@10 "
        f"{beam['recall@10']:.4f} vs {exact['recall@10']:.4f}.",
        "",
        "### Request guidance, chosen on the validation users",
        "",
        "Request from held-out templates for the genre of the validation item, history = the "
        f"training prefix; mean over the {len(models)} seeds' models. Rule (fixed before "
        "measuring, `benchmarks/harness.py`'s `choose_guidance`): the smallest weight whose genre "
        f"precision reaches {GUIDANCE_MIN_PRECISION:.0%} in both languages.",
        "",
        "| guidance weight | NDCG@10, English | NDCG@10, Chinese | genre precision, English | "
        "genre precision, Chinese |",
        "|---|---|---|---|---|",
        *(
            f"| {r['request_guidance']:g}{' (chosen)' if r['request_guidance'] == chosen else ''} "
            f"| {r['ndcg@10_request_en']:.4f} | {r['ndcg@10_request_zh']:.4f} | "
            f"{r['genre_precision@10_en']:.1%} | {r['genre_precision@10_zh']:.1%} |"
            for r in sweep
        ),
        "",
        f"Without a request, validation NDCG@10 is {sweep[0]['ndcg@10_no_request']:.4f} "
        f"(guidance only acts on a request). The shipped default is {default_guidance:g}"
        + (
            "."
            if default_guidance == chosen
            else f"; this run chose {chosen:g}, and the test table below uses {chosen:g}."
        ),
        "",
        f"### Request following (test users, guidance weight {chosen:g}, request from held-out "
        "templates for the genre of the held-out item)",
        "",
        "| request | NDCG@10 | Recall@10 | top-10 items carrying the requested genre |",
        "|---|---|---|---|",
        f"| none | {follow['ndcg@10_no_request']:.4f} | {follow['recall@10_no_request']:.4f} | — |",
        f"| English | {follow['ndcg@10_request_en']:.4f} | {follow['recall@10_request_en']:.4f} "
        f"| {follow['genre_precision@10_en']:.1%} |",
        f"| Chinese | {follow['ndcg@10_request_zh']:.4f} | {follow['recall@10_request_zh']:.4f} "
        f"| {follow['genre_precision@10_zh']:.1%} |",
        "",
        f"Mean over the {len(following)} seeds' models; {int(follow['users'])} test users whose "
        "held-out item has a genre.",
        "",
        "### Speed (one request = top-10 for one user; this machine, 2 cores)",
        "",
        "| decoder | median ms | p95 ms | requests/s at batch 64 |",
        "|---|---|---|---|",
        f"| genrec beam search (beam {int(speed['beam_size'])}), no request | "
        f"{speed['generative_latency_ms_median']:.2f} | {speed['generative_latency_ms_p95']:.2f} | "
        f"{speed['generative_throughput_rps_batch64']:.0f} |",
        "| genrec beam search, with a request (each distinct text encoded on first sight, "
        "then cached) | "
        f"{speed['generative_with_request_latency_ms_median']:.2f} | "
        f"{speed['generative_with_request_latency_ms_p95']:.2f} | — |",
        f"| encoding a new request text (multilingual-e5-small, PyTorch float32) | "
        f"{speed['request_encoding_ms_median']:.2f} | {speed['request_encoding_ms_p95']:.2f} | — |",
        "| genrec beam search with a request text never seen before, end to end (parsing, the "
        "leaning, the learned conditioning), float32 | "
        f"{speed['new_text_latency_ms_median_float32']:.2f} | — | — |",
        f"| the same in {SERVICE_PRECISION} (what `genrec serve` uses on this CPU) | "
        f"{speed[f'new_text_latency_ms_median_{SERVICE_PRECISION}']:.2f} | — | — |",
        f"| same network, transformers `generate()` + `prefix_allowed_tokens_fn` "
        f"(the history read by the transformers GPT-2 forward: the usual way) | "
        f"{speed['hf_generate_latency_ms_median']:.2f} | "
        f"{speed['hf_generate_latency_ms_p95']:.2f} | "
        f"{speed['hf_generate_throughput_rps_batch64']:.0f} |",
        f"| the same `generate()`, the history read by genrec's inference forward "
        f"(only the decoding differs from genrec's) | "
        f"{speed['hf_generate_our_forward_latency_ms_median']:.2f} | "
        f"{speed['hf_generate_our_forward_latency_ms_p95']:.2f} | "
        f"{speed['hf_generate_our_forward_throughput_rps_batch64']:.0f} |",
        f"| SASRec-CE full scoring (the floor) | {speed['sasrec_latency_ms_median']:.2f} | "
        f"{speed['sasrec_latency_ms_p95']:.2f} | {speed['sasrec_throughput_rps_batch64']:.0f} |",
        "",
        f"Speed-up over `generate()` the usual way: "
        f"{speed['speedup_vs_hf_generate_single']:.1f}× for a single request, "
        f"{speed['speedup_vs_hf_generate_batch64']:.1f}× in throughput at batch 64; "
        f"over `generate()` with genrec's forward (decoding alone): "
        f"{speed['speedup_vs_hf_generate_our_forward_single']:.1f}× and "
        f"{speed['speedup_vs_hf_generate_our_forward_batch64']:.1f}×. All five decoders were "
        "timed in rounds (each round runs each once, in rotating order): 200 single requests "
        "and 10 batches each, after 5 warm-up rounds. genrec reads the history with its own "
        "GPT-2 inference forward (the same weights and function as the transformers model, "
        "checked by the tests); the two `generate()` rows differ only in that forward.",
        "",
        "### Training cost",
        "",
        "| model | epochs | train s | s to best checkpoint | peak RSS MB |",
        "|---|---|---|---|---|",
        *[
            f"| {label} | {epochs:.1f} | {sec:.0f} | {best:.0f} | {peak:.0f} |"
            for label, sec, best, peak, epochs in costs
        ],
        "",
        "Training time includes validation passes for early stopping; peak RSS is the whole "
        "training process (Python, PyTorch, data, the text encoder for the generative model).",
        "",
        "![validation NDCG@10 vs training time](ndcg_vs_time.png)",
        "",
    ]
    return "\n".join(lines), json_rows


def update_readme(rows: list[dict[str, Any]], readme: Path, command: str) -> None:
    """Replace the README's headline block with this run's figures."""
    if not readme.is_file():
        return
    lines = [
        f"ml-100k, test, full catalog, seen items excluded, mean ± std over "
        f"{len(rows[0]['protocol']['seeds'])} seeds (`{command}`):",
        "",
        "| model | NDCG@10 | Recall@10 | MRR | invalid items |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if row["group"] != "default":
            continue
        lines.append(
            f"| {row['model']} | {row['ndcg@10']:.4f} ± {row['ndcg@10_std']:.4f} | "
            f"{row['recall@10']:.4f} ± {row['recall@10_std']:.4f} | {row['mrr']:.4f} | "
            f"{row['invalid_rate']:.0%} |"
        )
    text = readme.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(head + start + "\n" + "\n".join(lines) + "\n" + end + tail)


KEPT_SECTIONS = ("collab", "ablation", "requests", "catalog", "serving", "feedback", "llm",
                 "ddp", "vectors", "scale", "logs", "gpu", "recbole")  # fmt: skip


def new_text_latency(model_dir: str, histories: Any, texts: list[str], precision: str) -> float:
    """Median ms of one top-10 request whose text nobody sent before, end to end: a fresh
    load of the model, its encoder in ``precision``, every text made unique."""
    set_process_precision(precision)
    try:
        model = GenerativeRecommender.load(model_dir)
        model.recommend_indices([histories[0]], 10, requests=["warm up"])
        times = []
        for i, text in enumerate(texts):
            started = time.perf_counter()
            model.recommend_indices([histories[i % len(histories)]], 10,
                                    requests=[f"{text} {precision} #{i}"])  # fmt: skip
            times.append((time.perf_counter() - started) * 1000.0)
    finally:
        set_process_precision("float32")
    return float(np.median(times))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/run.py --out docs" + (
        f" --seeds {' '.join(map(str, args.seeds))}" if args.seeds != [0, 1, 2, 3, 4] else ""
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="genrec-bench-") as tmp:
        runs, dataset, split = train_all(args.seeds, Path(tmp))
        rows = rows_for(runs, "ml-100k", command)
        sections = [baselines_section(rows, split, len(dataset.catalog), args.seeds, out)]
        print("[bench] request following and speed", flush=True)
        text, extra_rows = generative_section(runs, rows, dataset, split, out, command)
        sections.append(text)
    write_json(rows + extra_rows, out / "benchmarks.json", section="ml-100k")
    update_readme(rows, Path(__file__).resolve().parent.parent / "README.md", command)
    minutes = (time.perf_counter() - started) / 60
    header = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` (the first step of `make bench`) on "
        f"{dt.date.today().isoformat()}; it took {minutes:.1f} min.",
        f"Machine: {machine()}; Python {sys.version.split()[0]}; PyTorch CPU.",
        "Every figure in the ml-100k sections comes from that one run; the serving and "
        "feedback-loop sections at the end name their own runs. The same rows are in "
        "[benchmarks.json](benchmarks.json).",
        "",
    ]
    # Sections written by the other benchmark scripts (and notes on earlier runs) stay.
    kept = {name: read_block(out / "benchmarks.md", name) for name in KEPT_SECTIONS}
    (out / "benchmarks.md").write_text("\n".join(header + sections))
    for name, block in kept.items():
        if block is not None:
            replace_block(out / "benchmarks.md", name, block)
    print(f"[bench] wrote {out / 'benchmarks.md'} in {minutes:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
