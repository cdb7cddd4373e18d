"""The pipeline flow end to end on a tiny model: Prefect runs it, MLflow records it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import prefect
import pytest
import torch
from mlflow.tracking import MlflowClient

from flows.pipeline import synprompt_pipeline
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import read_real_splits
from tests.orchestration.conftest import smoke_config, with_new_eval_batch

PROJECT = Path(__file__).resolve().parents[2]
EXPECTED_ARTIFACTS = {
    "prompt.safetensors",
    "history.csv",
    "training_curve.png",
    "results.csv",
    "results.md",
}


@pytest.fixture(scope="module")
def finished(prefect_server, tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    config = PipelineConfig.model_validate(smoke_config(tmp, tiny_encoder))
    return config, synprompt_pipeline(config)


def test_pipeline_reports_test_accuracy_and_its_run(finished):
    config, result = finished
    assert result["run_id"] and result["tracking_uri"].startswith("sqlite:///")
    client = MlflowClient(result["tracking_uri"])
    parent = client.get_run(result["run_id"])
    child = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )[0]
    accuracy = result["test_accuracy"]
    assert accuracy == parent.data.metrics["test_accuracy"] == child.data.metrics["test_accuracy"]
    n_test = len(read_real_splits(config.data)["test"])
    correct = accuracy * n_test / 100  # a percentage of whole test rows
    assert 0 <= correct <= n_test and correct == pytest.approx(round(correct))


def test_parent_and_child_runs_are_finished_with_metrics(finished):
    config, result = finished
    client = MlflowClient(result["tracking_uri"])
    parent = client.get_run(result["run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["data.task"] == "SST-2"
    assert parent.data.params["prompt_tuning.strategy"] == "paired"
    assert "test_accuracy" in parent.data.metrics
    assert parent.data.tags["prefect.flow_run_id"]
    assert parent.data.tags["synprompt.version.torch"] == torch.__version__
    assert parent.data.tags["synprompt.version.prefect"] == prefect.__version__
    if (PROJECT / ".git").exists():  # the code that ran, as the MLflow UI's source version
        head = ["git", "-C", str(PROJECT), "rev-parse", "HEAD"]
        commit = subprocess.run(head, capture_output=True, text=True, check=True).stdout.strip()
        assert parent.data.tags["mlflow.source.git.commit"] == commit
        assert parent.data.tags["synprompt.git_dirty"] in ("true", "false")
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert [c.data.tags["synprompt.stage"] for c in children] == ["prompt_tuning"]
    child = children[0]
    assert child.info.status == "FINISHED"
    steps = sorted(m.step for m in client.get_metric_history(child.info.run_id, "grad_cosine"))
    assert steps == list(range(1, config.prompt_tuning.max_steps + 1))
    assert len(client.get_metric_history(child.info.run_id, "dev_accuracy")) == 2


def test_child_run_holds_prompt_tables_plot_and_datasets(finished, tmp_path):
    _, result = finished
    client = MlflowClient(result["tracking_uri"])
    parent = client.get_run(result["run_id"])
    child = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )[0]
    names = {a.path for a in client.list_artifacts(child.info.run_id)}
    assert EXPECTED_ARTIFACTS <= names
    inputs = {d.dataset.name for d in child.inputs.dataset_inputs}
    assert {"train", "dev", "test", "synthetic"} <= inputs
    local = client.download_artifacts(child.info.run_id, "results.md", str(tmp_path))
    assert "paired+surgery" in open(local).read()


def test_second_run_reuses_the_recorded_result_without_walking_the_stages(finished):
    config, first = finished
    again = synprompt_pipeline(config)
    assert again["cached"] is True and first["cached"] is False
    assert again["test_accuracy"] == first["test_accuracy"]
    assert again["run_id"] != first["run_id"]
    client = MlflowClient(again["tracking_uri"])
    parent = client.get_run(again["run_id"])
    assert parent.data.tags["synprompt.cached_from"] == first["run_id"]
    assert parent.data.metrics["test_accuracy"] == first["test_accuracy"]
    kids = f"tags.mlflow.parentRunId = '{again['run_id']}'"
    assert client.search_runs([parent.info.experiment_id], kids) == []


def test_an_operational_change_reruns_no_stage_but_logs_each(finished):
    config, first = finished
    again = synprompt_pipeline(with_new_eval_batch(config))
    client = MlflowClient(again["tracking_uri"])
    parent = client.get_run(again["run_id"])
    assert "synprompt.cached_from" not in parent.data.tags
    kids = f"tags.mlflow.parentRunId = '{again['run_id']}'"
    (child,) = client.search_runs([parent.info.experiment_id], kids)
    assert child.data.tags["cached"] == "true"
    assert again["test_accuracy"] == first["test_accuracy"]


def test_a_bad_table_fails_the_flow_before_any_mlflow_run(prefect_server, tiny_encoder, tmp_path):
    """A deployment run skips the CLI's checks: the flow itself must fail before a run opens."""
    from synprompt_core.data import DataError

    config = smoke_config(tmp_path, tiny_encoder)
    train = tmp_path / "lm-bff" / "SST-2" / "16-13" / "train.tsv"
    train.write_text(train.read_text().replace("\t1\n", "\tmaybe\n", 1))
    with pytest.raises(DataError, match=r"train\.tsv.*row \d+.*label.*'maybe'"):
        synprompt_pipeline(PipelineConfig.model_validate(config))
    client = MlflowClient(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("smoke")
    assert experiment is None or not client.search_runs([experiment.experiment_id])
