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


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server on 127.0.0.1 with an artifact store of its own:
    (its uri, that store's folder)."""
    import os
    import subprocess
    import sys
    import urllib.request

    from tests.orchestration.cli_runs import free_port, stop_group, wait_for

    home = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{home / 'server.db'}"]
    command += ["--artifacts-destination", str(home / "server-artifacts")]
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed in teardown
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runner
    proc = subprocess.Popen(
        command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, timeout=120, interval=0.5, what="the mlflow server")
        yield f"http://127.0.0.1:{port}", home / "server-artifacts"
    finally:
        stop_group(proc)
        log.close()


def test_a_tracking_server_keeps_the_artifacts_of_a_new_experiment(tmp_path, mlflow_server):
    from tasks import tracking

    uri, server_artifacts = mlflow_server
    ours = tmp_path / "mlartifacts"  # a folder of the machine that makes the experiment
    experiment = tracking.ensure_experiment(uri, "remote", str(ours))
    location = MlflowClient(uri).get_experiment(experiment).artifact_location
    assert location.startswith("mlflow-artifacts:"), location  # the server's own store
    run_id = tracking.start_run(uri, experiment_id=experiment, name="stage")
    (tmp_path / "results.md").write_text("| method |\n")
    tracking.log_artifact(uri, run_id, tmp_path / "results.md")
    assert [p.name for p in server_artifacts.rglob("results.md")] == ["results.md"]
    assert not ours.exists()


def test_a_local_store_keeps_the_artifacts_of_a_new_experiment_in_the_given_folder(tmp_path):
    from tasks import tracking

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    experiment = tracking.ensure_experiment(uri, "local", str(tmp_path / "mlartifacts"))
    location = MlflowClient(uri).get_experiment(experiment).artifact_location
    assert location == (tmp_path / "mlartifacts").resolve().as_uri()


def test_logging_datasets_stays_quiet_when_another_thread_restores_the_filters(
    tmp_path, monkeypatch
):
    """MLflow's advice on local sources and integer columns never reaches the user, even
    when another thread (a library's own ``catch_warnings`` in a parallel ablation cell)
    restores the process's filters, as it saved them, in the middle of the logging."""
    import warnings

    import mlflow
    import pandas as pd

    from synprompt_core.references import Ref
    from tasks import tracking

    path = tmp_path / "train.parquet"
    pd.DataFrame({"text_a": ["a", "b"], "text_b": ["", ""], "label": [0, 1]}).to_parquet(path)
    ref = Ref(path=str(path), sha256="b" * 64)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    experiment = tracking.ensure_experiment(uri, "quiet", str(tmp_path / "mlartifacts"))
    run_id = tracking.start_run(uri, experiment_id=experiment, name="stage")
    tracking.log_datasets(uri, run_id, [("train", "training", ref)])  # an earlier stage's
    with warnings.catch_warnings(record=True) as caught:
        before = list(warnings.filters)  # what the other thread saved on entering its block
        real = mlflow.data.from_pandas

        def restored_meanwhile(*args, **kwargs):
            warnings.filters[:] = before  # ... and puts back on leaving it
            warnings._filters_mutated()
            return real(*args, **kwargs)

        monkeypatch.setattr(mlflow.data, "from_pandas", restored_meanwhile)
        tracking.log_datasets(uri, run_id, [("train", "training", ref)])
    advice = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert not [m for m in advice if "dataset source" in m or "Inferred schema" in m]
