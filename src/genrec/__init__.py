"""genrec: a generative recommender grounded to a real catalog."""

from genrec.data import Catalog, DataError, Dataset, load_builtin, load_dataset
from genrec.data.split import SequenceSplit, leave_one_out
from genrec.evaluation import EvalResult, evaluate
from genrec.recommender import Recommendation, Recommender, UnknownUserError

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "DataError",
    "Dataset",
    "EvalResult",
    "Recommendation",
    "Recommender",
    "SequenceSplit",
    "UnknownUserError",
    "evaluate",
    "leave_one_out",
    "load_builtin",
    "load_dataset",
]
