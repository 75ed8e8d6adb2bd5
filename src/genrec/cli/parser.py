"""The ``genrec`` argument parser: one function per command, each with help and an example."""

from __future__ import annotations

import argparse
from typing import Any

from genrec.cli import arguments as a
from genrec.cli.commands import (
    cmd_data_info,
    cmd_evaluate,
    cmd_feedback_export,
    cmd_finetune,
    cmd_recommend,
    cmd_report,
    cmd_serve,
    cmd_train,
)
from genrec.cli.demo import cmd_demo
from genrec.models import registry

Subparsers = Any  # argparse's _SubParsersAction is private


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genrec",
        description="genrec: a generative recommender grounded to a real catalog.",
        formatter_class=a.Formatter,
        epilog="example:\n  genrec train --model sasrec --data ml-100k --out artifacts/sasrec\n"
        "  genrec recommend --model-dir artifacts/sasrec --user 1",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_data, add_train, add_evaluate, add_recommend, add_demo, add_serve,
                add_finetune, add_feedback, add_report):  # fmt: skip
        add(sub)
    return parser


def _command(sub: Subparsers, name: str, help_text: str, epilog: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, formatter_class=a.Formatter, epilog=epilog
    )
    return parser


def add_data(sub: Subparsers) -> None:
    data = sub.add_parser("data", help="inspect datasets", formatter_class=a.Formatter)
    data_sub = data.add_subparsers(dest="data_command", required=True)
    info = _command(
        data_sub,
        "info",
        "counts and checks for a dataset",
        "examples:\n  genrec data info ml-100k --json\n"
        "  genrec data info ratings.csv --catalog items.csv --column user_id=customer",
    )
    a.add_data_args(info, positional=True)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=cmd_data_info)


def add_train(sub: Subparsers) -> None:
    train = _command(
        sub,
        "train",
        "train a model and save it to a directory",
        "examples:\n  genrec train --model generative --data ml-100k --out artifacts/gen\n"
        "  genrec train --model sasrec --data ml-100k --out artifacts/sasrec --seed 1\n"
        "  genrec train --model itemknn --data log.csv --catalog items.csv --out m\n"
        "  genrec train --model llm --data ml-100k --out artifacts/llm --lora",
    )
    train.add_argument("--model", required=True, choices=sorted(registry()))
    a.add_data_args(train)
    train.add_argument("--out", required=True, help="directory to write the model to")
    train.add_argument("--config", help="JSON or TOML file of the model's settings")
    train.add_argument("--seed", type=a.seed, default=0)
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    llm = train.add_argument_group("--model llm")
    llm.add_argument(
        "--base",
        help="pretrained base: 'smollm2' (SmolLM2-135M-Instruct, installed offline; the default) "
        "or a local folder of a transformers causal or sequence-to-sequence model",
    )
    llm.add_argument(
        "--lora",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="LoRA adapters (default) or --no-lora: fine-tune every weight",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint (written after each validation), not from scratch",
    )
    train.set_defaults(func=cmd_train)


def add_evaluate(sub: Subparsers) -> None:
    ev = _command(
        sub,
        "evaluate",
        "full-catalog ranking metrics on the leave-one-out split",
        "example:\n  genrec evaluate --model-dir artifacts/sasrec --data ml-100k --json",
    )
    ev.add_argument("--model-dir", required=True)
    ev.add_argument("--split", choices=["test", "valid"], default="test")
    ev.add_argument(
        "--include-seen",
        action="store_true",
        help="keep the user's history items among the candidates (RecBole's sequential setting)",
    )
    ev.add_argument("--json", action="store_true")
    a.add_data_args(ev, required=False)
    ev.set_defaults(func=cmd_evaluate)


