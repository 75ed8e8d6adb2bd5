"""The command line: every command documented with an example, JSON outputs, clean errors."""

from __future__ import annotations

import json

import pytest

from genrec.cli import build_parser, main

COMMANDS = [
    ["data", "info"], ["train"], ["evaluate"], ["recommend"], ["demo"], ["serve"],
    ["finetune"], ["feedback", "export"], ["report"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text and "genrec " in text


def test_data_info_ml100k_json_counts(capsys):
    assert main(["data", "info", "ml-100k", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["users"], info["items"], info["interactions"]) == (943, 1682, 100000)


def _write_log(tmp_path):
    rows = ["user,item,ts"]
    for u in range(6):
        for t, item in enumerate(["x", "y", "z", "w"][u % 2 :] + ["v"]):
            rows.append(f"u{u},{item},{t}")
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "items.csv").write_text(
        "item,title,genres\nx,Film X,Drama\ny,Film Y,Comedy\nz,Film Z,Drama\n"
        "w,Film W,Comedy\nv,Film V,Horror\nq,Film Q,Horror\n"
    )


def test_train_evaluate_recommend_on_users_own_files(tmp_path, capsys):
    _write_log(tmp_path)
    out = tmp_path / "model"
    args = ["--data", str(tmp_path / "log.csv"), "--catalog", str(tmp_path / "items.csv")]
    assert main(["train", "--model", "itemknn", *args, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model-dir", str(out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    for key in ("ndcg@10", "recall@10", "mrr", "coverage", "invalid_rate"):
        assert key in metrics
    assert metrics["invalid_rate"] == 0.0
    assert metrics["protocol"]["exclude_seen"] is True
    assert main(["recommend", "--model-dir", str(out), "--user", "u0", "-k", "2", "--json"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs["items"]) == 1  # u0 saw 5 of the 6 items
    assert set(recs["items"][0]) == {"item_id", "title", "score"}
    assert recs["items"][0]["title"] == "Film Q"
    assert recs["text"] == "You may like: Film Q"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "info", "missing.csv"], "neither a built-in dataset"),
        (["recommend", "--model-dir", "nowhere", "--user", "1"], "folder nowhere does not exist"),
        (["train", "--model", "popular", "--data", "ml-100k", "--out", "x", "--config",
          "nope.json"], "config file nope.json does not exist"),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line_not_a_traceback(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_unknown_user_and_item_errors(tmp_path, capsys):
    _write_log(tmp_path)
    out = tmp_path / "m"
    args = ["--data", str(tmp_path / "log.csv"), "--catalog", str(tmp_path / "items.csv")]
    main(["train", "--model", "popular", *args, "--out", str(out), "--quiet"])
    capsys.readouterr()
    assert main(["recommend", "--model-dir", str(out), "--user", "ghost"]) == 2
    assert "user 'ghost' is unknown" in capsys.readouterr().err
    assert main(["recommend", "--model-dir", str(out), "--history", "x,nope"]) == 2
    assert "item 'nope' is not in the catalog" in capsys.readouterr().err


def test_bad_config_value_names_the_key(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text('{"neighbors": -3}')
    _write_log(tmp_path)
    args = ["--data", str(tmp_path / "log.csv"), "--out", str(tmp_path / "m"), "--quiet"]
    assert main(["train", "--model", "itemknn", *args, "--config", str(config)]) == 2
    assert "neighbors must be at least 1" in capsys.readouterr().err
    config.write_text('{"neighbours": 3}')
    assert main(["train", "--model", "itemknn", *args, "--config", str(config)]) == 2
    assert "unknown key(s) ['neighbours']" in capsys.readouterr().err


def test_parser_lists_every_registered_model():
    from genrec.models import registry

    parser = build_parser()
    train = next(a for a in parser._subparsers._group_actions[0].choices["train"]._actions
                 if a.dest == "model")  # fmt: skip
    assert set(train.choices) == set(registry())


def test_serve_refuses_to_start_without_keys_or_a_model(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GENREC_API_KEYS", raising=False)
    _write_log(tmp_path)
    out = tmp_path / "m"
    args = ["--data", str(tmp_path / "log.csv"), "--catalog", str(tmp_path / "items.csv")]
    main(["train", "--model", "popular", *args, "--out", str(out), "--quiet"])
    capsys.readouterr()
    assert main(["serve", "--model-dir", str(out)]) == 2
    assert "no API key configured" in capsys.readouterr().err
    assert main(["serve", "--model-dir", str(tmp_path / "none"), "--insecure-dev"]) == 2
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.setenv("GENREC_API_KEYS", "short")
    assert main(["serve", "--model-dir", str(out)]) == 2
    assert "at least 16 characters" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("500", (500, 0.0)), ("30min", (0, 30.0)), ("2h", (0, 120.0)), ("90s", (0, 1.5)),
     ("1.5m", (0, 1.5))],
)  # fmt: skip
def test_learn_every_takes_events_or_a_duration(text, parsed):
    args = build_parser().parse_args(["serve", "--model-dir", "m", "--learn-every", text])
    assert args.learn_every == parsed


@pytest.mark.parametrize("text", ["ten", "0min", "5 days", "5d", "m"])
def test_learn_every_names_what_it_accepts(text, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--model-dir", "m", "--learn-every", text])
    assert "neither a number of events (500) nor a duration" in capsys.readouterr().err


def test_feedback_export_writes_the_stored_events(tmp_path, capsys):
    from datetime import UTC, datetime

    import pandas as pd

    from genrec.store import FeedbackEvent, default_sqlite_url
    from genrec.store.database import FeedbackStore

    with FeedbackStore(default_sqlite_url(tmp_path)) as store:
        now = datetime.now(UTC)
        store.add_feedback(FeedbackEvent("u1", "x", "click", now))
        store.add_feedback(FeedbackEvent("u1", "y", "rating", now, value=4.0))
    target = tmp_path / "out" / "fb.parquet"
    assert main(["feedback", "export", "--model-dir", str(tmp_path), "--out", str(target)]) == 0
    assert "wrote 2 feedback rows" in capsys.readouterr().out
    assert list(pd.read_parquet(target)["event"]) == ["click", "rating"]
    assert main(["feedback", "export", "--model-dir", str(tmp_path), "--out", "x.xlsx"]) == 2
    assert "error: " in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["-1", "4294967296", "seven"])
def test_seed_outside_what_numpy_accepts_is_a_usage_error(bad, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--model", "popular", "--out", "o", "--seed", bad])
    assert "--seed" in capsys.readouterr().err


def test_report_prints_the_online_metrics_of_each_version(tmp_path, capsys):
    from datetime import UTC, datetime, timedelta

    from genrec.store import FeedbackEvent, ServedList, default_sqlite_url
    from genrec.store.database import FeedbackStore

    now = datetime.now(UTC)
    with FeedbackStore(default_sqlite_url(tmp_path)) as store:
        store.log_served([
            ServedList("r1", "u1", "", [], ["a", "b"], [0.0, 0.0], "v0001", False, now),
            ServedList("r2", "u2", "", [], ["b", "c"], [0.0, 0.0], "v0002", False, now),
        ])  # fmt: skip
        store.add_feedback(FeedbackEvent("u1", "b", "click", now + timedelta(minutes=1)))
    assert main(["report", "--model-dir", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_version = {r["version"]: r for r in report["versions"]}
    assert by_version["v0001"]["acceptance"] == 1.0 and by_version["v0001"]["ctr_2"] == 1.0
    assert by_version["v0002"]["acceptance"] == 0.0 and report["events"] == {"click": 1}
    png = tmp_path / "online.png"
    assert main(["report", "--model-dir", str(tmp_path), "--png", str(png)]) == 0
    assert "v0002" in capsys.readouterr().out and png.stat().st_size > 1000
    assert main(["report", "--model-dir", str(tmp_path), "--since", "yesterday"]) == 2
    assert "--since: not an ISO 8601 time" in capsys.readouterr().err


def test_report_compares_the_arms_of_an_ab_test(tmp_path, capsys):
    from datetime import UTC, datetime, timedelta

    from genrec.store import FeedbackEvent, ServedList, default_sqlite_url
    from genrec.store.database import FeedbackStore

    now = datetime.now(UTC) - timedelta(hours=1)
    lists, events = [], []
    for n in range(400):  # control answered 1 time in 4, the candidate 1 in 2
        arm, version, every = ("control", "v1", 4) if n % 2 else ("candidate", "v2", 2)
        lists.append(ServedList(f"r{n}", f"u{n}", "", [], ["a", "b"], [0.0, 0.0], version,
                                False, now, arm=arm))  # fmt: skip
        if (n // 2) % every == 0:
            events.append(FeedbackEvent(f"u{n}", "a", "like", now + timedelta(minutes=1)))
    lists.append(ServedList("anon", None, "", [], ["a"], [0.0], "v1", False, now))  # no arm
    with FeedbackStore(default_sqlite_url(tmp_path)) as store:
        store.log_served(lists)
        store.add_feedback_many(events)
    assert main(["report", "--model-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "A/B test" in out and "significantly better" in out
    assert main(["report", "--model-dir", str(tmp_path), "--json"]) == 0
    ab = json.loads(capsys.readouterr().out)["ab"]
    assert (ab["control_lists"], ab["candidate_lists"]) == (200, 200)
    assert ab["control_acceptance"] == 0.25 and ab["candidate_acceptance"] == 0.5
    assert ab["significant"] and ab["low"] > 0
