"""Model folders and versions: train into a folder, load what to serve, fine-tune into a new
version behind the promotion guard. The CLI, the service's online learning and the benchmarks
all go through these functions.

A model folder is either one saved model (it has ``genrec.json``) or a folder of versions, each a
saved model in its own subfolder (``v0001``, ``v0002``, ...). The version in use is the one a
``CURRENT`` file names, or else the last subfolder in name order. A fine-tune writes the next
``vNNNN`` and points ``CURRENT`` at it only if it passes the guard (:func:`promotion_check`: the
newest feedback, held out of the fine-tune, must not be ranked worse, and validation NDCG@10 may
fall by at most the config's ``tolerance``, or by what the newest feedback gained); an existing
version is never overwritten.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from genrec import distributed
from genrec.config import ConfigError
from genrec.config import load as load_config
from genrec.data.readers import read_catalog
from genrec.data.schema import DataError, Dataset
from genrec.data.spec import DataSpec
from genrec.data.split import SequenceSplit, leave_one_out
from genrec.evaluation import evaluate
from genrec.learning import FinetuneConfig, build_examples, finetune, read_feedback
from genrec.learning.backbones import backbone_for
from genrec.learning.examples import FeedbackExamples
from genrec.learning.holdout import holdout_examples, in_list_auc, split_recent
from genrec.models import load, model_class
from genrec.recommender import META_FILE, ModelDirError, Recommender

CURRENT_FILE = "CURRENT"


# ------------------------------------------------------------------------ folders and versions
def resolve_model_dir(root: str | Path) -> Path:
    """The saved model to use from ``root``: itself, or the version ``CURRENT`` names, or else
    its last version subfolder."""
    base = Path(root)
    if not base.is_dir():
        raise ModelDirError(f"model folder {base} does not exist")
    if (base / META_FILE).is_file():
        return base
    current = base / CURRENT_FILE
    if current.is_file():
        name = current.read_text().strip()
        chosen = base / name
        if not name or not (chosen / META_FILE).is_file():
            raise ModelDirError(f"{current} names '{name}', which is not a saved model in {base}")
        return chosen
    versions = sorted(d for d in base.iterdir() if (d / META_FILE).is_file())
    if not versions:
        raise ModelDirError(
            f"{base} holds no saved model (no {META_FILE} in it or in any subfolder); "
            "train one with `genrec train ... --out DIR` or `genrec demo`"
        )
    return versions[-1]


def load_current(root: str | Path) -> Recommender:
    """The model in use in ``root``: a saved model folder, or the version a folder of versions
    serves (see :func:`resolve_model_dir`)."""
    return load(resolve_model_dir(root))


def model_version(path: str | Path) -> str:
    """A model's version: ``version`` from its ``genrec.json`` if set, else the folder name plus
    a short digest of its metadata and files (so a rewritten model is a new version)."""
    folder = Path(path)
    meta_bytes = (folder / META_FILE).read_bytes()
    try:
        declared = json.loads(meta_bytes).get("version")
    except (ValueError, AttributeError):
        declared = None
    if declared:
        return str(declared)
    digest = hashlib.sha256(meta_bytes)
    for item in sorted(folder.rglob("*")):
        if item.is_file() and item.name != META_FILE:
            stat = item.stat()
            digest.update(f"{item.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{folder.name}-{digest.hexdigest()[:10]}"


def next_version_dir(root: Path) -> Path:
    """``root/vNNNN`` one past the highest numbered version in ``root``."""
    numbers = [int(d.name[1:]) for d in root.glob("v[0-9]*") if d.name[1:].isdigit()]
    return root / f"v{max(numbers, default=0) + 1:04d}"


def set_current(root: Path, name: str) -> None:
    """Point ``root/CURRENT`` at version ``name``, atomically (a reader never sees half)."""
    if not (root / name / META_FILE).is_file():
        raise ModelDirError(f"{root / name} is not a saved model; CURRENT left as it was")
    tmp = root / f".{CURRENT_FILE}.{os.getpid()}.tmp"
    tmp.write_text(name + "\n")
    tmp.replace(root / CURRENT_FILE)


def save_version(
    model: Recommender,
    out: Path,
    *,
    parent: Path,
    parent_version: str,
    report: dict[str, Any],
    promoted: bool,
) -> Path:
    """Write a fine-tuned model as a new version; an existing non-empty folder is refused."""
    if out.exists() and any(out.iterdir()):
        raise ModelDirError(
            f"{out} already exists and is not empty; versions are never overwritten"
        )
    model.fit_info = {
        **model.fit_info,
        "version": out.name,
        "lineage": {
            "parent_version": parent_version,
            "parent_path": str(parent),
            "finetuned_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "promoted": promoted,
            **report,
        },
    }
    return model.save(out)


# ------------------------------------------------------------------------------------ training
def train(
    kind: str,
    dataset: Dataset,
    out: str | Path,
    *,
    data_spec: DataSpec | None = None,
    config_file: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
    resume: bool = False,
    overrides: dict[str, Any] | None = None,
) -> Recommender:
    """Fit a model of ``kind`` on ``dataset`` and save it to ``out`` with the spec of its data
    (so evaluation and the fine-tune guard can reload it). ``overrides`` are config fields that
    win over the file (None values are ignored). Models with checkpoints write them to
    ``out/checkpoint``; ``resume`` continues from there."""
    klass = model_class(kind)
    extra = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(extra) - {f.name for f in dataclasses.fields(klass.config_class)})
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        raise ConfigError(f"{flags} does not apply to --model {kind}")
    target = Path(out)
    model = klass(load_config(klass.config_class, config_file, **extra))
    if hasattr(model, "checkpoint_root"):
        if not resume and distributed.current().main:
            shutil.rmtree(target / "checkpoint", ignore_errors=True)
        distributed.current().barrier()  # no rank reads a checkpoint rank 0 is removing
        model.checkpoint_root = target
    started = time.perf_counter()
    model.fit(dataset, seed=seed, progress=progress)
    model.fit_info.update({
        "data": data_spec.to_dict() if data_spec is not None else None,
        "seed": seed,
        "fit_seconds": round(time.perf_counter() - started, 3),
    })  # fmt: skip
    sharding = distributed.current()
    if sharding.main:  # under torchrun, one writer
        model.save(target)
    sharding.barrier()  # the folder is complete when any rank returns
    return model


def recorded_data(model: Recommender) -> DataSpec | None:
    """The spec of the dataset the model records it was trained on, if any."""
    recorded = model.fit_info.get("data")
    return DataSpec.from_dict(recorded) if isinstance(recorded, dict) and recorded else None


# ------------------------------------------------------------------------- promotion guard
@dataclass(frozen=True)
class Promotion:
    """Whether a fine-tuned model may replace its parent: validation NDCG@10 (``before`` /
    ``after``) and, when there was one, the in-list AUC on the recent holdout of the feedback
    (``recent_before`` / ``recent_after``). ``checks`` says what each check found."""

    promoted: bool
    before: float | None
    after: float | None
    tolerance: float
    reason: str
    recent_before: float | None = None
    recent_after: float | None = None
    checks: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def relative_change(before: float, after: float) -> float:
    return (after - before) / before if before > 0 and math.isfinite(before) else 0.0


def _valid_ndcg(model: Recommender, split: SequenceSplit) -> float:
    return evaluate(model, split, "valid").metrics["ndcg@10"]


def promotion_check(
    before_model: Recommender,
    after_model: Recommender,
    split: SequenceSplit | None,
    tolerance: float,
    *,
    recent: FeedbackExamples | None = None,
    max_forgetting: float = 0.1,
) -> Promotion:
    """Promote unless a check fails. ``recent`` (the newest feedback's lists, see
    :mod:`genrec.learning.holdout`): the in-list AUC on it may fall by at most ``tolerance``.
    ``split`` (the old validation items): NDCG@10 may fall by at most ``tolerance``, or by as
    much as the in-list AUC rose, up to ``max_forgetting``: a fine-tune that follows newer
    taste may give up a little of the old one, one that only forgets is refused (relative
    changes)."""
    checks: dict[str, str] = {}
    allowed, recent_ok, scores = tolerance, True, {}
    if recent is not None:
        r0, r1 = in_list_auc(before_model, recent), in_list_auc(after_model, recent)
        gain = relative_change(r0, r1)
        recent_ok = gain >= -tolerance
        allowed = max(tolerance, min(gain, max_forgetting))
        scores = {"recent_before": r0, "recent_after": r1}
        checks["recent"] = f"{'passed' if recent_ok else 'failed'}: in-list AUC {gain:+.1%}"
    if split is None:
        reason = "no validation data given: not checked"
        checks["validation"] = "not run"
        promoted = recent_ok
        before = after = None
    else:
        before, after = _valid_ndcg(before_model, split), _valid_ndcg(after_model, split)
        change = relative_change(before, after)
        valid_ok = change >= -allowed
        checks["validation"] = (f"{'passed' if valid_ok else 'failed'}: NDCG@10 {change:+.1%} "
                                f"(may fall {allowed:.1%})")  # fmt: skip
        promoted = recent_ok and valid_ok
        reason = f"validation NDCG@10 changed {change:+.1%}"
        if not valid_ok:
            reason = f"validation NDCG@10 fell {-change:.1%} (> {allowed:.1%})"
    if "recent" in checks:
        reason = f"recent feedback in-list AUC {gain:+.1%}; {reason}"
    return Promotion(promoted, before, after, tolerance, reason, checks=checks, **scores)


def validation_split(
    model: Recommender, data: DataSpec | None = None
) -> tuple[SequenceSplit | None, str]:
    """The guard's validation split, or None and why the guard cannot run.

    ``data`` names it; without it, it is the dataset the model records it was trained on (so
    online learning is guarded too)."""
    source = "--data" if data is not None else "the dataset the model was trained on"
    spec = data if data is not None else recorded_data(model)
    if spec is None:
        return None, "no validation data (the model records no dataset; give --data): " + (
            "promoted unchecked"
        )
    try:
        dataset = spec.load()
    except (DataError, ConfigError, OSError) as exc:
        return None, f"validation data ({source}) could not be loaded: {exc}; promoted unchecked"
    ids = list(dataset.catalog.item_ids)
    known = list(model.require_catalog().item_ids)
    if known[: len(ids)] != ids:
        raise DataError(
            f"the validation data ({source}) has a different catalog from the model's: its item "
            "numbering would not match"
        )
    split = leave_one_out(dataset)
    # Items added after training (new catalog items) are real candidates of the tuned model.
    return dataclasses.replace(split, n_items=len(known)), ""


# ------------------------------------------------------------------------------ fine-tuning
@dataclass(frozen=True)
class FinetuneOutcome:
    """What :func:`finetune_version` did: the new version, whether it is now the one in use,
    and its report (also recorded in the version's ``genrec.json`` as its lineage)."""

    path: Path
    promotion: Promotion
    report: dict[str, Any]
    new_items_added: int = 0
    new_items_known: int = 0

    @property
    def promoted(self) -> bool:
        return self.promotion.promoted


def finetune_version(
    model_dir: str | Path,
    feedback: str | Path,
    *,
    served: str | Path | None = None,
    out: str | Path | None = None,
    config: FinetuneConfig | None = None,
    new_items: str | Path | None = None,
    since: float | None = None,
    validation: DataSpec | None = None,
    guard: bool = True,
    progress: bool = False,
    candidate: bool = False,
) -> FinetuneOutcome:
    """Fine-tune the model in use in ``model_dir`` on logged feedback into a new version.

    ``feedback`` is a store URL or a file ``genrec feedback export`` wrote (``served`` the
    served-lists file beside it); ``since`` keeps events received at or after that Unix time;
    ``new_items`` is a catalog file whose unknown items join the model first. With a folder of
    versions the result is the next ``vNNNN`` and ``CURRENT`` moves to it if the guard passes
    (validation on ``validation``, by default the dataset the model records; ``guard=False``
    promotes unchecked; ``candidate`` leaves ``CURRENT`` as it is, for an A/B test); with a single
    model folder, ``out`` names the new one."""
    root = Path(model_dir)
    parent = resolve_model_dir(root)
    model = load(parent)
    try:
        backbone_for(model)
    except TypeError:
        raise ConfigError(
            f"{parent} holds a '{model.kind}' model; finetune needs a generative or llm one"
        ) from None
    in_versions = parent != root
    target = _new_version_path(root, in_versions, out)
    config = config or FinetuneConfig()
    config.validate()
    added, known = _add_new_items(model, new_items) if new_items else (0, 0)
    events, lists = read_feedback(str(feedback), str(served) if served else None)
    if since is not None and "received_at" in events:
        events = events[events["received_at"] >= pd.Timestamp(float(since), unit="s", tz="UTC")]
    split, why_unchecked = validation_split(model, validation) if guard else (None, "")
    if not guard:
        config = dataclasses.replace(config, recent_share=0.0)
    tuned, report, promotion = guarded_finetune(model, events, lists, config, split,
                                                progress=progress)  # fmt: skip
    if not guard:
        why_unchecked = "validation guard off (--no-validate): promoted unchecked"
    if split is None and promotion.recent_before is None:
        promotion = dataclasses.replace(promotion, reason=why_unchecked)
    elif split is None:
        promotion = dataclasses.replace(promotion, reason=f"{promotion.reason}; {why_unchecked}")
    report["promotion"] = promotion.to_dict()
    save_version(tuned, target, parent=parent, parent_version=model_version(parent),
                 report=report, promoted=promotion.promoted)  # fmt: skip
    if in_versions and target.parent.resolve() == root.resolve():
        promoted = promotion.promoted and not candidate
        set_current(root, target.name if promoted else parent.name)
    return FinetuneOutcome(target, promotion, report, added, known)


def guarded_finetune(
    model: Recommender,
    events: pd.DataFrame,
    lists: pd.DataFrame | None,
    config: FinetuneConfig,
    split: SequenceSplit | None,
    *,
    progress: bool = False,
) -> tuple[Recommender, dict[str, Any], Promotion]:
    """Fine-tune on all but the newest ``config.recent_share`` of the served lists' feedback and
    check the result (:func:`promotion_check`) on that newest feedback and on ``split``. With
    too little recent feedback to check, it trains on all of it."""
    older, newest = split_recent(events, lists, config.recent_share)
    recent = holdout_examples(model, newest, lists, config)
    examples = build_examples(model, older if recent is not None else events, lists, config)
    tuned, report = finetune(model, examples, config, progress=progress)
    promotion = promotion_check(model, tuned, split, config.tolerance, recent=recent,
                                max_forgetting=config.max_forgetting)  # fmt: skip
    report["recent_holdout"] = len(recent) if recent is not None else 0
    return tuned, report, promotion


def _new_version_path(root: Path, in_versions: bool, out: str | Path | None) -> Path:
    if out is not None:
        return Path(out)
    if in_versions:
        return next_version_dir(root)
    raise ConfigError(
        f"{root} holds one model, not a folder of versions: give --out DIR for the new one"
    )


def _add_new_items(model: Recommender, path: str | Path) -> tuple[int, int]:
    """Add the catalog file's items the model does not know; returns (added, already known).
    New items get semantic IDs (or titles in the trie) now and are learned by the fine-tune."""
    items = read_catalog(path)
    known = set(model.require_catalog().item_ids)
    fresh = items[~items["item_id"].isin(known)]
    if len(fresh):
        add_items = getattr(model, "add_items", None)
        if add_items is None:
            raise ConfigError(f"a '{model.kind}' model cannot take new catalog items")
        add_items(fresh)
    return len(fresh), len(items) - len(fresh)
