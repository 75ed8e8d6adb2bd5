"""The ``genrec`` command: thin adapters over the library.

Every bad input (missing file, malformed data, unknown user or item, bad config) ends in one line
``error: ...`` on stderr and exit status 2, never a stack trace.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genrec.config import ConfigError
from genrec.config import load as load_config
from genrec.data import BUILTIN, DataError, Dataset, UnknownItemError, load_builtin, load_dataset
from genrec.data.readers import load_seed_csv
from genrec.data.split import SequenceSplit, leave_one_out
from genrec.evaluation import evaluate
from genrec.models import model_class, registry
from genrec.recommender import ModelDirError, Recommender, UnknownUserError
from genrec.serving.store import StoreError

USER_ERRORS = (
    DataError,
    ConfigError,
    UnknownUserError,
    UnknownItemError,
    ModelDirError,
    StoreError,
    FileNotFoundError,
    ValueError,
)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def _add_data_args(
    parser: argparse.ArgumentParser, required: bool = True, positional: bool = False
) -> None:
    group = parser.add_argument_group("data")
    help_text = (
        f"a built-in dataset ({', '.join(BUILTIN)}) or an interactions file "
        "(CSV, TSV, Parquet, JSON Lines)"
    )
    if positional:
        group.add_argument("data", help=help_text)
    else:
        group.add_argument("--data", required=required, help=help_text)
    group.add_argument("--catalog", help="item catalog file (item id, title, categories, ...)")
    group.add_argument("--users", help="user attributes file")
    group.add_argument(
        "--layout",
        choices=["log", "seed"],
        default="log",
        help="'log': one interaction per row; 'seed': the seed article's data.csv, one session "
        "per row with the history as a list in one cell",
    )
    group.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="FIELD=NAME",
        help="map a field to your column name, e.g. --column user_id=customer (repeatable)",
    )
    group.add_argument(
        "--lenient", action="store_true", help="drop and count bad rows instead of failing"
    )
    group.add_argument("--min-rating", type=float, help="only ratings >= this count as positive")
    group.add_argument("--k-core", type=int, help="keep users and items with >= k interactions")
    group.add_argument("--last-n", type=int, help="keep each user's last N interactions")


def _data_spec(args: argparse.Namespace) -> dict[str, Any]:
    columns = {}
    for pair in args.column:
        field, sep, name = pair.partition("=")
        if not sep or not field or not name:
            raise ConfigError(f"--column expects FIELD=NAME, got {pair!r}")
        columns[field.strip()] = name.strip()
    return {
        "data": args.data,
        "catalog": args.catalog,
        "users": args.users,
        "layout": args.layout,
        "columns": columns,
        "strict": not args.lenient,
        "min_rating": args.min_rating,
        "k_core": args.k_core,
        "last_n": args.last_n,
    }


def load_from_spec(spec: dict[str, Any]) -> Dataset:
    """Load the dataset a spec names (built-in name or user's files), as the CLI records it."""
    filters = {k: spec.get(k) for k in ("min_rating", "k_core", "last_n")}
    if spec["data"] in BUILTIN:
        return load_builtin(spec["data"], **filters)
    if spec.get("layout") == "seed":
        if any(v is not None for v in filters.values()):
            raise ConfigError("--min-rating/--k-core/--last-n are not available for --layout seed")
        return load_seed_csv(
            spec["data"],
            spec.get("catalog"),
            columns=spec.get("columns") or None,
            strict=spec.get("strict", True),
        )
    if not Path(spec["data"]).exists():
        raise DataError(
            f"'{spec['data']}' is neither a built-in dataset ({', '.join(BUILTIN)}) nor a file"
        )
    return load_dataset(
        spec["data"],
        spec.get("catalog"),
        spec.get("users"),
        columns=spec.get("columns") or None,
        strict=spec.get("strict", True),
        **filters,
    )


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


# ---------------------------------------------------------------------------------- commands
def cmd_data_info(args: argparse.Namespace) -> int:
    dataset = load_from_spec(_data_spec(args))
    info = dataset.info()
    if args.json:
        _print_json({**info, "report": dataset.report.to_dict()})
        return 0
    for line in dataset.report.lines():
        print(line, file=sys.stderr)
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    return 0


def train_model(
    kind: str,
    spec: dict[str, Any],
    out: Path,
    *,
    config_file: str | None = None,
    seed: int = 0,
    progress: bool = True,
    resume: bool = False,
    overrides: dict[str, Any] | None = None,
) -> tuple[Recommender, Dataset]:
    """Load data, fit a model of ``kind`` and save it with its data spec; shared by CLI commands.
    ``overrides`` are config fields that win over the file (None values are ignored)."""
    klass = model_class(kind)
    extra = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(extra) - {f.name for f in dataclasses.fields(klass.config_class)})
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        raise ConfigError(f"{flags} does not apply to --model {kind}")
    config: object = load_config(klass.config_class, config_file, **extra)
    dataset = load_from_spec(spec)
    for line in dataset.report.lines():
        print(line, file=sys.stderr)
    started = time.perf_counter()
    model = klass(config)
    if hasattr(model, "checkpoint_root"):
        if not resume:
            shutil.rmtree(out / "checkpoint", ignore_errors=True)
        model.checkpoint_root = out
    model.fit(dataset, seed=seed, progress=progress)
    model.fit_info.update(
        {"data": spec, "seed": seed, "fit_seconds": round(time.perf_counter() - started, 3)}
    )
    model.save(out)
    return model, dataset


