"""The model registry: every kind by name, and :func:`load` for a saved folder of any kind.

As transformers' ``AutoModel``: a saved folder records its kind (``genrec.json``), and
:func:`load` looks the kind up here and calls that class's ``load``. The built-in kinds are
listed below; a new kind joins with :func:`register` (see docs/architecture.md, "Add a model"),
or, from an installed package, through the ``genrec.models`` entry-point group, which is read the
first time the registry is asked (so ``genrec train --model <kind>`` sees it). Nothing below this
module imports it, so there is no cycle between the interface and the kinds.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from genrec.baselines.content import ContentRecommender
from genrec.baselines.itemknn import ItemKNNRecommender
from genrec.baselines.popular import PopularRecommender
from genrec.baselines.sasrec import SASRecRecommender
from genrec.generative.recommender import GenerativeRecommender
from genrec.llm.recommender import LLMRecommender
from genrec.recommender import ModelDirError, Recommender, read_model_meta

BUILTIN_KINDS: tuple[type[Recommender], ...] = (
    PopularRecommender,
    ItemKNNRecommender,
    ContentRecommender,
    SASRecRecommender,
    GenerativeRecommender,
    LLMRecommender,
)
_REGISTERED: dict[str, type[Recommender]] = {klass.kind: klass for klass in BUILTIN_KINDS}
ENTRY_POINT_GROUP = "genrec.models"
_plugins_loaded = False


def _load_plugins() -> None:
    """Register the classes installed packages declare under ``genrec.models`` (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        register(entry.load())


def register(klass: type[Recommender]) -> type[Recommender]:
    """Add a model kind (usable as a class decorator). Its ``kind`` must be new; re-registering
    the same class is harmless, so a module imported twice does no harm."""
    kind = getattr(klass, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"{klass.__name__} needs a class attribute kind = '<name>'")
    if not isinstance(klass, type) or not issubclass(klass, Recommender):
        raise TypeError(f"{klass!r} is not a Recommender subclass")
    if not hasattr(klass, "config_class"):
        raise ValueError(f"{klass.__name__} needs a class attribute config_class")
    known = _REGISTERED.get(kind)
    if known is not None and known is not klass:
        raise ValueError(f"model kind '{kind}' is already taken by {known.__name__}")
    _REGISTERED[kind] = klass
    return klass


def registry() -> dict[str, type[Recommender]]:
    """Every known kind by name (a copy)."""
    _load_plugins()
    return dict(_REGISTERED)


def model_class(kind: str) -> type[Recommender]:
    _load_plugins()
    if kind not in _REGISTERED:
        raise ValueError(f"unknown model '{kind}'; available: {', '.join(sorted(_REGISTERED))}")
    return _REGISTERED[kind]


def load(path: str | Path) -> Recommender:
    """Load a saved model folder of any registered kind (``genrec.load``)."""
    kind = str(read_model_meta(path)["model"])
    _load_plugins()
    if kind not in _REGISTERED:
        raise ModelDirError(
            f"{path} holds a '{kind}' model, a kind this genrec does not know (known: "
            f"{', '.join(sorted(_REGISTERED))}); register its class with genrec.models.register"
        )
    return _REGISTERED[kind].load(path)
