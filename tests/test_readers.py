"""Readers for users' own files: formats, column inference, validation, filters, seed layout."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genrec.data import DataError, Dataset, load_dataset, load_seed_csv
from genrec.data.tables import read_table


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def seqs(data: Dataset) -> dict[str, list[str]]:
    """Each user's item ids in time order: easier to read in asserts than catalog indices."""
    ids = data.catalog.item_ids
    return {user: [str(ids[i]) for i in seq] for user, seq in data.sequences().items()}


INTERACTIONS = "user_id,item_id,timestamp,rating\nu1,a,3,4\nu1,b,1,5\nu2,a,2,3\n"


@pytest.fixture
def catalog_csv(tmp_path: Path) -> Path:
    return write(
        tmp_path / "items.csv",
        "item_id,title,genres,description,year\n"
        "a,Alpha,Action|Comedy,first,1999\n"
        "b,Beta,Drama,second,2001\n"
        "c,,,,2005\n",
    )


# ---- formats -------------------------------------------------------------------------------


def test_csv_gives_exact_columns_dtypes_and_time_order(tmp_path: Path) -> None:
    data = load_dataset(write(tmp_path / "log.csv", INTERACTIONS))
    frame = data.interactions
    assert list(frame.columns) == ["user_id", "item_index", "timestamp", "rating", "request"]
    assert frame["item_index"].dtype == np.int64
    assert frame["timestamp"].dtype == np.int64
    assert frame["rating"].dtype == np.float64
    assert frame["request"].tolist() == ["", "", ""]
    assert seqs(data) == {"u1": ["b", "a"], "u2": ["a"]}
    assert frame["timestamp"].tolist() == [1, 3, 2]
    assert data.name == "log"
    assert data.report.ok


def test_tsv_and_tab_suffixes_read_tab_separated(tmp_path: Path) -> None:
    text = INTERACTIONS.replace(",", "\t")
    for suffix in (".tsv", ".tab"):
        data = load_dataset(write(tmp_path / f"log{suffix}", text))
        assert seqs(data) == {"u1": ["b", "a"], "u2": ["a"]}


def test_parquet_with_numeric_ids_and_list_categories(tmp_path: Path) -> None:
    pd.DataFrame({"userId": [1, 1, 2], "movieId": [10, 20, 10], "ts": [5, 6, 7]}).to_parquet(
        tmp_path / "log.parquet"
    )
    pd.DataFrame(
        {"movieId": [10, 20], "title": ["Ten", "Twenty"], "genres": [["Action"], ["A", "B"]]}
    ).to_parquet(tmp_path / "items.pq")
    data = load_dataset(tmp_path / "log.parquet", tmp_path / "items.pq")
    assert seqs(data) == {"1": ["10", "20"], "2": ["10"]}
    assert data.catalog.categories[data.catalog.index_of("20")] == ("A", "B")


def test_parquet_named_after_its_codec_is_read_but_whole_file_compression_is_refused(
    tmp_path: Path,
) -> None:
    frame = pd.DataFrame({"user_id": ["u"], "item_id": ["a"]})
    frame.to_parquet(tmp_path / "log.parquet.brotli", compression="brotli")
    assert seqs(load_dataset(tmp_path / "log.parquet.brotli")) == {"u": ["a"]}
    with pytest.raises(DataError, match="do not compress it as a whole"):
        load_dataset(write(tmp_path / "log.parquet.gz", "x"))


def test_jsonl_and_json_array_and_json_lines_in_dot_json(tmp_path: Path) -> None:
    records = [
        {"user": "u1", "item": "a", "time": 1, "query": "something funny"},
        {"user": "u1", "item": "b", "time": 2, "query": ""},
    ]
    lines = "\n".join(json.dumps(r) for r in records) + "\n"
    for path in (
        write(tmp_path / "log.jsonl", lines),
        write(tmp_path / "log.ndjson", lines),
        write(tmp_path / "lines.json", lines),
        write(tmp_path / "array.json", json.dumps(records, indent=2)),
    ):
        data = load_dataset(path)
        assert seqs(data) == {"u1": ["a", "b"]}, path
        assert data.interactions["request"].tolist() == ["something funny", ""]