def cmd_train(args: argparse.Namespace) -> int:
    model, _ = train_model(
        args.model,
        _data_spec(args),
        Path(args.out),
        config_file=args.config,
        seed=args.seed,
        progress=not args.quiet,
        overrides={"base": args.base, "lora": args.lora},
    )
    summary = {k: v for k, v in model.fit_info.items() if k not in ("curve", "data")}
    print(f"trained {args.model} in {model.fit_info['fit_seconds']:.1f}s -> {args.out}")
    print(json.dumps(summary, default=str))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = Recommender.load(args.model_dir)
    spec, _ = _given_or_recorded_data(args, model)
    if not spec:
        raise ConfigError("this model records no dataset; pass --data")
    dataset = load_from_spec(spec)
    if len(dataset.catalog) != len(model._require_catalog()):
        raise DataError("the dataset's catalog differs from the one the model was trained on")
    split = leave_one_out(dataset)
    result = evaluate(
        model, split, args.split, exclude_seen=not args.include_seen, progress=not args.json
    )
    row = {"model": model.kind, "dataset": dataset.name, **result.to_dict()}
    if args.json:
        _print_json(row)
        return 0
    print(
        f"{model.kind} on {dataset.name} ({args.split}, {len(split.users)} users, "
        f"seen items {'included' if args.include_seen else 'excluded'})"
    )
    for key, value in result.metrics.items():
        print(f"  {key:<14}{value:.4f}")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    model = Recommender.load(args.model_dir)
    history = [h for h in args.history.split(",") if h] if args.history is not None else None
    if args.user is None and history is None and not args.request:
        raise ConfigError("give --user ID, --history ID,ID,... or --request TEXT")
    result = model.recommend_with_text(
        user=args.user,
        history=history,
        k=args.k,
        exclude=[e for e in (args.exclude or "").split(",") if e],
        exclude_seen=not args.include_seen,
        request=args.request,
        categories=[c for c in (args.category or "").split(",") if c] or None,
    )
    if args.json:
        _print_json(result.to_dict())
        return 0
    who = f"user {args.user}" if args.user is not None else "the given history"
    print(
        f"top {len(result.items)} for {who}"
        + (f" asking {args.request!r}:" if args.request else ":")
    )
    for rank, rec in enumerate(result.items, start=1):
        print(f"{rank:>3}. {rec.title}  [{rec.item_id}]  score {rec.score:.4f}")
    print(result.text)
    return 0


DEMO_REQUESTS = (
    ("I want a scary movie", "我想看一部恐怖片"),
    ("something funny and light for tonight", "推荐一部轻松的喜剧片"),
)


