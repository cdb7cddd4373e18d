"""Stages 1-2 wired into the pipeline: a tuned generator (DawGen, SoftSRV) samples the
synthetic set that prompt tuning trains on; stages are child runs, cached on re-run, and
a generator that cannot load fails before any training with no run left RUNNING."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flows.pipeline import synprompt_pipeline
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import table_digest
from synprompt_core.data.validation import CONTRACT_COLUMNS
from synprompt_core.generator.errors import GeneratorError
from tasks import tracking
from tasks.preflight import PreflightError
from tests.conftest import SHARED
from tests.orchestration.conftest import smoke_config, with_new_eval_batch

TINY_GPT2 = SHARED / "models" / "tiny-gpt2-sst2"
pytestmark = pytest.mark.skipif(not TINY_GPT2.is_dir(), reason=f"{TINY_GPT2} is not present")
STAGES = ("tune_generator", "generate_synthetic", "prompt_tuning")


def generator_config(tmp: Path, encoder: Path, *, mode: str, model=TINY_GPT2, experiment=None):
    raw = smoke_config(tmp, encoder, max_steps=2, eval_every=2)
    del raw["data"]["synthetic_root"]  # the generator makes the synthetic set
    raw["tracking"]["experiment"] = experiment or f"gen-{mode}"
    raw["generator"] = {
        "model": str(model),
        "mode": mode,
        "steps": 2,
        "batch_size": 4,
        "max_length": 24,
        "prompt": {"length": 4},
    }
    raw["generation"] = {"n_per_label": 4, "max_new_tokens": 12, "batch_size": 4}
    return raw


def children(client: MlflowClient, parent_id: str) -> dict:
    parent = client.get_run(parent_id)
    runs = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    stages = [run.data.tags["synprompt.stage"] for run in runs]
    assert len(set(stages)) == len(stages), f"a stage has several runs: {sorted(stages)}"
    return dict(zip(stages, runs, strict=True))


@pytest.fixture(scope="module", params=["dawgen", "softsrv"])
def finished(request, prefect_server, tiny_encoder, tmp_path_factory):
    mode = request.param
    tmp = tmp_path_factory.mktemp(f"gen-{mode}")
    config = PipelineConfig.model_validate(generator_config(tmp, tiny_encoder, mode=mode))
    result = synprompt_pipeline(config)
    return config, result, MlflowClient(result["tracking_uri"])


def test_generator_stages_run_as_finished_children(finished):
    _, result, client = finished
    runs = children(client, result["run_id"])
    assert set(STAGES) <= set(runs)
    assert all(runs[stage].info.status == "FINISHED" for stage in STAGES)
    tune = runs["tune_generator"]
    names = {a.path for a in client.list_artifacts(tune.info.run_id)}
    assert {"generator.safetensors", "history.csv", "generator_curve.png"} <= names
    assert len(client.get_metric_history(tune.info.run_id, "loss")) == 2  # one per step


def test_weight_entropy_is_logged_per_step_where_there_is_a_weight_net(finished):
    config, result, client = finished
    tune = children(client, result["run_id"])["tune_generator"]
    entropy = client.get_metric_history(tune.info.run_id, "weight_entropy_norm")
    if config.generator.mode == "softsrv":  # reconstruction only: no weight net W
        assert entropy == [] and "lm" in tune.data.metrics
        return
    assert [m.step for m in entropy] == [0, 1]
    assert all(0.0 < m.value <= 1.0 for m in entropy)
    assert "weight_entropy" in tune.data.metrics and "tail_mean_disc" in tune.data.metrics


def test_generated_set_is_auditable_and_counted(finished):
    config, result, client = finished
    run = children(client, result["run_id"])["generate_synthetic"]
    (entry,) = run.inputs.dataset_inputs
    folder = Path(config.tracking.output_dir) / "stages" / "generate_synthetic"
    (table_path,) = folder.glob("*/synthetic.parquet")
    rows = pd.read_parquet(table_path)
    assert list(rows.columns) == list(CONTRACT_COLUMNS)
    assert entry.dataset.digest == table_digest(rows)[:36]
    assert rows["text_a"].str.strip().str.len().gt(0).all()
    assert rows["raw_output"].str.len().gt(0).all() and rows["seed"].is_unique
    assert rows["generator_ref"].str.contains("@sha256:").all()
    assert (rows["source"] == f"synthetic:{config.generator.mode}").all()
    metrics = run.data.metrics
    assert metrics["requested"] == 8 and metrics["kept"] == len(rows)
    assert metrics["kept"] + metrics["removed"] + metrics["failed"] == metrics["generated"]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"README.md", "rejected.parquet"} <= names
    used = children(client, result["run_id"])["prompt_tuning"].inputs.dataset_inputs
    assert {d.dataset.name: d.dataset.digest for d in used}["synthetic"] == entry.dataset.digest


def test_second_run_reuses_both_generator_stages(finished):
    config, first, client = finished
    again = synprompt_pipeline(with_new_eval_batch(config))
    runs = children(client, again["run_id"])
    for stage in STAGES[:2]:
        assert runs[stage].info.status == "FINISHED"
        assert runs[stage].data.tags["cached"] == "true"
        assert runs[stage].data.tags["cache_key"]
    assert "kept" in runs["generate_synthetic"].data.metrics  # logged again from the cache
    assert again["cached"] is True and again["test_accuracy"] == first["test_accuracy"]


def test_missing_generator_model_fails_in_preflight(prefect_server, tiny_encoder, tmp_path):
    missing = tmp_path / "no-such-generator"
    raw = generator_config(tmp_path, tiny_encoder, mode="dawgen", model=missing)
    with pytest.raises(PreflightError, match=r"generator model folder .*no-such-generator"):
        synprompt_pipeline(PipelineConfig.model_validate(raw))
    assert list_runs(tmp_path, "gen-dawgen") == []  # failed before any run was opened


def test_unloadable_generator_fails_before_training(prefect_server, tiny_encoder, tmp_path):
    broken = tmp_path / "broken-generator"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "not-a-model"}')
    raw = generator_config(tmp_path, tiny_encoder, mode="dawgen", model=broken, experiment="bad")
    with pytest.raises(GeneratorError, match=r"cannot load generator model .*broken-generator"):
        synprompt_pipeline(PipelineConfig.model_validate(raw))
    runs = list_runs(tmp_path, "bad")
    assert {r.data.tags["synprompt.stage"]: r.info.status for r in runs} == {
        "pipeline": "FAILED",
        "tune_generator": "FAILED",
    }
    tuned = tmp_path / "out" / "stages" / "tune_generator"
    assert not list(tuned.glob("*/manifest.json")) and not list(tuned.glob("*/history.csv"))


def list_runs(tmp: Path, experiment: str) -> list:
    client = MlflowClient(tracking.tracking_uri(None, str(tmp / "out")))
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def test_generation_over_the_context_fails_before_the_generator_trains(
    tiny_encoder, tmp_path, monkeypatch
):
    from synprompt_core.references import Ref
    from tasks import generator as gen
    from tests.core.generator_models import sentiment_examples

    raw = generator_config(tmp_path, tiny_encoder, mode="prompt")
    raw["generation"]["max_new_tokens"] = 125  # + 4 soft tokens > the 128 positions
    config = PipelineConfig.model_validate(raw)
    table = sentiment_examples()
    table.to_parquet(tmp_path / "train.parquet")
    train = Ref(path=str(tmp_path / "train.parquet"), sha256=table_digest(table))

    def trained(**kw):
        raise AssertionError("the generator was tuned before the check")

    monkeypatch.setattr(gen, "tune_generator", trained)
    with pytest.raises(GeneratorError, match=r"= 129 exceeds the generator context of 128"):
        gen.train_generator(config, train, tmp_path / "tuned")
