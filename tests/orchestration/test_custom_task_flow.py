"""A task of the user's own through the pipeline flow: trained, recorded, re-run when its
label words change (the stage caches key on the spec, not only on the name), and its tuned
prompt applied to new rows with ``synprompt predict``."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import matthews_corrcoef
from typer.testing import CliRunner

from flows.cli import app
from flows.pipeline import synprompt_pipeline
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.training.predict import predict_file

ROWS = [
    ("the team won the final match", "sports"),
    ("a late goal decided the game", "sports"),
    ("the senate passed the new law", "politics"),
    ("voters chose a new president", "politics"),
    ("the cell divides under the microscope", "science"),
    ("physicists measured the particle", "science"),
]


def topic_config(tmp_path, model, verbalizers=("game", "law", "cell")) -> PipelineConfig:
    real = pd.DataFrame(ROWS, columns=["text", "topic"])
    real.to_csv(tmp_path / "real.csv", index=False)
    synthetic = real.assign(text=real["text"] + " indeed")
    synthetic.to_json(tmp_path / "synthetic.jsonl", orient="records", lines=True)
    source = {"text_a": "text", "label": "topic"}
    return PipelineConfig.model_validate(
        {
            "name": "topics",
            "data": {
                "task": "news-topics",
                "task_spec": {
                    "labels": ["sports", "politics", "science"],
                    "verbalizers": list(verbalizers),
                    "template": "{text_a} Topic : {mask} .",
                    "label_sentence": "This is about {word} .",
                },
                "train": {"format": "csv", "path": str(tmp_path / "real.csv"), **source},
                "test": {"format": "csv", "path": str(tmp_path / "real.csv"), **source},
                "synthetic": {
                    "format": "jsonl",
                    "path": str(tmp_path / "synthetic.jsonl"),
                    **source,
                },
            },
            "backbone": {"kind": "sentence", "model": str(model)},
            "prompt_tuning": {"max_steps": 2, "eval_every": 2, "batch_size": 3},
            "tracking": {"experiment": "topics", "output_dir": str(tmp_path / "out")},
        }
    )


@pytest.fixture(scope="module")
def trained(prefect_server, tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("topics")
    return tmp, synprompt_pipeline(topic_config(tmp, tiny_encoder))


def test_own_task_trains_and_new_label_words_retrain(trained, tiny_encoder):
    tmp_path, first = trained
    assert 0 <= first["test_accuracy"] <= 100 and not first["cached"]
    client = MlflowClient(first["tracking_uri"])
    run = client.get_run(first["run_id"])
    assert run.info.run_name == "topics-news-topics"  # own files: no data seed in the name
    params = run.data.params
    assert params["data.task"] == "news-topics"
    assert params["data.task_spec.verbalizers"] == "['game', 'law', 'cell']"

    reworded = topic_config(tmp_path, tiny_encoder, verbalizers=("sport", "vote", "atom"))
    second = synprompt_pipeline(reworded)
    parent = client.get_run(second["run_id"])
    kids = f"tags.mlflow.parentRunId = '{second['run_id']}'"
    (child,) = client.search_runs([parent.info.experiment_id], kids)
    assert not second["cached"] and child.data.tags["cached"] == "false"


def test_predict_scores_rows_as_training_did(trained):
    """The test file through `predict` gives the accuracy the pipeline reported."""
    tmp_path, result = trained
    out = tmp_path / "predictions.csv"
    args = ["predict", result["folder"], str(tmp_path / "real.csv"), "--output", str(out)]
    args += ["--text-a", "text", "--label", "topic"]
    cli = CliRunner().invoke(app, args)
    assert cli.exit_code == 0, cli.output
    assert f"accuracy on the rows' own labels: {result['test_accuracy']:.2f}%" in cli.output
    table = pd.read_csv(out)
    assert list(table.columns[:2]) == ["text", "topic"]  # the rows as given, then predictions
    assert len(table) == len(ROWS) and set(table["prediction"]) <= {"sports", "politics", "science"}
    probabilities = table[["p_sports", "p_politics", "p_science"]]
    assert ((probabilities.sum(axis=1) - 1).abs() < 1e-5).all()
    assert (table["prediction"] == probabilities.idxmax(axis=1).str.removeprefix("p_")).all()

    # the same prompt, fetched from the MLflow store alone
    client = MlflowClient(result["tracking_uri"])
    parent = client.get_run(result["run_id"])
    kids = f"tags.mlflow.parentRunId = '{result['run_id']}'"
    (child,) = client.search_runs([parent.info.experiment_id], kids)
    fetched = tmp_path / "fetched"
    client.download_artifacts(child.info.run_id, "", str(fetched.mkdir() or fetched))
    again = predict_file(fetched, tmp_path / "real.csv", tmp_path / "again.csv", label="topic")
    assert again["accuracy"] == pytest.approx(result["test_accuracy"])
    assert again["macro_f1"] == pytest.approx(result["test_macro_f1"])
    assert 0 < again["loss"] < 10  # mean cross-entropy of the true labels
    assert again["metric"] == "accuracy"


def test_predict_reports_the_tasks_own_metric(trained):
    """A prompt of a task scored by MCC: `predict` prints it beside accuracy, computed
    from the predictions it wrote."""
    tmp_path, result = trained
    folder = tmp_path / "mcc-task"
    shutil.copytree(result["folder"], folder)
    card = json.loads((folder / "model.json").read_text())
    card["task_spec"]["metric"] = "mcc"
    (folder / "model.json").write_text(json.dumps(card))
    out = tmp_path / "mcc.csv"
    args = ["predict", str(folder), str(tmp_path / "real.csv"), "--output", str(out)]
    cli = CliRunner().invoke(app, [*args, "--text-a", "text", "--label", "topic"])
    assert cli.exit_code == 0, cli.output
    table = pd.read_csv(out)
    expected = 100 * matthews_corrcoef(table["topic"], table["prediction"])
    assert f"mcc on the rows' own labels: {expected:.2f}" in cli.output
    summary = predict_file(folder, tmp_path / "real.csv", tmp_path / "m2.csv", label="topic")
    assert summary["metric"] == "mcc" and summary["mcc"] == pytest.approx(expected)


def test_predict_unlabeled_rows_and_bad_input(trained):
    tmp_path, result = trained
    (tmp_path / "new.jsonl").write_text('{"text": "the striker scored twice"}\n{"text": ""}\n')
    args = ["predict", result["folder"], str(tmp_path / "new.jsonl")]
    cli = CliRunner().invoke(app, [*args, "--output", str(tmp_path / "new.csv")])
    assert cli.exit_code == 2 and "new.jsonl" in cli.output and "row 2" in cli.output
    assert not (tmp_path / "new.csv").exists()  # nothing half-written

    # a column named label is data like any other unless --label names it
    (tmp_path / "new.jsonl").write_text(
        '{"id": 7, "text": "the striker scored twice", "label": ""}\n'
    )
    cli = CliRunner().invoke(app, [*args, "--output", str(tmp_path / "new.parquet")])
    assert cli.exit_code == 0, cli.output
    table = pd.read_parquet(tmp_path / "new.parquet")
    assert table["id"].tolist() == [7] and table["text"].tolist() == ["the striker scored twice"]
    assert "accuracy" not in cli.output

    # two columns that could be the text: the one read is said, once, as a note
    (tmp_path / "two.jsonl").write_text('{"text": "a vote", "content": "the senate voted"}\n')
    cli = CliRunner().invoke(
        app, [*args[:2], str(tmp_path / "two.jsonl"), "--output", str(tmp_path / "two.csv")]
    )
    assert cli.exit_code == 0, cli.output
    assert cli.output.count("note: ") == 1 and "text_a read from column 'text'" in cli.output

    cli = CliRunner().invoke(app, ["predict", str(tmp_path), str(tmp_path / "new.jsonl"),
                                   "--output", str(tmp_path / "x.csv")])  # fmt: skip
    assert cli.exit_code == 2 and "not a prompt-tuning output folder" in cli.output

    # mixed types cannot go to parquet: one message, and no partial file left behind
    (tmp_path / "mixed.jsonl").write_text(
        '{"text": "a goal", "id": 1}\n{"text": "a vote", "id": "b"}\n'
    )
    out = tmp_path / "preds"
    out.mkdir()
    cli = CliRunner().invoke(
        app, [*args[:2], str(tmp_path / "mixed.jsonl"), "--output", str(out / "p.parquet")]
    )
    assert (
        cli.exit_code == 2 and "cannot write" in cli.output and str(out / "p.parquet") in cli.output
    )
    assert list(out.iterdir()) == []


def test_validate_notes_a_class_without_training_rows(tmp_path, tiny_encoder):
    from tasks.preflight import check_inputs

    config = topic_config(tmp_path, tiny_encoder)
    train = config.data.train.model_copy(update={"limit": 2})  # the file starts with sports
    lines = check_inputs(
        config.model_copy(update={"data": config.data.model_copy(update={"train": train})})
    )
    assert (
        "  note: no train rows for politics, science (its `limit` keeps the first rows of the file)"
        in lines
    )
    assert not any("no test rows" in line for line in lines)
