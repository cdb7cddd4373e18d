"""The MLflow run around a stage ends FAILED, with the error, whatever was raised."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from flows.tracking_run import mlflow_run
from synprompt_core.configs.pipeline import PipelineConfig
from tests.orchestration.conftest import smoke_config


class Bare(ValueError):
    pass  # no docstring, and raised with no message


@pytest.mark.parametrize(
    ("error", "tag"),
    [
        (Bare(), "Bare: no message"),
        (KeyboardInterrupt(), "KeyboardInterrupt: Program interrupted by user."),
    ],
)
def test_a_failed_run_records_its_error_even_without_a_message(tmp_path, error, tag):
    config = PipelineConfig.model_validate(smoke_config(tmp_path, tmp_path / "model"))
    with pytest.raises(type(error)), mlflow_run(config, name="stage") as (uri, run_id):
        raise error
    run = MlflowClient(uri).get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["error"] == tag


def test_a_stage_run_joins_its_parents_experiment_and_forgets_it_when_closed(tmp_path, monkeypatch):
    from flows import tracking_run
    from tasks import tracking

    config = PipelineConfig.model_validate(smoke_config(tmp_path, tmp_path / "model"))
    lookups, real = [], tracking.ensure_experiment
    monkeypatch.setattr(tracking, "ensure_experiment", lambda *a: lookups.append(a) or real(*a))
    with mlflow_run(config, name="pipeline") as parent:
        with mlflow_run(config, name="stage", parent=parent) as (uri, child):
            assert len(lookups) == 1  # the stage took its parent's experiment id
            client = MlflowClient(uri)
            experiment = client.get_experiment_by_name(config.tracking.experiment)
            assert client.get_run(child).info.experiment_id == experiment.experiment_id
            assert client.get_run(child).data.tags["mlflow.parentRunId"] == parent[1]
    assert tracking_run._OPEN_RUNS == {}
    assert MlflowClient(uri).get_run(child).info.status == "FINISHED"


def test_live_history_finish_sends_the_rest_with_summary_and_tags_in_one_call(
    tmp_path, monkeypatch
):
    from tasks import tracking

    config = PipelineConfig.model_validate(smoke_config(tmp_path, tmp_path / "model"))
    with mlflow_run(config, name="stage") as (uri, run_id):
        live = tracking.LiveHistory(uri, run_id, every=2)
        live(1, {"loss": 1.0})
        live(2, {"loss": 0.5, "dev_accuracy": 60.0})  # a checkpoint step: sent
        live(3, {"loss": 0.25})  # pending
        calls = []
        client = tracking.client_for(uri)
        real = client.log_batch
        monkeypatch.setattr(client, "log_batch", lambda *a, **k: calls.append(1) or real(*a, **k))
        history = [  # as history.csv holds it: every step, NaN where not evaluated
            {"step": 0.0, "loss": 2.0, "dev_accuracy": 50.0},
            {"step": 1.0, "loss": 1.0, "dev_accuracy": float("nan")},
            {"step": 2.0, "loss": 0.5, "dev_accuracy": 60.0},
            {"step": 3.0, "loss": 0.25, "dev_accuracy": float("nan")},
        ]
        live.finish(history, metrics={"test_accuracy": 70.0}, tags={"cached": "false"})
        assert len(calls) == 1
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.data.tags["cached"] == "false" and run.data.metrics["test_accuracy"] == 70.0
    losses = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "loss"))
    assert losses == [(0, 2.0), (1, 1.0), (2, 0.5), (3, 0.25)]  # each step once
    dev = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "dev_accuracy"))
    assert dev == [(0, 50.0), (2, 60.0)]


def test_log_batch_splits_at_mlflows_limits_and_skips_an_empty_call(tmp_path, monkeypatch):
    from tasks import tracking

    config = PipelineConfig.model_validate(smoke_config(tmp_path, tmp_path / "model"))
    with mlflow_run(config, name="stage") as (uri, run_id):
        client = tracking.client_for(uri)
        sizes = []
        real = client.log_batch

        def spy(run, metrics=(), params=(), tags=(), **kwargs):
            sizes.append((len(metrics), len(tags)))
            return real(run, metrics=metrics, params=params, tags=tags, **kwargs)

        monkeypatch.setattr(client, "log_batch", spy)
        tracking.log_batch(uri, run_id)
        assert sizes == []
        tags = {f"t{i}": str(i) for i in range(150)}
        history = [{"step": float(i), "a": float(i), "b": 1.0} for i in range(500)]
        tracking.log_batch(uri, run_id, tags=tags, history=history, metrics={"m": 1.0})
        assert sizes == [(900, 100), (101, 50)]
    run = MlflowClient(uri).get_run(run_id)
    assert run.data.tags["t149"] == "149" and run.data.metrics["m"] == 1.0


@pytest.mark.parametrize("server", [True, False])
def test_a_tracking_server_keeps_the_artifacts_of_a_new_experiment(tmp_path, monkeypatch, server):
    from tasks import tracking

    created = []

    class Client:
        def get_experiment_by_name(self, name):
            return None

        def create_experiment(self, name, artifact_location=None):
            created.append(artifact_location)
            return "1"

    monkeypatch.setattr(tracking, "client_for", lambda uri: Client())
    uri = "http://127.0.0.1:5000" if server else f"sqlite:///{tmp_path}/mlflow.db"
    assert tracking.ensure_experiment(uri, "remote", str(tmp_path / "mlartifacts")) == "1"
    # a server's own artifact store, not a folder of the machine that made the experiment
    assert created == [None if server else (tmp_path / "mlartifacts").resolve().as_uri()]