def cmd_demo(args: argparse.Namespace) -> int:
    from genrec.generative.recommender import GenerativeConfig, GenerativeRecommender

    out = Path(args.out)
    spec = {"data": "ml-100k", "layout": "log", "columns": {}, "strict": True,
            "min_rating": None, "k_core": None, "last_n": None}  # fmt: skip
    dataset = load_from_spec(spec)
    split = leave_one_out(dataset)
    config = GenerativeConfig(max_epochs=args.epochs, eval_every=2, patience=3)
    print(
        f"genrec demo: training the generative model on ml-100k ({len(split.users)} users, "
        f"{len(dataset.catalog)} movies), up to {args.epochs} epochs -> {out}"
    )
    started = time.perf_counter()
    model = GenerativeRecommender(config).fit(dataset, split, seed=0, progress=True)
    model.fit_info.update(
        {"data": spec, "seed": 0, "fit_seconds": round(time.perf_counter() - started, 3)}
    )
    model.save(out)
    assert model.index is not None
    index = model.index.stats()
    print(
        f"trained in {time.perf_counter() - started:.0f}s; semantic IDs: "
        f"{index['distinct_prefixes']} prefixes, all unique: {index['code_tuples_unique']}"
    )
    metrics = evaluate(model, split, "test", progress=True).metrics
    print(
        f"test ({len(split.users)} users, full catalog, seen items excluded): "
        f"NDCG@10 {metrics['ndcg@10']:.4f}  Recall@10 {metrics['recall@10']:.4f}  "
        f"MRR {metrics['mrr']:.4f}  coverage {metrics['coverage']:.3f}  "
        f"invalid items {metrics['invalid_rate']:.0%}"
    )
    catalog = model._require_catalog()
    for user, requests in zip(("1", "42"), DEMO_REQUESTS, strict=True):
        last = [str(catalog.items.at[int(i), "title"]) for i in model.histories[user][-3:]]
        print(f"\nuser {user} recently watched: {'; '.join(last)}")
        for request in (None, *requests):
            result = model.recommend_with_text(user=user, k=5, request=request)
            print(f"  request: {request or '(none)'}")
            print(f"    {result.text}")
    print(
        f"\nmodel saved in {out}; try:\n  .venv/bin/genrec recommend --model-dir {out} "
        f"--user 7 --request 'a romantic comedy'"
    )
    return 0


_UNIT_MINUTES = {"s": 1 / 60, "sec": 1 / 60, "m": 1.0, "min": 1.0, "h": 60.0}


