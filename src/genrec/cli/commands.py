"""The commands: each reads its flags, calls the library, and prints what it did."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from genrec import distributed, lifecycle
from genrec.cli.arguments import comma_list, data_spec, print_json
from genrec.config import ConfigError
from genrec.config import load as load_config
from genrec.data.schema import DataError, Dataset
from genrec.data.spec import DataSpec
from genrec.data.split import leave_one_out
from genrec.evaluation import evaluate
from genrec.inference import recommend_all
from genrec.learning import FinetuneConfig
from genrec.recommender import ModelDirError
from genrec.store import default_sqlite_url, open_store


def load_data(spec: DataSpec) -> Dataset:
    """Load a dataset and show its validation report (warnings, notes) on stderr."""
    dataset = spec.load()
    for line in dataset.report.lines():
        print(line, file=sys.stderr)
    return dataset


def cmd_data_info(args: argparse.Namespace) -> int:
    dataset = data_spec(args).load()
    info = dataset.info()
    if args.json:
        print_json({**info, "report": dataset.report.to_dict()})
        return 0
    for line in dataset.report.lines():
        print(line, file=sys.stderr)
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    spec = data_spec(args)
    sharding = distributed.init_from_env()  # one process, or one of torchrun's
    try:
        model = lifecycle.train(
            args.model,
            load_data(spec),
            args.out,
            data_spec=spec,
            config_file=args.config,
            seed=args.seed,
            progress=not args.quiet,
            resume=args.resume,
            overrides={"base": args.base, "lora": args.lora},
        )
    finally:
        distributed.shutdown()
    if not sharding.main:
        return 0
    summary = {k: v for k, v in model.fit_info.items() if k not in ("curve", "data")}
    print(f"trained {args.model} in {model.fit_info['fit_seconds']:.1f}s -> {args.out}")
    print(json.dumps(summary, default=str))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = lifecycle.load_current(args.model_dir)
    spec = data_spec(args) if args.data else lifecycle.recorded_data(model)
    if spec is None:
        raise ConfigError("this model records no dataset; pass --data")
    dataset = load_data(spec)
    if len(dataset.catalog) != len(model.require_catalog()):
        raise DataError("the dataset's catalog differs from the one the model was trained on")
    split = leave_one_out(dataset)
    result = evaluate(
        model, split, args.split, exclude_seen=not args.include_seen, progress=not args.json
    )
    if args.json:
        print_json({"model": model.kind, "dataset": dataset.name, **result.to_dict()})
        return 0
    print(
        f"{model.kind} on {dataset.name} ({args.split}, {len(split.users)} users, "
        f"seen items {'included' if args.include_seen else 'excluded'})"
    )
    for key, value in result.metrics.items():
        print(f"  {key:<14}{value:.4f}")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    if args.all_users:
        return recommend_all_users(args)
    model = lifecycle.load_current(args.model_dir)
    history = comma_list(args.history) if args.history is not None else None
    if args.user is None and history is None and not args.request:
        raise ConfigError("give --user ID, --history ID,ID,... or --request TEXT")
    result = model.recommend_with_text(
        user=args.user,
        history=history,
        k=args.k,
        exclude=comma_list(args.exclude),
        exclude_seen=not args.include_seen,
        request=args.request,
        categories=comma_list(args.category) or None,
    )
    if args.json:
        print_json(result.to_dict())
        return 0
    who = (
        f"user {args.user}"
        if args.user is not None
        else "the given history"
        if history is not None
        else "a new user"
    )
    asking = f" asking {args.request!r}:" if args.request else ":"
    print(f"top {len(result.items)} for {who}{asking}")
    for rank, rec in enumerate(result.items, start=1):
        print(f"{rank:>3}. {rec.title}  [{rec.item_id}]  score {rec.score:.4f}")
    for constraint in result.understood:
        shown = {k: v for k, v in constraint.items() if k not in ("kind", "text")}
        print(f"  understood {constraint['kind']}: {constraint['text']!r} -> {shown}")
    print(result.text)
    return 0


def recommend_all_users(args: argparse.Namespace) -> int:
    if not args.out:
        raise ConfigError("--all-users writes to a file: give --out recs.parquet")
    single = [f for f in ("user", "history", "request", "exclude", "category") if getattr(args, f)]
    if single:
        flags = ", ".join("--" + f for f in single)
        raise ConfigError(f"--all-users recommends for every known user; drop {flags}")
    sharding = distributed.init_from_env()
    try:
        model = lifecycle.load_current(args.model_dir)
        started = time.perf_counter()
        out = recommend_all(
            model,
            args.out,
            k=args.k,
            batch_size=args.batch_size,
            exclude_seen=not args.include_seen,
            progress=not args.quiet,
        )
        seconds = time.perf_counter() - started
    finally:
        distributed.shutdown()
    if sharding.main:
        users = len(model.histories)
        rate = users / max(seconds, 1e-9)
        if args.json:
            summary = {"out": str(out), "users": users, "k": args.k, "seconds": round(seconds, 3)}
            print_json({**summary, "users_per_second": round(rate, 1), "processes": sharding.world})
        else:
            print(f"top {args.k} for {users} users -> {out} in {seconds:.1f}s "
                  f"({rate:.0f} users/s, {sharding.world} process(es))")  # fmt: skip
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from genrec.serving.runner import run
        from genrec.serving.settings import load_settings
    except ImportError as exc:
        raise ConfigError(
            f"serving needs the 'serve' extra (pip install 'genrec[serve]'): {exc}"
        ) from None
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
        ab=args.ab,
        promote_on_win=args.promote_on_win,
        ab_min_lists=args.ab_min_lists,
    )
    settings.check_startable()
    path = lifecycle.resolve_model_dir(settings.model_dir)
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
    config = load_config(FinetuneConfig, args.config, seed=args.seed)  # None: not overridden
    outcome = lifecycle.finetune_version(
        args.model_dir,
        args.feedback,
        served=args.served,
        out=args.out,
        config=config,
        new_items=args.new_items,
        since=args.since,
        validation=data_spec(args) if args.data else None,
        guard=not args.no_validate,
        progress=not args.quiet,
        candidate=args.candidate,
    )
    if args.new_items:
        print(f"new items: {outcome.new_items_added} added, {outcome.new_items_known} already "
              "known", file=sys.stderr)  # fmt: skip
    print(f"feedback: {json.dumps(outcome.report['examples'])}", file=sys.stderr)
    promotion = outcome.promotion
    if promotion.before is None:
        print(f"warning: {promotion.reason}", file=sys.stderr)
    verdict = "promoted" if promotion.promoted else "NOT promoted (the old model stays)"
    if args.candidate:
        verdict = ("passed the guard" if promotion.promoted else "failed the guard") + (
            f"; a candidate, CURRENT unchanged (A/B test it: genrec serve --ab "
            f"{outcome.path.name}=20%)"
        )
    print(f"wrote {outcome.path} ({config.objective}, {outcome.report['steps']} steps): "
          f"{verdict}; {promotion.reason}")  # fmt: skip
    return 0


def cmd_feedback_export(args: argparse.Namespace) -> int:
    if args.db is None and args.model_dir is None:
        raise ConfigError("give --db URL or --model-dir DIR (its feedback.sqlite3)")
    url = args.db or default_sqlite_url(Path(args.model_dir))
    store = open_store(url)
    try:
        out = store.export(args.out, table=args.table)
        count = store.count_feedback() if args.table == "feedback" else len(store.served_frame())
    finally:
        store.close()
    print(f"wrote {count} {args.table} rows from {store.display_url} to {out}")
    return 0


def _when(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{flag}: not an ISO 8601 time: {text!r} (e.g. 2026-12-01T08:00)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def cmd_report(args: argparse.Namespace) -> int:
    from genrec.abtest import compare_arms
    from genrec.monitoring import report_from_store

    if args.db is None and args.model_dir is None:
        raise ConfigError("give --db URL or --model-dir DIR (its feedback.sqlite3)")
    if args.window_hours <= 0:
        raise ConfigError(f"--window-hours must be positive, got {args.window_hours}")
    size = args.catalog_size
    if size is None and args.model_dir is not None:  # the catalog of the version in use
        try:
            catalog = lifecycle.resolve_model_dir(args.model_dir) / "catalog.parquet"
        except ModelDirError:  # a folder with a store but no model: coverage over served items
            catalog = None
        if catalog is not None and catalog.is_file():
            import pyarrow.parquet as pq

            size = pq.ParquetFile(catalog).metadata.num_rows
    url = args.db or default_sqlite_url(Path(args.model_dir))
    store = open_store(url)
    try:
        report = report_from_store(
            store, window=timedelta(hours=args.window_hours), since=_when(args.since, "--since"),
            until=_when(args.until, "--until"), bucket=args.bucket, catalog_size=size,
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        store.close()
    if args.json:
        out = report.to_dict()
        if len(report.arms):
            out["ab"] = compare_arms(report.arms).to_dict()
        print_json(out)
    else:
        print(f"online metrics from {store.display_url}")
        print(report.table())
        if len(report.arms):
            print("\nA/B test (lists that recorded an arm):")
            print(compare_arms(report.arms).text())
    if args.png:
        print(f"wrote {report.plot(args.png)}", file=sys.stderr if args.json else sys.stdout)
    return 0
