"""SynAlign wired into the pipeline: selection and MMD reweighting as child runs, weights
reaching prompt tuning, and a bad budget failing early with no run left RUNNING."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flows.alignment import synthesize_flow
from flows.pipeline import synprompt_pipeline
from synprompt_core.alignment import apply_weights, reweight
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import read_real_splits, read_synthetic
from synprompt_core.references import Ref, file_digest
from tasks.alignment import embed
from tests.orchestration.conftest import smoke_config, with_new_eval_batch


def alignment_config(tmp, encoder, *, budget: int = 2, experiment: str = "align") -> dict:
    raw = smoke_config(tmp, encoder, max_steps=2, eval_every=2)
    raw["tracking"]["experiment"] = experiment
    raw["alignment"] = {
        "embedding": {"encoder": str(encoder), "max_length": 32},
        "selection": {"n_clusters": 2, "budget": budget},
        "reweight": {"steps": 200},
    }
    return raw


def children(client: MlflowClient, parent_id: str) -> dict:
    parent = client.get_run(parent_id)
    runs = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    stages = [run.data.tags["synprompt.stage"] for run in runs]
    assert len(set(stages)) == len(stages), f"a stage has several runs: {sorted(stages)}"
    return dict(zip(stages, runs, strict=True))


@pytest.fixture(scope="module")
def finished(prefect_server, tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("align")
    config = PipelineConfig.model_validate(alignment_config(tmp, tiny_encoder))
    result = synprompt_pipeline(config)
    return config, result, MlflowClient(result["tracking_uri"])


def test_alignment_stages_run_as_finished_children(finished):
    _, result, client = finished
    runs = children(client, result["run_id"])
    assert {"select_demonstrations", "reweight_synthetic", "prompt_tuning"} <= set(runs)
    assert all(run.info.status == "FINISHED" for run in runs.values())


def test_selection_logs_variances_and_the_demonstrations_table(finished, tmp_path):
    _, result, client = finished
    run = children(client, result["run_id"])["select_demonstrations"]
    assert run.data.metrics["n_selected"] == 2
    variances = client.get_metric_history(run.info.run_id, "gp_variance")
    assert len(variances) == 2 and all(0.0 <= m.value <= 1.0 for m in variances)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"demonstrations.parquet", "demonstrations.csv", "demonstrations.md"} <= names
    table = pd.read_parquet(
        client.download_artifacts(run.info.run_id, "demonstrations.parquet", str(tmp_path))
    )
    assert sorted(table["pick"].unique()) == [0, 1]
    assert set(table["label"]) == {0, 1}  # budget split evenly over the labels


def test_reweighting_logs_mmd_ess_plots_and_the_weighted_dataset(finished):
    _, result, client = finished
    run = children(client, result["run_id"])["reweight_synthetic"]
    metrics = run.data.metrics
    assert {"mmd_before", "mmd_after", "ess"} <= set(metrics)
    assert metrics["mmd_after"] <= metrics["mmd_before"]
    assert 1.0 <= metrics["ess"] <= metrics["n_synthetic"]
    assert run.data.tags["solver"] == "exact"
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"weight_histogram.png", "projection.png"} <= names
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["synthetic_weighted"]


def test_prompt_tuning_trains_on_the_weighted_synthetic_set(finished):
    config, result, client = finished
    runs = children(client, result["run_id"])
    used = {d.dataset.name: d.dataset for d in runs["prompt_tuning"].inputs.dataset_inputs}
    produced = runs["reweight_synthetic"].inputs.dataset_inputs[0].dataset
    assert used["synthetic"].digest == produced.digest
    drawn = pd.read_parquet(json.loads(used["synthetic"].source)["uri"])
    original = read_synthetic(config.data)
    assert (drawn["weight"] == 1.0).all()  # default: rows drawn by their MMD weight
    assert drawn["label"].value_counts().to_dict() == original["label"].value_counts().to_dict()
    # exactly the draw the core makes from the MMD weights of these embeddings
    align = config.alignment.reweight
    splits = read_real_splits(config.data)
    assert align.target == "train+dev"  # the default: matched to every labelled real row
    real = pd.concat([splits["train"], splits["dev"]], ignore_index=True)
    weights = reweight(
        syn=embed(config, original),
        real=embed(config, real),
        config=align,
        syn_labels=original["label"].to_numpy(),
        real_labels=real["label"].to_numpy(),
    ).weights
    assert weights.std() > 0  # the weights are not uniform, so the draw depends on them
    expected = apply_weights(original, weights, use="resample", seed=align.seed, by_label=True)
    columns = ["text_a", "label"]
    pd.testing.assert_frame_equal(
        drawn[columns].reset_index(drop=True), expected[columns].reset_index(drop=True)
    )


def test_second_run_reuses_the_alignment_stages(finished):
    config, first, client = finished
    again = synprompt_pipeline(with_new_eval_batch(config))
    runs = children(client, again["run_id"])
    for stage in ("select_demonstrations", "reweight_synthetic"):
        assert runs[stage].data.tags["cached"] == "true"
        assert runs[stage].info.status == "FINISHED"
        assert "mmd_before" in runs["reweight_synthetic"].data.metrics
    assert again["cached"] is True and again["test_accuracy"] == first["test_accuracy"]


def test_budget_larger_than_the_pool_fails_before_prompt_tuning(finished, tiny_encoder):
    config, _, client = finished
    tmp = Path(config.tracking.output_dir).parent  # same MLflow store, its own experiment
    bad = PipelineConfig.model_validate(
        alignment_config(tmp, tiny_encoder, budget=7, experiment="align-bad")
    )
    with pytest.raises(ValueError, match=r"alignment\.selection\.budget=7 .* \(6 rows\)"):
        synprompt_pipeline(bad)
    runs = client.search_runs([client.get_experiment_by_name("align-bad").experiment_id])
    assert {r.info.status for r in runs} == {"FAILED"}
    stages = {r.data.tags["synprompt.stage"] for r in runs}
    assert stages == {"pipeline", "select_demonstrations"}


def test_unweighted_training_after_resampling_is_a_config_error(finished):
    """Resampled rows all weigh 1: use_weights=false would silently change nothing."""
    raw = finished[0].model_dump(mode="json")
    raw["prompt_tuning"]["use_weights"] = False
    with pytest.raises(ValueError, match="use_weights=false has no effect"):
        PipelineConfig.model_validate(raw)
    raw["alignment"]["reweight"]["use"] = "loss_weights"  # the weights are then ignorable
    assert not PipelineConfig.model_validate(raw).prompt_tuning.use_weights


class ScriptedLLM:
    """Answers stage A with two attributes and stage B with two numbered examples."""

    def generate(self, prompts, *, max_new_tokens, temperature, seed):
        return [
            "1. a short, upbeat line\n2. another short line"
            if p.startswith("Attributes")
            else "- short\n- plain words"
            for p in prompts
        ]


def test_synthesis_writes_auditable_rows_from_the_chosen_clusters(finished, monkeypatch, tmp_path):
    config, result, client = finished
    monkeypatch.setattr("tasks.synthesis.load_generator", lambda config: ScriptedLLM())
    select = children(client, result["run_id"])["select_demonstrations"]
    local = client.download_artifacts(select.info.run_id, "demonstrations.parquet", str(tmp_path))
    demos = Ref(path=local, sha256=file_digest(Path(local)))
    ref = synthesize_flow(config, demos, (result["tracking_uri"], result["run_id"]))
    rows = pd.read_parquet(ref.path)
    assert len(rows) == 2 * 2  # two clusters, one stage-B call each, two examples per call
    assert set(rows["label"]) == {0, 1} and (rows["weight"] == 1.0).all()
    assert rows["raw_output"].str.startswith("1. ").all() and rows["seed"].nunique() == 2
    assert (rows["attributes"] == "short | plain words").all()
    run = children(client, result["run_id"])["synthesize"]
    assert run.info.status == "FINISHED" and run.data.metrics["failed"] == 0
