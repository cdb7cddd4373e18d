"""The few-shot benchmark's JSON: accuracy keys as they were, the task's metric beside them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import real_fewshot
from synprompt_core.task_registry import get_task
from tests.conftest import REPO
from tests.tiny_models import build_tiny_sentence_encoder

# the six methods, by their exact JSON names
SIX = ["zero_shot", "real_only", "real+syn", "paired", "paired+surgery", "paired+surgery+spt"]


def scores(accuracy: float, metric: float) -> dict[str, float]:
    return {"accuracy": accuracy, "metric": metric}


PER_SEED = {
    13: {"zero_shot": scores(50.0, 66.0), "real_only": scores(60.0, 40.0)},
    21: {"zero_shot": scores(54.0, 70.0), "real_only": scores(64.0, 50.0)},
}


def payload(tmp_path, task: str) -> dict:
    args = real_fewshot.parse_args(
        ["--task", task, "--data-root", "d", "--synthetic-root", "s", "--steps", "100"]
        + ["--patience", "6", "--methods", "zero_shot", "real_only"]
        + ["--json", str(tmp_path / f"{task}.json")]
    )
    written = real_fewshot.write_payload(args, get_task(task), PER_SEED, {})
    assert json.loads(args.json.read_text()) == written
    return written


def test_a_pair_task_scored_by_f1_adds_its_metric_beside_accuracy(tmp_path):
    out = payload(tmp_path, "MRPC")
    assert out["task"] == "MRPC" and out["metric"] == "f1"
    row = out["results"]["real_only"]
    assert set(row) == {"mean", "std", "per_seed", "metric_mean", "metric_std", "metric_per_seed"}
    assert row["per_seed"] == {"13": 60.0, "21": 64.0}  # accuracy, as before
    assert (row["mean"], row["std"]) == (62.0, 2.0)
    assert row["metric_per_seed"] == {"13": 40.0, "21": 50.0}
    assert (row["metric_mean"], row["metric_std"]) == (45.0, 5.0)


def test_an_accuracy_task_keeps_the_old_keys(tmp_path):
    out = payload(tmp_path, "SST-2")
    assert out["metric"] == "accuracy"
    assert set(out["results"]["zero_shot"]) == {"mean", "std", "per_seed"}


def test_the_printed_table_shows_the_metric(tmp_path, capsys):
    real_fewshot.print_table("MRPC", payload(tmp_path, "MRPC")["results"], "f1")
    lines = capsys.readouterr().out.splitlines()
    assert "test accuracy and f1" in lines[1] and "f1 mean ± std" in lines[2]
    assert lines[3].split()[:7] == ["zero_shot", "52.00", "±", "2.00", "-10.00", "68.00", "±"]


def test_merged_tables_keep_the_metric_of_the_files_that_have_it(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # the script imports its neighbour
    from benchmarks import fewshot_table

    new = payload(tmp_path, "MRPC")
    old = {
        "task": "MRPC",
        "results": {"paired": {"mean": 1.0, "std": 0.0, "per_seed": {"42": 1.0}}},
    }
    merged = fewshot_table.merge([old, new])
    assert merged["metric"] == "f1"
    assert "metric_per_seed" not in merged["results"]["paired"]
    assert merged["results"]["real_only"]["metric_per_seed"] == {"13": 40.0, "21": 50.0}
    assert "predate task metrics" in capsys.readouterr().err
    assert "| real_only | 40.00 | 50.00 | 45.00 ± 5.00 (2) |  |" in fewshot_table.markdown(
        merged, "metric_"
    )
    with pytest.raises(SystemExit, match="one metric per task"):
        fewshot_table.merge([new, {**new, "metric": "mcc"}])


def test_a_later_file_without_the_metric_takes_the_whole_cell(tmp_path, monkeypatch):
    """Accuracy and metric of one (method, seed) come from one run: a later file that
    replaces the cell's accuracy and records no metric leaves no metric of the earlier run."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from benchmarks import fewshot_table

    new = payload(tmp_path, "MRPC")  # real_only: seed 13 accuracy 60, F1 40; seed 21: 64, 50
    old = {"task": "MRPC", "results": {"real_only": {"per_seed": {"13": 70.0}}}}
    row = fewshot_table.merge([new, old])["results"]["real_only"]
    assert row["per_seed"] == {"13": 70.0, "21": 64.0}
    assert row["metric_per_seed"] == {"21": 50.0}  # not seed 13's F1 of the replaced run
    assert fewshot_table.merge([old, new])["results"]["real_only"]["metric_per_seed"] == {
        "13": 40.0,
        "21": 50.0,
    }
    only = {"task": "MRPC", "results": {"real_only": {"per_seed": {"13": 70.0, "21": 1.0}}}}
    assert "metric_per_seed" not in fewshot_table.merge([new, only])["results"]["real_only"]


