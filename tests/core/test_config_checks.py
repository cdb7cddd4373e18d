"""Config mistakes that only the whole config reveals: refused before anything runs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from synprompt_core.configs.ablation import AblationConfig
from synprompt_core.configs.pipeline import PipelineConfig


def own_files(tmp_path) -> dict:
    path = tmp_path / "real.csv"
    path.write_text("text_a,label\ngood,1\nbad,0\n")
    source = {"format": "csv", "path": str(path)}
    return {"task": "SST-2", "train": source, "test": source, "synthetic": source}


def test_seeds_over_fixed_files_would_repeat_one_run(tmp_path):
    base = {"data": own_files(tmp_path)}
    with pytest.raises(ValidationError, match=r"seeds \[1, 2\] would repeat one run"):
        AblationConfig.model_validate({"base": base, "seeds": [1, 2]})
    AblationConfig.model_validate({"base": base, "seeds": [1]})  # one seed is one run
    drawn = {**base, "data": {**base["data"], "sample_k_shot": True, "k": 1}}
    assert len(AblationConfig.model_validate({"base": drawn, "seeds": [1, 2]}).expand()) == 2


def test_a_penalty_per_label_must_match_the_labels(tmp_path):
    data = own_files(tmp_path)
    del data["synthetic"]  # the generator makes it
    config = {
        "data": data,
        "generator": {"model": str(tmp_path)},
        "generation": {"repetition_penalty": [1.1, 1.2, 1.3]},
    }
    with pytest.raises(ValidationError, match="lists 3 values for the 2 labels of SST-2"):
        PipelineConfig.model_validate(config)


def test_a_task_grid_over_your_own_task_is_refused(tmp_path):
    data = own_files(tmp_path)
    data.update(
        task="my-task",
        task_spec={
            "labels": ["0", "1"],
            "verbalizers": ["bad", "good"],
            "template": "{text_a} {mask}",
        },
    )
    with pytest.raises(
        ValidationError, match="tasks cannot be listed for a base with data.task_spec"
    ):
        AblationConfig.model_validate({"base": {"data": data}, "tasks": ["SST-2", "MRPC"]})


@pytest.mark.parametrize(
    "section",
    [{"prompt_tuning": {"seed": -1}}, {"generator": {"seed": -3}}, {"data": {"seed": -13}}],
)
def test_a_negative_seed_is_refused_before_anything_runs(tmp_path, section):
    # numpy refuses to seed from a negative number: it used to fail at the first step
    config = {"data": own_files(tmp_path)}
    for key, value in section.items():
        config[key] = {**config.get(key, {}), **value}
    if "generator" in config:
        config["generator"]["model"] = str(tmp_path)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        PipelineConfig.model_validate(config)


@pytest.mark.parametrize(
    ("section", "field"),
    [
        (
            {"tracking": {"tracking_uri": "https://ann:sk-hidden-123@mlflow.example"}},
            "tracking_uri",
        ),
        (
            {"alignment": {"generation": {"base_url": "https://sk-hidden-123@llm.example"}}},
            "base_url",
        ),
    ],
)
def test_a_url_carrying_a_credential_is_refused_without_echoing_it(tmp_path, section, field):
    import yaml

    from synprompt_core.configs.pipeline import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"data": own_files(tmp_path), **section}))
    with pytest.raises(ConfigError, match=f"{field}.*carries credentials") as err:
        load_config(path)
    assert "sk-hidden-123" not in str(err.value)


def test_a_check_across_sections_names_no_field(tmp_path):
    import yaml

    from synprompt_core.configs.pipeline import ConfigError, load_config

    data = own_files(tmp_path)
    del data["synthetic"]  # the default strategy, paired, reads one
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"data": data}))
    with pytest.raises(ConfigError, match="needs synthetic data") as err:
        load_config(path)
    assert "field ''" not in str(err.value) and "top level" not in str(err.value)