def _seed(text: str) -> int:
    """--seed: a whole number in [0, 2**32 - 1] (what NumPy's and torch's seeding accept)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number in [0, 2**32 - 1]")
    return value


def _learn_every(text: str) -> tuple[int, float]:
    """--learn-every: '500' is (500 events, 0 minutes); '30min', '90s' or '2h' is (0, minutes)."""
    value = text.strip().lower()
    if value.isdigit():
        return int(value), 0.0
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = value[len(number) :]
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if unit not in _UNIT_MINUTES or not amount > 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a number of events (500) nor a duration (30min, 90s, 2h)"
        )
    return 0, amount * _UNIT_MINUTES[unit]


def cmd_serve(args: argparse.Namespace) -> int:
    from genrec.serving.runner import run
    from genrec.serving.service import resolve_model_dir
    from genrec.serving.settings import load_settings

    settings = load_settings(
        args.config,
        model_dir=args.model_dir,
        db=args.db,
        host=args.host,
        port=args.port,
        workers=args.workers,
        insecure_dev=True if args.insecure_dev else None,
        reload_poll_seconds=args.reload_poll,
        learn_every=None if args.learn_every is None else args.learn_every[0],
        learn_every_minutes=None if args.learn_every is None else args.learn_every[1],
    )
    settings.check_startable()
    path = resolve_model_dir(settings.model_dir)
    if not settings.api_keys:
        print("warning: --insecure-dev: feedback and admin endpoints are open", file=sys.stderr)
    print(
        f"genrec serve: model {path}, {settings.workers} worker(s), "
        f"http://{settings.host}:{settings.port}/ (API docs at /docs)",
        file=sys.stderr,
    )
    run(settings, log_level=args.log_level, access_log=args.access_log)
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from genrec.generative.recommender import GenerativeRecommender
    from genrec.learning import (
        FinetuneConfig,
        build_examples,
        finetune,
        next_version_dir,
        promotion_check,
        read_feedback,
        save_version,
    )
    from genrec.llm.recommender import LLMRecommender
    from genrec.serving.service import CURRENT_FILE, model_version, resolve_model_dir

    root = Path(args.model_dir)
    parent = resolve_model_dir(root)
    model = Recommender.load(parent)
    if not isinstance(model, GenerativeRecommender | LLMRecommender):
        raise ConfigError(
            f"{parent} holds a '{model.kind}' model; finetune needs a generative or llm one"
        )
    in_versions = parent != root
    if args.out:
        out = Path(args.out)
    elif in_versions:
        out = next_version_dir(root)
    else:
        raise ConfigError(
            f"{root} holds one model, not a folder of versions: give --out DIR for the new one"
        )
    config = load_config(FinetuneConfig, args.config) if args.config else FinetuneConfig()
    if args.seed is not None:
        config = dataclasses.replace(config, seed=args.seed)
    config.validate()
    if args.new_items:
        from genrec.data.readers import read_catalog

        items = read_catalog(args.new_items)
        catalog = model._require_catalog()
        fresh = items[~items["item_id"].isin(set(catalog.item_ids))]
        if len(fresh):
            model.add_items(fresh)  # semantic IDs from the stored centroids; learned below
        print(f"new items: {len(fresh)} added, {len(items) - len(fresh)} already known",
              file=sys.stderr)  # fmt: skip
    feedback, served = read_feedback(args.feedback, args.served)
    if args.since is not None and "received_at" in feedback:
        import pandas as pd

        since = pd.Timestamp(float(args.since), unit="s", tz="UTC")
        feedback = feedback[feedback["received_at"] >= since]
    examples = build_examples(model, feedback, served, config)
    print(f"feedback: {json.dumps(examples.stats)}", file=sys.stderr)
    new, report = finetune(model, examples, config, progress=not args.quiet)
    split, why_unchecked = _guard_split(args, new)
    promotion = promotion_check(model, new, split, config.tolerance)
    if split is None:
        promotion = dataclasses.replace(promotion, reason=why_unchecked)
        print(f"warning: {why_unchecked}", file=sys.stderr)
    report["promotion"] = promotion.to_dict()
    save_version(new, out, parent=parent, parent_version=model_version(parent),
                 report=report, promoted=promotion.promoted)  # fmt: skip
    if in_versions and out.parent.resolve() == root.resolve():
        chosen = out.name if promotion.promoted else parent.name
        (root / CURRENT_FILE).write_text(chosen + "\n")
    verdict = "promoted" if promotion.promoted else "NOT promoted (the old model stays)"
    print(f"wrote {out} ({config.objective}, {report['steps']} steps): {verdict}; "
          f"{promotion.reason}")  # fmt: skip
    return 0


def _given_or_recorded_data(
    args: argparse.Namespace, model: Recommender
) -> tuple[dict[str, Any], str]:
    """The data spec of --data, else the one the model records it was trained on (empty if
    none), and which of the two it is."""
    if args.data:
        return _data_spec(args), "--data"
    recorded = dict(model.fit_info.get("data") or {})  # type: ignore[call-overload]
    return recorded, "the dataset the model was trained on"


def _guard_split(args: argparse.Namespace, model: Recommender) -> tuple[SequenceSplit | None, str]:
    """The validation split of the promotion guard, or None and why the guard is not run.

    --data names it; without --data it is the dataset the model records it was trained on (so
    online learning is guarded too); --no-validate turns the guard off."""
    if args.no_validate:
        return None, "validation guard off (--no-validate): promoted unchecked"
    spec, source = _given_or_recorded_data(args, model)
    if not spec:
        return (
            None,
            "no validation data (the model records no dataset; give --data): promoted unchecked",
        )
    try:
        dataset = load_from_spec(spec)
    except (DataError, ConfigError, OSError) as exc:
        return None, f"validation data ({source}) could not be loaded: {exc}; promoted unchecked"
    ids = list(dataset.catalog.item_ids)
    known = list(model._require_catalog().item_ids)
    if known[: len(ids)] != ids:
        raise DataError(
            f"the validation data ({source}) has a different catalog from the model's: its item "
            "numbering would not match"
        )
    split = leave_one_out(dataset)
    # Items added after training (--new-items) are real candidates of the tuned model.
    return dataclasses.replace(split, n_items=len(known)), ""


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from genrec.serving.store import FeedbackStore, default_sqlite_url

    if args.db is None and args.model_dir is None:
        raise ConfigError("give --db URL or --model-dir DIR (its feedback.sqlite3)")
    url = args.db or default_sqlite_url(Path(args.model_dir))
    store = FeedbackStore(url)
    try:
        out = store.export(args.out, table=args.table)
        count = store.count_feedback() if args.table == "feedback" else len(store.served_frame())
    finally:
        store.close()
    print(f"wrote {count} {args.table} rows from {store.display_url} to {out}")
    return 0


# ----------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genrec",
        description="genrec: a generative recommender grounded to a real catalog.",
        formatter_class=_Formatter,
        epilog="example:\n  genrec train --model sasrec --data ml-100k --out artifacts/sasrec\n"
        "  genrec recommend --model-dir artifacts/sasrec --user 1",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="inspect datasets", formatter_class=_Formatter)
    data_sub = data.add_subparsers(dest="data_command", required=True)
    info = data_sub.add_parser(
        "info",
        help="counts and checks for a dataset",
        formatter_class=_Formatter,
        epilog="examples:\n  genrec data info ml-100k --json\n"
        "  genrec data info ratings.csv --catalog items.csv --column user_id=customer",
    )
    _add_data_args(info, positional=True)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=cmd_data_info)

    train = sub.add_parser(
        "train",
        help="train a model and save it to a directory",
        formatter_class=_Formatter,
        epilog="examples:\n  genrec train --model generative --data ml-100k --out artifacts/gen\n"
        "  genrec train --model sasrec --data ml-100k --out artifacts/sasrec --seed 1\n"
        "  genrec train --model itemknn --data log.csv --catalog items.csv --out m\n"
        "  genrec train --model llm --data ml-100k --out artifacts/llm --lora",
    )
    train.add_argument("--model", required=True, choices=sorted(registry()))
    _add_data_args(train)
    train.add_argument("--out", required=True, help="directory to write the model to")
    train.add_argument("--config", help="JSON or TOML file of the model's settings")
    train.add_argument("--seed", type=_seed, default=0)
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

    ev = sub.add_parser(
        "evaluate",
        help="full-catalog ranking metrics on the leave-one-out split",
        formatter_class=_Formatter,
        epilog="example:\n  genrec evaluate --model-dir artifacts/sasrec --data ml-100k --json",
    )
    ev.add_argument("--model-dir", required=True)
    ev.add_argument("--split", choices=["test", "valid"], default="test")
    ev.add_argument(
        "--include-seen",
        action="store_true",
        help="keep the user's history items among the candidates (RecBole's sequential setting)",
    )
    ev.add_argument("--json", action="store_true")
    _add_data_args(ev, required=False)
    ev.set_defaults(func=cmd_evaluate)

    rec = sub.add_parser(
        "recommend",
        help="recommend items for a user or a history",
        formatter_class=_Formatter,
        epilog="examples:\n  genrec recommend --model-dir artifacts/demo --user 1 -k 5\n"
        "  genrec recommend --model-dir artifacts/demo --history 50,181,172 --json\n"
        "  genrec recommend --model-dir artifacts/demo --user 1 --request 'I want a scary movie'\n"
        "  genrec recommend --model-dir artifacts/demo --request '我想看一部恐怖片'",
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
    rec.set_defaults(func=cmd_recommend)

    demo = sub.add_parser(
        "demo",
        help="train the generative model on ml-100k, evaluate, recommend (what `make demo` runs)",
        formatter_class=_Formatter,
        epilog="example:\n  genrec demo --out artifacts/demo",
    )
    demo.add_argument("--out", default="artifacts/demo")
    demo.add_argument("--epochs", type=int, default=16, help="training epochs at most")
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser(
        "serve",
        help="serve recommendations and collect feedback over HTTP",
        formatter_class=_Formatter,
        epilog="examples:\n  GENREC_API_KEYS=$(openssl rand -hex 16) genrec serve --model-dir "
        "artifacts/demo\n  genrec serve --model-dir artifacts/demo --insecure-dev --port 8080\n"
        "  genrec serve --model-dir models/ --db postgresql://user:pw@host/db --workers 4\n\n"
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
        type=_learn_every,
        metavar="N|Mmin",
        help="fine-tune on feedback after N new events (e.g. 500), or every M minutes that saw "
        "feedback (e.g. 30min, 2h), and serve the result (needs a folder of versions; default: "
        "never)",
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

    ft = sub.add_parser(
        "finetune",
        help="update a generative model from logged feedback into a new version",
        formatter_class=_Formatter,
        epilog="examples:\n  genrec finetune --model-dir models/ --feedback sqlite:///models/"
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
    ft.add_argument("--seed", type=_seed)
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
    _add_data_args(ft, required=False)
    ft.set_defaults(func=cmd_finetune)

    fb = sub.add_parser("feedback", help="the feedback store", formatter_class=_Formatter)
    fb_sub = fb.add_subparsers(dest="feedback_command", required=True)
    export = fb_sub.add_parser(
        "export",
        help="write stored feedback (or served lists) to Parquet, CSV or JSON Lines",
        formatter_class=_Formatter,
        epilog="examples:\n  genrec feedback export --model-dir artifacts/demo --out fb.parquet\n"
        "  genrec feedback export --db postgresql://u:p@host/db --table served --out s.csv",
    )
    export.add_argument("--db", help="store URL")
    export.add_argument("--model-dir", help="use the SQLite store of this model dir")
    export.add_argument("--table", choices=["feedback", "served"], default="feedback")
    export.add_argument("--out", required=True, help="file: .parquet, .csv or .jsonl")
    export.set_defaults(func=cmd_feedback_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except USER_ERRORS as exc:
        message = str(exc).strip("'\"") if isinstance(exc, KeyError) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `genrec ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