def test_runs_of_different_budgets_do_not_merge_into_one_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from benchmarks import fewshot_table

    short = payload(tmp_path, "SST-2")
    long = {**short, "steps": 800}
    with pytest.raises(SystemExit, match=r"long\.json has steps=800 but short\.json has steps=100"):
        fewshot_table.merge([short, long], ["short.json", "long.json"])
    older = {"task": "SST-2", "results": short["results"]}  # records no budget: agrees with any
    assert fewshot_table.merge([older, long], ["old.json", "long.json"])["steps"] == 800


def test_mmd_runs_of_different_reweighting_do_not_merge(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from benchmarks import fewshot_table

    argv = ["--task", "SST-2", "--data-root", "d", "--synthetic-root", "s"]
    argv += ["--methods", "real_only", "paired+surgery+mmd"]
    per_seed = {13: {"real_only": scores(60.0, 60.0), "paired+surgery+mmd": scores(1.0, 1.0)}}

    def written(*extra: str) -> dict:
        args = real_fewshot.parse_args([*argv, *extra])
        return real_fewshot.write_payload(args, get_task("SST-2"), per_seed, {})

    plain, loss = written(), written("--reweight", '{"use": "loss_weights"}')
    assert plain["embedding_encoder"] == "minilm" and plain["reweight"] != loss["reweight"]
    with pytest.raises(SystemExit, match=r"b\.json has reweight="):
        fewshot_table.merge([plain, loss], ["a.json", "b.json"])
    with pytest.raises(SystemExit, match=r"b\.json has embedding_encoder='other'"):
        fewshot_table.merge([plain, written("--embedding-encoder", "other")], ["a", "b.json"])
    args = real_fewshot.parse_args([*argv[:-2], "real_only"])  # no mmd arm: records neither
    no_mmd = real_fewshot.write_payload(args, get_task("SST-2"), per_seed, {})
    assert "reweight" not in no_mmd and "embedding_encoder" not in no_mmd
    assert fewshot_table.merge([no_mmd, loss])["reweight"] == loss["reweight"]


def write_trec(root: Path, synthetic_root: Path, *, seed: int) -> None:
    """A miniature LM-BFF TREC split (headerless csv, label first, six labels) and a
    FewGen-style synthetic set for it: a registry task none of the shared data covers."""
    folder = root / "trec" / f"16-{seed}"
    folder.mkdir(parents=True)
    words = ["what", "which", "who", "where", "when", "how"]
    for split, copies in (("train", 2), ("dev", 2), ("test", 3)):
        rows = [f'{label},"{words[label]} question {i} of {split}"' for label in range(6)
                for i in range(copies)]  # fmt: skip
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n")
    synthetic = synthetic_root / "trec" / f"16-{seed}"
    synthetic.mkdir(parents=True)
    meanings = get_task("TREC").label_meanings  # label names as FewGen writes them
    rows = [{"text": f"{words[label]} made up {i}", "label": meanings[label]}
            for label in range(6) for i in range(3)]  # fmt: skip
    (synthetic / "gen-train.json").write_text(json.dumps(rows))


def test_the_benchmark_runs_any_registry_task_and_writes_every_method(tmp_path, capsys):
    model = build_tiny_sentence_encoder(tmp_path / "models")
    write_trec(tmp_path / "lm-bff", tmp_path / "fewgen", seed=13)
    out = tmp_path / "trec.json"
    argv = ["--task", "TREC", "--data-root", str(tmp_path / "lm-bff"), "--seeds", "13"]
    argv += ["--synthetic-root", str(tmp_path / "fewgen"), "--model", str(model)]
    argv += ["--steps", "2", "--eval-every", "1", "--batch-size", "4", "--json", str(out)]
    argv += ["--methods", *SIX]
    real_fewshot.main(argv)
    written = json.loads(out.read_text())
    assert written["task"] == "trec" and written["steps"] == 2
    assert list(written["results"]) == SIX
    for name, row in written["results"].items():
        assert set(row["per_seed"]) == {"13"}, name
        assert 0 <= row["mean"] <= 100 and row["std"] == 0, name
    assert "real_only" in capsys.readouterr().out  # the table is printed too


def test_gp_select_writes_its_json_for_fewer_than_100_picks(tmp_path):
    out = tmp_path / "gp.json"
    argv = ["--pool", "300", "--picks", "50", "--dim", "8", "--json", str(out)]
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gp_select.py"), *argv],
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
    )
    written = json.loads(out.read_text())
    assert set(written) == {"speedup", "same_picks"}
    assert written["same_picks"] is True and written["speedup"] > 0