def test_gzip_compressed_csv_and_jsonl(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "log.csv.gz", "wt") as handle:
        handle.write(INTERACTIONS)
    with gzip.open(tmp_path / "log.jsonl.gz", "wt") as handle:
        handle.write('{"user_id": "u", "item_id": "a", "timestamp": 1}\n')
    assert seqs(load_dataset(tmp_path / "log.csv.gz")) == {"u1": ["b", "a"], "u2": ["a"]}
    assert seqs(load_dataset(tmp_path / "log.jsonl.gz")) == {"u": ["a"]}
    assert load_dataset(tmp_path / "log.csv.gz").name == "log"


def test_semicolon_separated_csv_is_detected(tmp_path: Path) -> None:
    data = load_dataset(write(tmp_path / "log.csv", INTERACTIONS.replace(",", ";")))
    assert seqs(data) == {"u1": ["b", "a"], "u2": ["a"]}


def test_recbole_atomic_files_have_type_suffixes_stripped(tmp_path: Path) -> None:
    inter = write(
        tmp_path / "ml.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t7\t4\t881250949\n",
    )
    item = write(
        tmp_path / "ml.item",
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "7\tToy Story\t1995\tAnimation Comedy\n",
    )
    data = load_dataset(inter, item)
    assert seqs(data) == {"1": ["7"]}
    assert data.catalog.titles == ["Toy Story"]
    assert data.catalog.categories == [("Animation", "Comedy")]
    assert data.catalog.items["release_year"].tolist() == ["1995"]
    assert data.interactions["rating"].tolist() == [4.0]


def test_read_table_keeps_leading_zeros_of_text_ids(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path / "t.csv", "id,x\n007,\n"))
    assert frame["id"].tolist() == ["007"]
    assert frame["x"].tolist() == [""]


def test_unknown_suffix_is_an_error_naming_file_and_supported_suffixes(tmp_path: Path) -> None:
    path = write(tmp_path / "log.xlsx", "whatever")
    with pytest.raises(DataError, match=r"log\.xlsx.*unknown file suffix \.xlsx.*\.csv"):
        load_dataset(path)


def test_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        load_dataset(tmp_path / "nope.csv")


# ---- column inference ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("UserId,MovieId,Time,Stars,Prompt", "u,m,1,5,hi"),
        ("customer_id,product_id,event_time,score,text", "u,m,1,5,hi"),
        ("visitor_id,asin,datetime,rating,query", "u,m,1,5,hi"),
        ("uid,iid,ts,score,request", "u,m,1,5,hi"),
        ("User,Item,Date,Rating,Request", "u,m,1,5,hi"),
    ],
)
def test_common_column_spellings_are_inferred_case_insensitively(
    tmp_path: Path, header: str, row: str
) -> None:
    data = load_dataset(write(tmp_path / "log.csv", f"{header}\n{row}\n"))
    frame = data.interactions
    assert seqs(data) == {"u": ["m"]}
    assert frame["timestamp"].tolist() == [1]
    assert frame["rating"].tolist() == [5.0]
    assert frame["request"].tolist() == ["hi"]


