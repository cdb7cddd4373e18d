"""Every deployment parameter file validates; prefect.yaml points at real files and flows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from synprompt_core.configs.ablation import AblationConfig, load_ablation
from synprompt_core.configs.pipeline import ConfigError, PipelineConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = ROOT / "deployments"
PARAMS = sorted((DEPLOYMENTS / "params").glob("*.yaml"))


def _serve_module():
    spec = importlib.util.spec_from_file_location("deploy_serve", DEPLOYMENTS / "serve.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", PARAMS, ids=[p.name for p in PARAMS])
def test_parameter_file_validates(path):
    raw = yaml.safe_load(path.read_text())
    if "base" in raw:
        config = load_ablation(path)
        assert isinstance(config, AblationConfig) and config.expand()
    else:
        assert isinstance(load_config(path), PipelineConfig)


def test_smoke_and_ablation_files_exist():
    assert {"smoke.yaml", "ablation.yaml", "sst2-demo.yaml"} <= {p.name for p in PARAMS}
    grid = load_ablation(DEPLOYMENTS / "params" / "ablation.yaml")
    assert len(grid.expand()) == len(grid.tasks) * len(grid.seeds) * len(grid.variants)


def test_broken_pipeline_file_fails_naming_the_field(tmp_path):
    raw = yaml.safe_load((DEPLOYMENTS / "params" / "smoke.yaml").read_text())
    raw["prompt_tuning"]["max_steps"] = 0
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"broken.yaml.*prompt_tuning\.max_steps"):
        load_config(broken)


def test_broken_ablation_file_fails_naming_the_field(tmp_path):
    raw = yaml.safe_load((DEPLOYMENTS / "params" / "ablation.yaml").read_text())
    raw["runner"] = "spark"
    raw["variants"][0]["stratgy"] = "paired"
    broken = tmp_path / "grid.yaml"
    broken.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_ablation(broken)
    assert "field 'runner'" in str(err.value) and "variants.0.stratgy" in str(err.value)


def test_prefect_yaml_references_existing_files_and_flows():
    manifest = yaml.safe_load((DEPLOYMENTS / "prefect.yaml").read_text())
    pull = manifest["pull"][0]["prefect.deployments.steps.set_working_directory"]
    assert pull["directory"] == "{{ $PWD }}"
    names = set()
    for item in manifest["deployments"]:
        names.add(item["name"])
        assert (ROOT / item["parameters_file"]).is_file()
        path, flow_name = item["entrypoint"].split(":")
        source = (ROOT / path).read_text()
        assert f"def {flow_name}(" in source and "@flow(" in source
        assert item["work_pool"]["name"] == "synprompt-process"
        variable = item["parameters"]["config"]
        slug = item["name"].replace("-", "_")
        assert variable == "{{ prefect.variables.synprompt_params_" + slug + " }}"
    assert {"smoke", "sst2-demo", "ablation"} <= names
    crons = [s["cron"] for d in manifest["deployments"] for s in d.get("schedules") or []]
    assert crons, "an example cron schedule"


def test_serve_module_builds_a_deployment_per_manifest_entry():
    module = _serve_module()
    specs = module.read_manifest()
    assert {s.name for s in specs} >= {"smoke", "sst2-demo", "ablation"}
    for spec in specs:
        params = module.load_parameters(spec)
        assert set(params) == {"config"}
    flow = module.load_flow(specs[0].entrypoint)
    assert flow.name == "synprompt-pipeline"
    served = module.build_deployments(specs[:1])
    assert [d.name for d in served] == [f"{specs[0].name}-served"]  # pool names stay untouched


@pytest.mark.parametrize(
    "entrypoint", ["flows/pipeline.py:synprompt_pipeline", "flows/ablation.py:ablation_flow"]
)
def test_the_ui_form_describes_every_field(entrypoint):
    """The Prefect UI draws the flow's parameter schema as a form: no field without help."""
    from prefect.utilities.callables import parameter_schema

    module = _serve_module()
    schema = parameter_schema(module.load_flow(entrypoint).fn).model_dump()
    assert schema["properties"]["config"].get("description")
    bare = [
        f"{model}.{name}"
        for model, definition in schema["definitions"].items()
        for name, field in definition.get("properties", {}).items()
        if not field.get("description")
    ]
    assert bare == []
