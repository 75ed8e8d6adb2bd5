"""genrec: a generative recommender grounded to a real catalog.

The public API: datasets (:func:`load_builtin`, :func:`load_dataset`, :class:`DataSpec`), the
split and the evaluator, the model interface (:class:`Recommender`), :func:`load` for a saved
model folder of any kind (the registry in :mod:`genrec.models`), and the model lifecycle in
:mod:`genrec.lifecycle` (train into a folder, versions, fine-tune behind the promotion guard).
"""

from genrec.data import Catalog, DataError, Dataset, load_builtin, load_dataset
from genrec.data.spec import DataSpec
from genrec.data.split import SequenceSplit, leave_one_out
from genrec.evaluation import EvalResult, evaluate
from genrec.models import load, register
from genrec.recommender import ModelDirError, Recommendation, Recommender, UnknownUserError

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "DataError",
    "DataSpec",
    "Dataset",
    "EvalResult",
    "ModelDirError",
    "Recommendation",
    "Recommender",
    "SequenceSplit",
    "UnknownUserError",
    "evaluate",
    "leave_one_out",
    "load",
    "load_builtin",
    "load_dataset",
    "register",
]