def test_catalog_spellings_are_inferred(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,item\nu,a\n")
    items = write(tmp_path / "items.csv", "Item,Name,Tags,Summary\na,Alpha,x;y,about a\n")
    data = load_dataset(log, items)
    assert data.catalog.titles == ["Alpha"]
    assert data.catalog.categories == [("x", "y")]
    assert data.catalog.items["description"].tolist() == ["about a"]


def test_explicit_columns_override_inference(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user_id,who,item_id,what\nx,u,y,a\n")
    data = load_dataset(log, columns={"user_id": "who", "item_id": "what"})
    assert seqs(data) == {"u": ["a"]}


def test_explicit_column_that_is_absent_names_it_and_the_columns_that_exist(
    tmp_path: Path,
) -> None:
    log = write(tmp_path / "log.csv", "user,item\nu,a\n")
    with pytest.raises(DataError) as caught:
        load_dataset(log, columns={"user_id": "customer"})
    message = str(caught.value)
    assert "log.csv" in message and "'customer'" in message
    assert "its columns are: user, item" in message


def test_prefixed_columns_key_applies_to_one_file_only(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,sku_code\nu,a\n")
    items = write(tmp_path / "items.csv", "code,label_text\na,Alpha\n")
    columns = {"item_id": "sku_code", "catalog.item_id": "code", "title": "label_text"}
    data = load_dataset(log, items, columns=columns)
    assert seqs(data) == {"u": ["a"]}
    assert data.catalog.titles == ["Alpha"]


def test_unknown_columns_key_is_an_error_listing_valid_keys(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,item\nu,a\n")
    with pytest.raises(DataError, match="unknown key 'history' in columns; valid keys"):
        load_dataset(log, columns={"history": "h"})


def test_missing_required_column_is_an_error_even_in_lenient_mode(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,thing\nu,a\n")
    with pytest.raises(DataError) as caught:
        load_dataset(log, strict=False)
    message = str(caught.value)
    assert "log.csv" in message and "column 'item_id'" in message
    assert "required column is missing" in message and "user, thing" in message


# ---- timestamps ----------------------------------------------------------------------------


def test_millisecond_timestamps_become_seconds(tmp_path: Path) -> None:
    data = load_dataset(write(tmp_path / "log.csv", "user,item,ts\nu,a,1700000000123\n"))
    assert data.interactions["timestamp"].tolist() == [1700000000]


def test_float_seconds_and_date_strings_become_unix_seconds(tmp_path: Path) -> None:
    text = (
        "user,item,time\nu,a,1577836800.7\nv,a,2020-01-01T00:00:00Z\n"
        "w,a,2020-01-01 01:00:00+01:00\nx,a,2020-01-02\n"
    )
    data = load_dataset(write(tmp_path / "log.csv", text))
    by_user = dict(zip(data.interactions["user_id"], data.interactions["timestamp"], strict=True))
    assert by_user == {"u": 1577836800, "v": 1577836800, "w": 1577836800, "x": 1577923200}


def test_without_timestamps_file_order_is_time_order_and_a_note_says_so(tmp_path: Path) -> None:
    data = load_dataset(write(tmp_path / "log.csv", "user,item\nu,c\nv,a\nu,a\nu,b\n"))
    assert seqs(data) == {"u": ["c", "a", "b"], "v": ["a"]}
    assert any("no timestamp column" in note for note in data.report.notes)


# ---- validation: strict --------------------------------------------------------------------


def strict_error(path: Path, catalog: Path | None = None) -> str:
    with pytest.raises(DataError) as caught:
        load_dataset(path, catalog)
    return str(caught.value)


def test_unparsable_timestamp_in_strict_mode_names_file_row_and_column(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,item,Event_Time\nu,a,1\nu,b,yesterday-ish\n")
    message = strict_error(log)
    assert message.startswith(f"file {log}, row 2, column 'Event_Time':")
    assert "cannot parse timestamp 'yesterday-ish'" in message


def test_unknown_item_in_strict_mode_names_file_row_and_column(
    tmp_path: Path, catalog_csv: Path
) -> None:
    log = write(tmp_path / "log.csv", "user,product_id\nu,a\nu,zz\n")
    message = strict_error(log, catalog_csv)
    assert message.startswith(f"file {log}, row 2, column 'product_id':")
    assert "item 'zz' is not in the catalog" in message and "items.csv" in message


def test_duplicate_row_in_strict_mode_names_file_row_and_first_copy(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,item,ts\nu,a,1\nu,b,1\nu,a,1\n")
    message = strict_error(log)
    assert message.startswith(f"file {log}, row 3:")
    assert "duplicate of row 1" in message


def test_same_item_at_different_times_is_not_a_duplicate(tmp_path: Path) -> None:
    data = load_dataset(write(tmp_path / "log.csv", "user,item,ts\nu,a,1\nu,a,2\n"))
    assert seqs(data) == {"u": ["a", "a"]}


@pytest.mark.parametrize(
    ("text", "column", "what"),
    [("user,item\n,a\n", "user", "empty user id"), ("user,item\nu, \n", "item", "empty item id")],
)
def test_empty_id_in_strict_mode_names_file_row_and_column(
    tmp_path: Path, text: str, column: str, what: str
) -> None:
    log = write(tmp_path / "log.csv", text)
    assert strict_error(log) == f"file {log}, row 1, column '{column}': {what}"


def test_non_numeric_rating_in_strict_mode_names_file_row_and_column(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,item,stars\nu,a,5\nu,b,great\n")
    message = strict_error(log)
    assert message == f"file {log}, row 2, column 'stars': rating 'great' is not a number"


def test_empty_rating_cell_is_a_missing_rating_not_an_error(tmp_path: Path) -> None:
    data = load_dataset(write(tmp_path / "log.csv", "user,item,rating\nu,a,\n"))
    assert np.isnan(data.interactions["rating"][0])


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("empty.csv", "", "the file is empty"),
        ("header.csv", "user,item\n", "header but no data rows"),
        ("empty.jsonl", "\n", "the file is empty"),
    ],
)
def test_empty_or_header_only_file_is_always_an_error(
    tmp_path: Path, strict: bool, name: str, text: str, expected: str
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(DataError, match=expected) as caught:
        load_dataset(path, strict=strict)
    assert str(path) in str(caught.value)


def test_malformed_csv_is_wrapped_into_a_data_error_naming_the_file(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,item\nu,a\nu,b,c,d\n")
    message = strict_error(log)
    assert message.startswith(f"file {log}: cannot read the file as csv:")
    assert "line 3" in message


def test_malformed_json_line_names_the_line(tmp_path: Path) -> None:
    log = write(tmp_path / "log.jsonl", '{"user": "u", "item": "a"}\n{"user": "u", "item": \n')
    assert strict_error(log) == f"file {log}: malformed JSON on line 2: Expecting value"


def test_corrupt_parquet_is_wrapped_into_a_data_error(tmp_path: Path) -> None:
    log = write(tmp_path / "log.parquet", "this is not parquet")
    assert strict_error(log).startswith(f"file {log}: cannot read the file as parquet:")


def test_duplicate_catalog_id_is_an_error_in_strict_mode(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,item\nu,a\n")
    items = write(tmp_path / "items.csv", "item_id,title\na,First\nb,B\na,Second\n")
    message = strict_error(log, items)
    expected = "row 3, column 'item_id': duplicate item id 'a' (first at row 1)"
    assert message == f"file {items}, {expected}"


# ---- validation: lenient -------------------------------------------------------------------


def test_lenient_mode_counts_each_problem_and_drops_the_rows(
    tmp_path: Path, catalog_csv: Path
) -> None:
    log = write(
        tmp_path / "log.csv",
        "user,item,ts,rating\n"
        "u,a,1,5\n"  # ok
        "u,b,bad,5\n"  # timestamp
        "u,b,also bad,5\n"  # timestamp
        ",a,3,5\n"  # empty user
        "u,zz,4,5\n"  # unknown item
        "u,b,5,x\n"  # rating
        "u,a,1,4\n"  # duplicate of row 1
        "v,c,2,1\n",  # ok
    )
    data = load_dataset(log, catalog_csv, strict=False)
    assert seqs(data) == {"u": ["a"], "v": ["c"]}
    counts = {(i.kind, i.column): (i.count, i.row) for i in data.report.issues}
    assert counts == {
        ("empty_id", "user"): (1, 4),
        ("bad_timestamp", "ts"): (2, 2),
        ("bad_rating", "rating"): (1, 6),
        ("unknown_item", "item"): (1, 5),
        ("duplicate_row", None): (1, 7),
    }
    assert all(str(log) == issue.file for issue in data.report.issues)
    lines = data.report.lines()
    assert f"warning: file {log}, row 2, column 'ts': cannot parse timestamp 'bad'" in lines[1]
    assert lines[1].endswith("dropped (2 rows)")
    assert data.info()["warnings"] == 5


def test_lenient_duplicate_catalog_id_keeps_the_first_and_warns(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,item\nu,a\n")
    items = write(tmp_path / "items.csv", "item_id,title\na,First\nb,B\na,Second\n")
    data = load_dataset(log, items, strict=False)
    assert data.catalog.titles[data.catalog.index_of("a")] == "First"
    assert len(data.catalog) == 2
    [issue] = data.report.issues
    assert (issue.kind, issue.file, issue.row, issue.count) == ("duplicate_id", str(items), 3, 1)


def test_lenient_mode_with_every_row_bad_is_an_error(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,item,ts\nu,a,x\nv,b,y\n")
    with pytest.raises(DataError, match="no valid interactions left"):
        load_dataset(log, strict=False)


# ---- catalog and users ---------------------------------------------------------------------


def test_without_a_catalog_items_are_the_ids_seen_titled_by_id(tmp_path: Path) -> None:
    data = load_dataset(write(tmp_path / "log.csv", INTERACTIONS))
    assert sorted(data.catalog.item_ids) == ["a", "b"]
    assert sorted(data.catalog.titles) == ["a", "b"]
    assert data.catalog.categories == [(), ()]


def test_catalog_fields_fallbacks_and_extra_columns(tmp_path: Path, catalog_csv: Path) -> None:
    data = load_dataset(write(tmp_path / "log.csv", INTERACTIONS), catalog_csv)
    items = data.catalog.items.set_index("item_id")
    assert len(data.catalog) == 3  # items without interactions stay in the catalog
    assert items.loc["a", "title"] == "Alpha"
    assert items.loc["c", "title"] == "c"  # empty title falls back to the id
    assert items.loc["a", "categories"] == ("Action", "Comedy")
    assert items.loc["c", "categories"] == ()
    assert items.loc["b", "description"] == "second"
    assert items.loc["b", "year"] == "2001"
    assert data.catalog.text(data.catalog.index_of("a")) == "Alpha. Action, Comedy. first"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("Action|Comedy", ("Action", "Comedy")),
        ("Action; Comedy", ("Action", "Comedy")),
        ("Action, Comedy", ("Action", "Comedy")),
        ('["Action", "Comedy"]', ("Action", "Comedy")),
        ("['Action', 'Comedy']", ("Action", "Comedy")),
        ("Science Fiction", ("Science Fiction",)),
        ("Drama|Drama", ("Drama",)),
    ],
)
def test_category_cells_are_split_sensibly(tmp_path: Path, cell: str, expected: tuple) -> None:
    log = write(tmp_path / "log.csv", "user,item\nu,a\n")
    items = tmp_path / "items.csv"
    pd.DataFrame({"item_id": ["a"], "categories": [cell]}).to_csv(items, index=False)
    assert load_dataset(log, items).catalog.categories == [expected]


def test_users_file_is_read_with_its_attributes(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", INTERACTIONS)
    users = write(tmp_path / "users.csv", "uid,age,city\nu1,30,Oslo\nu2,41,Lima\n")
    data = load_dataset(log, users=users)
    assert data.users is not None
    assert list(data.users.columns) == ["user_id", "age", "city"]
    assert data.users["user_id"].tolist() == ["u1", "u2"]


def test_duplicate_user_in_users_file_is_an_error_in_strict_mode(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", INTERACTIONS)
    users = write(tmp_path / "users.csv", "user_id,age\nu1,30\nu1,31\n")
    with pytest.raises(DataError, match=r"row 2, column 'user_id': duplicate user id 'u1'"):
        load_dataset(log, users=users)


# ---- filters -------------------------------------------------------------------------------


def test_filters_apply_after_validation_and_note_what_they_kept(tmp_path: Path) -> None:
    rows = ["user,item,ts,rating"]
    rows += [f"u,{item},{t},5" for t, item in enumerate("abcd")]
    rows += ["v,a,1,5", "v,b,2,5", "v,c,3,1", "w,z,1,5", "w,e,bad,5"]
    log = write(tmp_path / "log.csv", "\n".join(rows) + "\n")
    data = load_dataset(log, strict=False, min_rating=4, k_core=2, last_n=1)
    assert seqs(data) == {"u": ["b"], "v": ["b"]}
    assert data.report.notes == [
        "min_rating=4: kept 7 of 8 interactions",
        "k_core=2: kept 4 of 7 interactions",
        "last_n=1: kept 2 of 4 interactions",
    ]
    assert [issue.kind for issue in data.report.issues] == ["bad_timestamp"]


def test_min_rating_without_ratings_is_a_data_error(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,item\nu,a\n")
    with pytest.raises(DataError, match="no ratings"):
        load_dataset(log, min_rating=4)


def test_filters_that_remove_everything_are_an_error(tmp_path: Path) -> None:
    log = write(tmp_path / "log.csv", "user,item\nu,a\nv,b\n")
    with pytest.raises(DataError, match="removed every interaction"):
        load_dataset(log, k_core=5)


# ---- seed layout ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "history",
    ['"[""a"", ""b""]"', "\"['a', 'b']\"", "a|b", "a;b", '"a, b"'],
    ids=["json", "python", "pipe", "semicolon", "comma"],
)
def test_seed_history_list_styles_expand_in_order_with_request_on_bought(
    tmp_path: Path, history: str
) -> None:
    path = write(tmp_path / "data.csv", f"request,history,bought\nsomething light,{history},c\n")
    data = load_seed_csv(path)
    assert seqs(data) == {"1": ["a", "b", "c"]}
    assert data.requests() == {"1": ["", "", "something light"]}
    assert data.name == tmp_path.name  # a generic stem gives way to the folder's name


def test_seed_rows_of_one_user_append_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path / "sessions.csv",
        "user_id,query,purchase_history,target\n"
        "u,first,a,b\n"
        "v,x,,c\n"
        'u,second,"[""d""]","[""e"", ""f""]"\n',
    )
    data = load_seed_csv(path)
    assert seqs(data) == {"u": ["a", "b", "d", "e", "f"], "v": ["c"]}
    assert data.requests()["u"] == ["", "first", "", "second", "second"]
    assert any("no timestamp column" in note for note in data.report.notes)


def test_seed_timestamps_order_the_sessions(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.csv",
        "user,text,history,purchased,date\nu,late,x,y,2024-02-01\nu,early,a,b,2024-01-01\n",
    )
    data = load_seed_csv(path)
    assert seqs(data) == {"u": ["a", "b", "x", "y"]}


def test_seed_names_match_catalog_ids_then_titles_including_commas(tmp_path: Path) -> None:
    catalog = write(
        tmp_path / "items.csv",
        'item_id,title\n1,"Godfather, The (1972)"\n2,Heat (1995)\n3,Alien (1979)\n',
    )
    path = write(
        tmp_path / "s.csv",
        'prompt,history,recommended\nmore crime,"Godfather, The (1972), 2",Heat (1995)\n',
    )
    data = load_seed_csv(path, catalog)
    assert seqs(data) == {"1": ["1", "2", "2"]}
    assert len(data.catalog) == 3


def test_seed_reads_real_list_cells_from_jsonl(tmp_path: Path) -> None:
    record = {"request": "r", "history": ["a", "b"], "target": ["c", "d"], "user": "u"}
    data = load_seed_csv(write(tmp_path / "s.jsonl", json.dumps(record) + "\n"))
    assert seqs(data) == {"u": ["a", "b", "c", "d"]}
    assert data.requests() == {"u": ["", "", "r", "r"]}


def test_seed_unknown_item_in_strict_mode_names_file_row_and_column(tmp_path: Path) -> None:
    catalog = write(tmp_path / "items.csv", "item_id,title\n1,Heat\n")
    path = write(tmp_path / "s.csv", "request,history,bought\nr,Heat,1\nr,Heat|Nope,1\n")
    with pytest.raises(DataError) as caught:
        load_seed_csv(path, catalog)
    assert str(caught.value) == (
        f"file {path}, row 2, column 'history': item 'Nope' matches no item id or title in the "
        "catalog"
    )


def test_seed_lenient_mode_drops_bad_rows_and_counts_them(tmp_path: Path) -> None:
    catalog = write(tmp_path / "items.csv", "item_id,title\n1,Heat\n2,Alien\n")
    path = write(
        tmp_path / "s.csv",
        'request,history,bought\nok,Heat,2\nr,Nope,2\nr,"[""Heat"", ",2\nr,Heat,\nr,Heat,Zed\n',
    )
    data = load_seed_csv(path, catalog, strict=False)
    assert seqs(data) == {"1": ["1", "2"]}
    counts = {(i.kind, i.column): (i.count, i.row) for i in data.report.issues}
    assert counts == {
        ("unknown_item", "history"): (1, 2),
        ("bad_list", "history"): (1, 3),
        ("empty_target", "bought"): (1, 4),
        ("unknown_item", "bought"): (1, 5),
    }


def test_seed_malformed_list_in_strict_mode_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", 'request,history,bought\nr,"[""a"", ",b\n')
    with pytest.raises(DataError, match=r"row 1, column 'history': malformed list"):
        load_seed_csv(path)


def test_seed_without_a_history_column_names_the_spellings(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "request,bought\nr,a\n")
    with pytest.raises(DataError, match=r"column 'history': required column is missing"):
        load_seed_csv(path)


def test_seed_explicit_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "ask,past,got\nr,a|b,c\n")
    data = load_seed_csv(path, columns={"request": "ask", "history": "past", "target": "got"})
    assert seqs(data) == {"1": ["a", "b", "c"]}
    assert data.has_requests
