"""Four pipeline runs started at once against the same stores (one Prefect server, one
output folder, one MLflow SQLite store) all finish, and each run's children, artifacts
and results belong to it alone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.orchestration.cli_runs import (
    cli_env,
    finish,
    kill_group,
    run_id_of,
    start_prefect_server,
    start_run,
    wait_for_server,
    write_config,
)
from tests.orchestration.conftest import smoke_config

STRATEGIES = {  # strategy -> the method name its results table must show
    "paired": "paired+surgery",
    "real+syn": "real+syn",
    "syn_only": "syn_only",
    "real_only": "real_only",
}


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("concurrent")
    home = tmp / "prefect-home"
    home.mkdir()
    server, url = start_prefect_server(home)  # starts while the tiny model is built
    procs = []
    try:
        model = request.getfixturevalue("tiny_encoder")
        wait_for_server(server, url)
        env = cli_env(home, PREFECT_API_URL=url)
        for i, strategy in enumerate(STRATEGIES):
            raw = smoke_config(tmp, model, strategy=strategy, max_steps=4, eval_every=2)
            raw["tracking"] = {"experiment": "concurrent", "output_dir": str(tmp / "out")}
            config = write_config(tmp / f"run{i}.yaml", raw)
            procs.append(
                (strategy, start_run(config, env, tmp / f"run{i}.log"), tmp / f"run{i}.log")
            )
        outputs = {s: finish(proc, log, timeout=100) for s, proc, log in procs}
    finally:
        for _, proc, _ in procs:
            if proc.poll() is None:
                kill_group(proc)
        kill_group(server)
    return {s: run_id_of(text) for s, text in outputs.items()}, tmp / "out"


def child_of(client: MlflowClient, parent_id: str):
    parent = client.get_run(parent_id)
    return client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"
    )


def test_all_four_finish_in_one_store(runs):
    ids, out = runs
    uris = {uri for _, uri in ids.values()}
    assert len(uris) == 1 and len({run_id for run_id, _ in ids.values()}) == 4
    client = MlflowClient(uris.pop())
    for strategy, (run_id, _) in ids.items():
        parent = client.get_run(run_id)
        assert parent.info.status == "FINISHED"
        assert parent.data.params["prompt_tuning.strategy"] == strategy
        assert "test_accuracy" in parent.data.metrics
    (experiment,) = {client.get_run(r).info.experiment_id for r, _ in ids.values()}
    every = client.search_runs([experiment], max_results=100)
    assert len(every) == 8 and all(r.info.status == "FINISHED" for r in every)


def test_each_run_holds_only_its_own_children_and_artifacts(runs, tmp_path):
    ids, out = runs
    seen_artifact_uris = set()
    for strategy, (run_id, uri) in ids.items():
        client = MlflowClient(uri)
        (child,) = child_of(client, run_id)
        assert child.data.params["prompt_tuning.strategy"] == strategy
        for run in (client.get_run(run_id), child):
            assert run.info.run_id in run.info.artifact_uri
            assert run.info.artifact_uri not in seen_artifact_uris
            seen_artifact_uris.add(run.info.artifact_uri)
        names = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert names == {
            "prompt.safetensors",
            "model.json",
            "history.csv",
            "training_curve.png",
            "results.csv",
            "results.md",
        }
        fetched = tmp_path / child.info.run_id  # not a fresh folder under /tmp per download
        fetched.mkdir()
        table = pd.read_csv(
            client.download_artifacts(child.info.run_id, "results.csv", str(fetched))
        )
        assert set(table["method"]) - {"zero_shot"} == {STRATEGIES[strategy]}
        stage = out / "stages" / "prompt_tuning" / child.data.tags["cache_key"]
        for name in names:  # byte for byte the files of this run's own stage
            local = Path(client.download_artifacts(child.info.run_id, name, str(fetched)))
            assert local.read_bytes() == (stage / name).read_bytes(), (strategy, name)
        others = {STRATEGIES[s] for s in STRATEGIES if s != strategy}
        markdown = Path(
            client.download_artifacts(child.info.run_id, "results.md", str(fetched))
        ).read_text()
        assert not [m for m in others if f"| {m} " in markdown]
