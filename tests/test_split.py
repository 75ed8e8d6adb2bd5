import numpy as np
import pandas as pd
import pytest

from genrec.data.schema import Catalog, Dataset
from genrec.data.split import leave_one_out


def _dataset(rows):
    items = pd.DataFrame(
        {
            "item_id": list("abcdef"),
            "title": list("ABCDEF"),
            "categories": [()] * 6,
            "description": "",
        }
    )
    catalog = Catalog(items)
    frame = pd.DataFrame(rows, columns=["user_id", "item", "timestamp"])
    frame["item_index"] = catalog.indices(frame.pop("item"))
    frame["rating"] = np.nan
    frame["request"] = ""
    return Dataset("t", catalog, frame)


def test_last_item_is_test_and_second_to_last_is_valid_by_time_not_file_order():
    data = _dataset([("u", "c", 30), ("u", "a", 10), ("u", "d", 40), ("u", "b", 20)])
    split = leave_one_out(data)
    cat = data.catalog
    assert split.users == ["u"]
    assert split.train["u"].tolist() == cat.indices(["a", "b"]).tolist()
    assert split.valid_targets.tolist() == [cat.index_of("c")]
    assert split.test_targets.tolist() == [cat.index_of("d")]
    assert split.histories("test")[0].tolist() == cat.indices(["a", "b", "c"]).tolist()
    assert split.histories("valid")[0].tolist() == cat.indices(["a", "b"]).tolist()


def test_timestamp_ties_keep_file_order():
    data = _dataset([("u", "e", 5), ("u", "b", 5), ("u", "a", 5), ("u", "c", 9)])
    split = leave_one_out(data)
    cat = data.catalog
    assert split.train["u"].tolist() == cat.indices(["e", "b"]).tolist()
    assert split.valid_targets.tolist() == [cat.index_of("a")]


def test_train_times_align_with_the_training_items():
    data = _dataset([("u", "e", 5), ("u", "b", 5), ("u", "a", 7), ("u", "c", 9), ("v", "a", 3)])
    split = leave_one_out(data)
    assert split.train_times is not None
    assert split.train_times["u"].tolist() == [5, 5]  # valid (7) and test (9) are not training
    assert split.train_times["v"].tolist() == [3]  # a short user keeps all for training
    assert all(len(split.train_times[u]) == len(split.train[u]) for u in split.train)


def test_short_users_train_only():
    data = _dataset([("u", "a", 1), ("u", "b", 2), ("v", "a", 1), ("v", "b", 2), ("v", "c", 3)])
    split = leave_one_out(data)
    assert split.users == ["v"]
    assert len(split.train["u"]) == 2


def test_item_numbering_does_not_follow_time_or_id_order():
    ids = [str(i) for i in range(200)]
    items = pd.DataFrame(
        {"item_id": ids, "title": ids, "categories": [()] * 200, "description": ""}
    )
    catalog = Catalog(items)
    indices = catalog.indices(ids)
    assert sorted(indices.tolist()) == list(range(200))
    # Consecutive ids must not map to consecutive indices (the P5 leakage).
    assert np.mean(np.diff(indices) == 1) < 0.05


def test_unknown_part_is_rejected():
    data = _dataset([("u", "a", 1), ("u", "b", 2), ("u", "c", 3)])
    with pytest.raises(ValueError, match="unknown split part"):
        leave_one_out(data).histories("train")  # type: ignore[arg-type]


def test_train_times_out_of_step_with_train_is_refused():
    from dataclasses import replace

    split = leave_one_out(_dataset([("u", "a", 1), ("u", "b", 2), ("u", "c", 3), ("u", "d", 4)]))
    with pytest.raises(ValueError, match="user 'u' has 2 timestamps but the user has 1"):
        replace(split, train={"u": split.train["u"][:1]})
    assert replace(split, train={"u": split.train["u"][:1]}, train_times=None).train_times is None