def add_recommend(sub: Subparsers) -> None:
    rec = _command(
        sub,
        "recommend",
        "recommend items for a user or a history",
        "examples:\n  genrec recommend --model-dir artifacts/demo --user 1 -k 5\n"
        "  genrec recommend --model-dir artifacts/demo --history 50,181,172 --json\n"
        "  genrec recommend --model-dir artifacts/demo --user 1 --request 'I want a scary movie'\n"
        "  genrec recommend --model-dir artifacts/demo --request '我想看一部恐怖片'\n"
        "  genrec recommend --model-dir artifacts/demo --all-users --out recs.parquet\n"
        "  torchrun --nproc_per_node 2 -m genrec recommend --model-dir artifacts/demo "
        "--all-users --out recs/",
    )
    rec.add_argument("--model-dir", required=True)
    rec.add_argument("--user", help="a user id known to the model")
    rec.add_argument("--history", help="comma-separated item ids (overrides the user's history)")
    rec.add_argument(
        "--request", help="what the user asks for, in their words (generative model; any language)"
    )
    rec.add_argument("-k", type=int, default=10, help="how many items")
    rec.add_argument("--exclude", help="comma-separated item ids never to recommend")
    rec.add_argument("--category", help="comma-separated categories to keep")
    rec.add_argument("--include-seen", action="store_true", help="allow already-seen items")
    rec.add_argument("--json", action="store_true")
    rec.add_argument(
        "--all-users",
        action="store_true",
        help="every known user's top k to --out (Parquet: user, rank, item, score, title); "
        "under torchrun each process writes a part of the folder --out",
    )
    rec.add_argument(
        "--out", help="the Parquet file (or, under torchrun, folder) --all-users writes"
    )
    rec.add_argument("--batch-size", type=int, default=256, help="users per batch (--all-users)")
    rec.add_argument("--quiet", action="store_true", help="no progress bar")
    rec.set_defaults(func=cmd_recommend)


def add_demo(sub: Subparsers) -> None:
    demo = _command(
        sub,
        "demo",
        "train the generative model on ml-100k, evaluate, recommend (what `make demo` runs)",
        "example:\n  genrec demo --out artifacts/demo",
    )
    demo.add_argument("--out", default="artifacts/demo")
    demo.add_argument("--epochs", type=int, default=16, help="training epochs at most")
    demo.set_defaults(func=cmd_demo)


def add_serve(sub: Subparsers) -> None:
    serve = _command(
        sub,
        "serve",
        "serve recommendations and collect feedback over HTTP",
        "examples:\n  GENREC_API_KEYS=$(openssl rand -hex 16) genrec serve --model-dir "
        "artifacts/demo\n  genrec serve --model-dir artifacts/demo --insecure-dev --port 8080\n"
        "  genrec serve --model-dir models/ --db postgresql://user:pw@host/db --workers 4\n"
        "  genrec serve --model-dir models/ --ab v0004=20%% --promote-on-win\n\n"
        "Every setting also reads from GENREC_<NAME> (e.g. GENREC_API_KEYS=k1,k2) and from "
        "--config FILE; see docs/api.md.",
    )
    serve.add_argument("--model-dir", help="a saved model, or a folder of versions (newest served)")
    serve.add_argument(
        "--db", help="feedback store URL (default: SQLite file feedback.sqlite3 in the model dir)"
    )
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--config", help="JSON or TOML file of settings")
    serve.add_argument(
        "--reload-poll",
        type=float,
        help="seconds between checks of the model dir for a newer version (default: never)",
    )
    serve.add_argument(
        "--learn-every",
        type=a.learn_every,
        metavar="N|Mmin",
        help="fine-tune on feedback after N new events (e.g. 500), or every M minutes that saw "
        "feedback (e.g. 30min, 2h), and serve the result (needs a folder of versions; default: "
        "never)",
    )
    serve.add_argument(
        "--ab",
        metavar="CANDIDATE=SHARE",
        help="A/B test: serve version CANDIDATE of the model folder (or a saved model path) to "
        "SHARE of users (e.g. v0004=20%%), split by a stable hash of the user id; every list "
        "records its arm and `genrec report` compares them",
    )
    serve.add_argument(
        "--promote-on-win",
        nargs="?",
        const="win",
        choices=["win", "not-worse"],
        help="with --ab: make the candidate CURRENT once it wins online (acceptance significantly "
        "higher), or with 'not-worse' once it cannot be much worse (--ab-min-lists lists per arm "
        "first); a candidate that loses ends the test",
    )
    serve.add_argument(
        "--ab-min-lists", type=int, help="lists each arm needs before deciding (default 1000)"
    )
    serve.add_argument(
        "--insecure-dev",
        action="store_true",
        help="start without API keys: feedback and admin endpoints open (development only)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="log every request (off for the highest throughput)",
    )
    serve.set_defaults(func=cmd_serve)


