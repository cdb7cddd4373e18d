"""The ablation grid on a Dask LocalCluster of 2 worker processes, checked cell by cell."""

from __future__ import annotations

import statistics
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flows import ablation
from flows.ablation import ablation_flow
from flows.compare import Comparison
from synprompt_core.comparison import AVERAGE, format_cell
from synprompt_core.configs.ablation import AblationConfig
from tests.orchestration.conftest import smoke_config, write_fewgen_sst2, write_lmbff_sst2

SEEDS = [13, 21]
VARIANTS = [
    {"strategy": "paired", "surgery": True},
    {"strategy": "real_only", "surgery": False},
]


@pytest.fixture(scope="module")
def grid(prefect_server, tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ablation")
    base = smoke_config(tmp, tiny_encoder, max_steps=3, eval_every=3, checkpoint_every=3)
    for seed in SEEDS:
        write_lmbff_sst2(tmp / "lm-bff", seed=seed)
        write_fewgen_sst2(tmp / "fewgen", seed=seed)
    base["tracking"]["experiment"] = "ablation-dask"
    base["zero_shot_baseline"] = False
    config = AblationConfig.model_validate(
        {
            "name": "grid",
            "base": base,
            "seeds": SEEDS,
            "variants": VARIANTS,
            "runner": "dask",
            "dask_workers": 2,
            "device_slots": 2,
        }
    )
    return config, ablation_flow(config)


def test_every_cell_of_the_table_is_mean_and_std_of_its_runs(grid):
    config, result = grid
    assert len(result["cells"]) == len(SEEDS) * len(VARIANTS)
    client = MlflowClient(result["tracking_uri"])
    accuracy: dict[tuple[str, int], float] = {}
    for cell in result["cells"]:
        run = client.get_run(cell["run_id"])
        assert run.info.status == "FINISHED"
        key = (run.data.params["prompt_tuning.strategy"], int(run.data.params["data.seed"]))
        accuracy[key] = run.data.metrics["test_task_metric"]  # the grid's default cells
        assert accuracy[key] == run.data.metrics["test_accuracy"]  # SST-2 is scored by it
    assert set(accuracy) == {(v["strategy"], s) for v in VARIANTS for s in SEEDS}
    table = pd.DataFrame(result["table"]).set_index("strategy")
    for variant in VARIANTS:
        values = [accuracy[(variant["strategy"], s)] for s in SEEDS]
        expected = format_cell(statistics.mean(values), statistics.stdev(values))
        row = table.loc[variant["strategy"]]
        assert row["SST-2 (accuracy)"] == expected and row[AVERAGE] == expected
    assert table.loc["paired", "surgery"] == "on" and table.loc["real_only", "surgery"] == "off"
    stats = pd.read_csv(next(f for f in result["files"] if f.endswith("comparison-stats.csv")))
    paired = stats[(stats["strategy"] == "paired") & (stats["task"] == "SST-2")].iloc[0]
    values = [accuracy[("paired", s)] for s in SEEDS]
    assert paired["mean"] == pytest.approx(statistics.mean(values)) and paired["count"] == len(
        SEEDS
    )


def test_the_cluster_keeps_its_scratch_beside_the_outputs(grid):
    config, _ = grid
    assert (Path(config.base.tracking.output_dir) / "dask").is_dir()


def test_each_cell_has_its_own_parent_and_child_run(grid):
    _, result = grid
    client = MlflowClient(result["tracking_uri"])
    names = set()
    for cell in result["cells"]:
        parent = client.get_run(cell["run_id"])
        names.add(parent.info.run_name)
        children = client.search_runs(
            [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
        )
        assert [c.data.tags["synprompt.stage"] for c in children] == ["prompt_tuning"]
    assert names == {f"grid-SST-2-{s}-{v}" for s in SEEDS for v in ("paired+surgery", "real_only")}


def test_table_is_attached_to_the_mlflow_parent_and_the_prefect_run(grid):
    from prefect import get_client

    _, result = grid
    client = MlflowClient(result["tracking_uri"])
    parent = client.get_run(result["run_id"])
    assert parent.data.tags["synprompt.stage"] == "ablation"
    files = {a.path for a in client.list_artifacts(result["run_id"], "comparison")}
    names = ("comparison.csv", "comparison.md", "comparison.png", "comparison-stats.csv")
    assert files == {f"comparison/{name}" for name in names}
    with get_client(sync_client=True) as prefect:
        artifact = prefect.read_latest_artifacts()
        keys = {a.key: a for a in artifact}
    assert "grid-comparison" in keys
    assert "paired" in keys["grid-comparison"].data and "±" in keys["grid-comparison"].data


@pytest.fixture
def offline_grid(tmp_path, monkeypatch):
    """``ablation_flow``'s own body with Prefect, MLflow and the cells stubbed: returns the
    device limits it ensured and the artifact keys it published."""
    seen = {"devices": [], "keys": []}

    @contextmanager
    def fake_run(config, *, name, parent=None, params=None):
        yield "uri", "grid-run"

    class FakeGrid:
        def with_options(self, **_):
            return lambda cells: [{"run_id": f"cell-{i}"} for i, _ in enumerate(cells)]

    table = pd.DataFrame({"strategy": ["paired"], "SST-2": ["1.0"]})
    monkeypatch.setattr(ablation, "ensure_device_limit", lambda d, n: seen["devices"].append(d))
    monkeypatch.setattr(ablation, "mlflow_run", fake_run)
    monkeypatch.setattr(ablation.tracking, "log_batch", lambda *a, **k: None)
    monkeypatch.setattr(ablation, "run_grid", FakeGrid())
    monkeypatch.setattr(ablation, "make_task_runner", lambda config: None)
    monkeypatch.setattr(
        ablation, "compare_experiment", lambda *a, **k: Comparison(table=table, runs=table)
    )
    monkeypatch.setattr(
        ablation, "publish_comparison", lambda result, *, run, key, title: seen["keys"].append(key)
    )
    return seen


def test_a_grid_named_freely_publishes_its_table_under_a_key_prefect_accepts(
    offline_grid, tmp_path
):
    from prefect.client.schemas.actions import ArtifactCreate

    base = smoke_config(tmp_path, tmp_path / "model")
    for name in ("SST2_grid v2", "grid"):
        config = AblationConfig.model_validate({"name": name, "base": base})
        ablation_flow.fn(config)
    assert offline_grid["keys"] == ["sst2-grid-v2-comparison", "grid-comparison"]
    for key in offline_grid["keys"]:  # Prefect refuses any other character in a key
        ArtifactCreate(key=key, type="markdown", data="table")


def test_a_generator_on_its_own_device_gets_that_devices_limit_too(offline_grid, tmp_path):
    base = smoke_config(tmp_path, tmp_path / "model")
    base["data"].pop("synthetic_root")
    base["generator"] = {"model": str(tmp_path / "gpt2"), "device": "cuda:1"}
    base["generation"] = {"n_per_label": 4}
    ablation_flow.fn(AblationConfig.model_validate({"name": "grid", "base": base}))
    assert sorted(offline_grid["devices"]) == ["cpu", "cuda:1"]
