"""SIGKILL the pipeline mid prompt-tuning, re-run it: nothing finished is recomputed,
tuning resumes from its checkpoint, the result equals an uninterrupted run's, and the
killed process's MLflow runs end FAILED ("process died") instead of RUNNING for ever."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file

from tasks import tracking
from tests.orchestration.cli_runs import (
    cli_env,
    kill_group,
    run_id_of,
    run_to_end,
    start_run,
    wait_for,
    write_config,
)
from tests.orchestration.conftest import smoke_config

MAX_STEPS = 40
CHECKPOINT_EVERY = 5


def tuning_config(tmp: Path, model: Path, output_dir: Path) -> dict:
    config = smoke_config(
        tmp,
        model,
        max_steps=MAX_STEPS,
        eval_every=10,
        checkpoint_every=CHECKPOINT_EVERY,
        patience=0,
    )
    config["tracking"] = {"experiment": "kill-resume", "output_dir": str(output_dir)}
    return config


def data_files(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (out / "stages" / "data").rglob("*") if p.is_file()}


def uninterrupted(tmp: Path, model: Path) -> Path:
    """The same stage in this process, start to end with no kill, into a fresh folder.

    It runs the pipeline's own stage body (load-data, then train-and-write) without
    Prefect and MLflow, which add nothing to the numbers and a minute to the test.
    """
    from synprompt_core.configs.pipeline import PipelineConfig
    from tasks.data import load_data
    from tasks.prompt_tuning import STAGE, stage_key, train_and_write
    from tasks.store import stage_dir

    config = PipelineConfig.model_validate(tuning_config(tmp, model, tmp / "fresh"))
    inputs = load_data.fn(config)
    key = stage_key(config, inputs)
    folder = stage_dir(config.tracking.output_dir, STAGE, key)
    train_and_write(config, inputs, key, folder)
    return folder


@pytest.fixture(scope="module")
def runs(tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kill-resume")
    out = tmp / "out"
    config = write_config(tmp / "config.yaml", tuning_config(tmp, tiny_encoder, out))
    env = cli_env(tmp / "prefect-home")

    killed = start_run(config, env, tmp / "killed.log")
    try:
        wait_for(
            lambda: list(out.glob("stages/prompt_tuning/*/checkpoint/checkpoint.pt")),
            timeout=90,
            what="the first prompt-tuning checkpoint",
        )
    finally:
        kill_group(killed)
    (checkpoint,) = out.glob("stages/prompt_tuning/*/checkpoint/checkpoint.pt")
    stage = checkpoint.parents[1]
    assert not (stage / "manifest.json").exists(), "training finished before the kill"
    killed_at = torch.load(checkpoint, weights_only=True)["step"]
    data_before = data_files(out)
    fresh_stage = uninterrupted(tmp, tiny_encoder)
    resumed_log = run_to_end(config, env, tmp / "resumed.log")
    return {
        "out": out,
        "stage": stage,
        "killed_at": killed_at,
        "data_before": data_before,
        "resumed_run": run_id_of(resumed_log),
        "fresh_stage": fresh_stage,
    }


def manifest(stage: Path) -> dict:
    return json.loads((stage / "manifest.json").read_text())


def test_data_stage_was_not_recomputed(runs):
    assert runs["data_before"], "the killed run had written no data stage"
    assert data_files(runs["out"]) == runs["data_before"]


def test_prompt_tuning_resumed_from_its_checkpoint(runs):
    assert 0 < runs["killed_at"] < MAX_STEPS
    summary = manifest(runs["stage"])["summary"]
    assert summary["resumed_from"] == runs["killed_at"]
    run_id, uri = runs["resumed_run"]
    client = MlflowClient(uri)
    parent = client.get_run(run_id)
    (child,) = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'"
    )
    assert child.data.metrics["resumed_from"] == runs["killed_at"]
    assert child.data.tags["cached"] == "false"
    steps = sorted(m.step for m in client.get_metric_history(child.info.run_id, "train_loss"))
    assert steps == list(range(1, MAX_STEPS + 1)), "the history before the kill is kept"


def test_the_killed_run_had_sent_its_curves_up_to_the_checkpoint(runs):
    run_id, uri = runs["resumed_run"]
    client = MlflowClient(uri)
    experiment = client.get_run(run_id).info.experiment_id
    stage = "tags.`synprompt.stage` = 'prompt_tuning' and attributes.status = 'FAILED'"
    (killed,) = client.search_runs([experiment], stage)
    steps = {m.step for m in client.get_metric_history(killed.info.run_id, "train_loss")}
    assert set(range(1, CHECKPOINT_EVERY + 1)) <= steps  # live, before the process died


def test_resumed_result_equals_an_uninterrupted_run(runs):
    resumed, fresh = manifest(runs["stage"]), manifest(runs["fresh_stage"])
    assert resumed["key"] == fresh["key"]
    assert fresh["summary"]["resumed_from"] == 0
    for metric in ("test_accuracy", "best_dev_accuracy", "best_step", "test_macro_f1"):
        assert resumed["summary"][metric] == fresh["summary"][metric], metric
    ours = load_file(runs["stage"] / "prompt.safetensors")
    theirs = load_file(runs["fresh_stage"] / "prompt.safetensors")
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name
    history = (runs["stage"] / "history.csv").read_text()
    assert history == (runs["fresh_stage"] / "history.csv").read_text()


def test_killed_runs_are_marked_failed_on_the_next_start(runs):
    run_id, uri = runs["resumed_run"]
    client = MlflowClient(uri)
    experiment = client.get_run(run_id).info.experiment_id
    every = client.search_runs([experiment], max_results=100)
    others = [
        r
        for r in every
        if r.info.run_id != run_id and r.data.tags.get("mlflow.parentRunId") != run_id
    ]
    assert {r.data.tags["synprompt.stage"] for r in others} == {"pipeline", "prompt_tuning"}
    for run in others:
        assert run.info.status == "FAILED", run.data.tags["synprompt.stage"]
        assert run.data.tags["error"].startswith("process died")
        assert run.data.tags["synprompt.pid"].isdigit() and run.data.tags["synprompt.host"]
    assert not [r for r in every if r.info.status == "RUNNING"]


def test_only_runs_of_dead_processes_on_this_host_are_failed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = tracking.ensure_experiment(uri, "orphans", str(tmp_path / "artifacts"))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    me = tracking.process_tags()
    cases = {
        "dead": {**me, "synprompt.pid": str(gone.pid), "synprompt.pid_start": ""},
        "alive": me,
        "reused_pid": {**me, "synprompt.pid_start": "1"},  # our pid, another start time
        "other_host": {**me, "synprompt.host": "elsewhere", "synprompt.pid": str(gone.pid)},
        "untagged": {},
    }
    ids = {
        name: tracking.start_run(uri, experiment_id=experiment, name=name, tags=tags)
        for name, tags in cases.items()
    }
    marked = tracking.fail_dead_runs(uri, experiment)
    assert sorted(marked) == sorted([ids["dead"], ids["reused_pid"]])
    client = MlflowClient(uri)
    status = {name: client.get_run(run_id).info.status for name, run_id in ids.items()}
    assert status == {
        "dead": "FAILED",
        "alive": "RUNNING",
        "reused_pid": "FAILED",
        "other_host": "RUNNING",
        "untagged": "RUNNING",
    }