def add_finetune(sub: Subparsers) -> None:
    ft = _command(
        sub,
        "finetune",
        "update a generative model from logged feedback into a new version",
        "examples:\n  genrec finetune --model-dir models/ --feedback sqlite:///models/"
        "feedback.sqlite3\n  genrec finetune --model-dir artifacts/demo --feedback fb.parquet "
        "--served served.parquet --out artifacts/demo-ft --data ml-100k\n\n"
        "With a folder of versions the new model becomes the next vNNNN and CURRENT points to it "
        "if it passes the validation guard (validation NDCG@10 of --data, by default the dataset "
        "the model was trained on, may fall by at most the config's tolerance); the old version "
        "is never overwritten.",
    )
    ft.add_argument("--model-dir", required=True, help="a saved model or a folder of versions")
    ft.add_argument(
        "--feedback", required=True, help="store URL, or a file from `genrec feedback export`"
    )
    ft.add_argument("--served", help="served lists file (with a feedback file)")
    ft.add_argument(
        "--new-items",
        help="catalog file: items not in the model yet get semantic IDs and can be learned",
    )
    ft.add_argument("--out", help="where to write the new version (default: next vNNNN)")
    ft.add_argument("--config", help="JSON or TOML file of FinetuneConfig fields")
    ft.add_argument("--seed", type=a.seed)
    ft.add_argument(
        "--since", type=float, help="only events received at or after this Unix time (seconds)"
    )
    ft.add_argument("--quiet", action="store_true")
    ft.add_argument(
        "--no-validate",
        action="store_true",
        help="promote without the validation guard (by default the guard uses --data, or the "
        "dataset the model records it was trained on)",
    )
    ft.add_argument(
        "--candidate",
        action="store_true",
        help="write the new version as a candidate for an A/B test: CURRENT stays where it is "
        "(then: genrec serve --ab vNNNN=20%% --promote-on-win)",
    )
    a.add_data_args(ft, required=False)
    ft.set_defaults(func=cmd_finetune)


def add_feedback(sub: Subparsers) -> None:
    fb = sub.add_parser("feedback", help="the feedback store", formatter_class=a.Formatter)
    fb_sub = fb.add_subparsers(dest="feedback_command", required=True)
    export = _command(
        fb_sub,
        "export",
        "write stored feedback (or served lists) to Parquet, CSV or JSON Lines",
        "examples:\n  genrec feedback export --model-dir artifacts/demo --out fb.parquet\n"
        "  genrec feedback export --db postgresql://u:p@host/db --table served --out s.csv",
    )
    export.add_argument("--db", help="store URL")
    export.add_argument("--model-dir", help="use the SQLite store of this model dir")
    export.add_argument("--table", choices=["feedback", "served"], default="feedback")
    export.add_argument("--out", required=True, help="file: .parquet, .csv or .jsonl")
    export.set_defaults(func=cmd_feedback_export)


def add_report(sub: Subparsers) -> None:
    rep = _command(
        sub,
        "report",
        "online metrics per model version from the feedback store (acceptance, hits per list, "
        "CTR by position, coverage, novelty), as a table, JSON or a plot",
        "examples:\n  genrec report --model-dir artifacts/demo\n"
        "  genrec report --db postgresql://u:p@host/db --since 2026-12-01 --png online.png\n"
        "  genrec report --db sqlite:///feedback.sqlite3 --window-hours 2 --json",
    )
    rep.add_argument("--db", help="store URL")
    rep.add_argument("--model-dir", help="use the SQLite store of this model dir")
    rep.add_argument("--since", help="lists served from this time on (ISO 8601, UTC if naive)")
    rep.add_argument("--until", help="lists served before this time (default: now)")
    rep.add_argument("--window-hours", type=float, default=24.0,
                     help="how long after serving a positive event answers a list")  # fmt: skip
    rep.add_argument("--bucket", default="auto",
                     help="series bucket: auto, 1min, 5min, 15min, 1h, 6h, 1D, 7D")  # fmt: skip
    rep.add_argument("--catalog-size", type=int, help="items in the catalog, for coverage "
                     "(default: the model dir's catalog, else the items ever served)")  # fmt: skip
    rep.add_argument("--png", help="also plot acceptance and hits per list over time here")
    rep.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rep.set_defaults(func=cmd_report)
