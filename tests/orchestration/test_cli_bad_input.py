"""Bad input fails early with one clear message, exit code 2, and no MLflow run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from tests.orchestration.conftest import smoke_config

runner = CliRunner()


def write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def good(tmp_path) -> dict:
    model = tmp_path / "model"  # present (validate checks that), never loaded here
    model.mkdir()
    (model / "config.json").write_text("{}")
    return smoke_config(tmp_path, model)


def run_cli(*args: str):
    return runner.invoke(app, list(args))


def assert_failed_cleanly(result, *needles: str, out_dir: Path) -> None:
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("error:") and message.count("error:") == 1, message
    for needle in needles:
        assert needle in message, message
    assert not (out_dir / "mlflow.db").exists()  # failed before any run was created


def test_valid_config_validates_without_loading_a_model(tmp_path, good):
    result = run_cli("validate", str(write(tmp_path, good)))
    assert result.exit_code == 0, result.output
    assert "train: 6 rows" in result.output and "synthetic: 6 rows" in result.output
    assert "(negative 3, positive 3)" in result.output  # how the labels were read


def test_unknown_task_names_the_task(tmp_path, good):
    good["data"]["task"] = "SST-3"
    result = run_cli("run", str(write(tmp_path, good)))
    assert_failed_cleanly(result, "SST-3", "SST-2", out_dir=Path(good["tracking"]["output_dir"]))


def test_misspelt_field_is_named_with_the_likely_one(tmp_path, good):
    good["prompt_tuning"]["stratgy"] = "paired"
    result = run_cli("run", str(write(tmp_path, good)))
    assert_failed_cleanly(
        result,
        "prompt_tuning.stratgy",
        "did you mean 'strategy'?",
        out_dir=Path(good["tracking"]["output_dir"]),
    )


def test_set_values_are_read_by_the_field_they_set(tmp_path, good):
    from flows.cli import _override_value
    from synprompt_core.configs.pipeline import load_config

    sets = ["tracking.experiment=2024", "name=0123", "prompt_tuning.max_steps=7",
            "prompt_tuning.surgery=no", "tracking.run_name=null"]  # fmt: skip
    result = run_cli(
        "validate", str(write(tmp_path, good)), *[a for s in sets for a in ("--set", s)]
    )
    assert result.exit_code == 0, result.output
    overrides = dict(item.split("=", 1) for item in sets)
    config = load_config(
        write(tmp_path, good), overrides={k: _override_value(v) for k, v in overrides.items()}
    )
    assert (config.tracking.experiment, config.name) == ("2024", "0123")
    assert config.prompt_tuning.max_steps == 7 and config.prompt_tuning.surgery is False
    assert config.tracking.run_name is None


def test_validate_names_a_missing_model_folder_and_where_relative_paths_start(tmp_path, good):
    good["backbone"]["model"] = "./models/nope"
    result = run_cli("validate", str(write(tmp_path, good)))
    assert_failed_cleanly(
        result,
        "backbone model folder ./models/nope does not exist",
        f"relative to the working folder {Path.cwd()}",
        out_dir=Path(good["tracking"]["output_dir"]),
    )


def test_bad_value_is_named(tmp_path, good):
    good["prompt_tuning"]["strategy"] = "sideways"
    result = run_cli("run", str(write(tmp_path, good)))
    assert_failed_cleanly(
        result, "prompt_tuning.strategy", "sideways", out_dir=Path(good["tracking"]["output_dir"])
    )


def test_bad_row_names_file_row_and_field(tmp_path, good):
    train = Path(good["data"]["data_root"]) / "SST-2" / "16-13" / "train.tsv"
    lines = train.read_text().splitlines()
    lines[3] = lines[3].split("\t")[0] + "\tpositive-ish"
    train.write_text("\n".join(lines) + "\n")
    result = run_cli("run", str(write(tmp_path, good)))
    assert_failed_cleanly(
        result,
        "train.tsv",
        "row 3",
        "label",
        "positive-ish",
        out_dir=Path(good["tracking"]["output_dir"]),
    )


def test_missing_synthetic_file_is_named(tmp_path, good):
    good["data"]["synthetic_root"] = str(tmp_path / "nowhere")
    result = run_cli("validate", str(write(tmp_path, good)))
    assert_failed_cleanly(result, "nowhere", out_dir=Path(good["tracking"]["output_dir"]))


def test_set_overrides_a_field(tmp_path, good):
    result = run_cli("validate", str(write(tmp_path, good)), "--set", "data.task=QQP")
    assert result.exit_code == 2 and "QQP" in result.output


def test_set_into_a_value_that_is_not_a_section_is_one_error(tmp_path, good):
    result = run_cli("validate", str(write(tmp_path, good)), "--set", "data.task.x=3")
    assert_failed_cleanly(
        result, "cannot set data.task.x", out_dir=Path(good["tracking"]["output_dir"])
    )


def test_an_ablation_grid_validates_every_cell_and_names_a_bad_table(tmp_path, good):
    grid = {"base": good, "seeds": [13], "variants": [{"strategy": "real_only"}, {}]}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    result = run_cli("validate", str(path))
    assert result.exit_code == 0, result.output
    assert "train: 6 rows" in result.output and "2 grid cells" in result.output
    train = Path(good["data"]["data_root"]) / "SST-2" / "16-13" / "train.tsv"
    train.write_text(train.read_text() + "a new row\tmaybe\n")
    for command in ("validate", "ablation"):
        assert_failed_cleanly(
            run_cli(command, str(path)),
            "train.tsv",
            "label",
            "'maybe'",
            out_dir=Path(good["tracking"]["output_dir"]),
        )


def test_deploying_a_missing_parameter_file_is_one_error(tmp_path):
    for command in ("deploy", "serve"):
        result = run_cli(command, "--params", str(tmp_path / "nope.yaml"))
        assert_failed_cleanly(result, "nope.yaml", out_dir=tmp_path / "out")


def test_deploying_a_file_whose_tables_are_missing_is_one_error(tmp_path, good):
    good["data"]["synthetic_root"] = str(tmp_path / "nowhere")
    params = write(tmp_path, good)
    for command in ("deploy", "serve"):
        result = run_cli(command, "--params", str(params))
        assert_failed_cleanly(result, "nowhere", out_dir=Path(good["tracking"]["output_dir"]))


def test_deploying_without_a_prefect_server_says_how_to_start_one(tmp_path, good):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = run_cli("deploy", "--params", str(write(tmp_path, good)))
    assert_failed_cleanly(
        result,
        "prefect server start",
        "PREFECT_API_URL",
        out_dir=Path(good["tracking"]["output_dir"]),
    )


def test_compare_names_a_missing_store_an_unknown_experiment_and_metric(tmp_path, monkeypatch):
    from tasks import tracking

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = run_cli("compare", "--experiment", "mine")
    assert_failed_cleanly(result, "no MLflow store at", "--tracking-uri", out_dir=tmp_path)
    uri = tracking.tracking_uri(None, str(tmp_path / ".synprompt"))
    tracking.ensure_experiment(uri, "my-topics", str(tmp_path / "art"))
    result = run_cli("compare", "--experiment", "my-topic")
    assert result.exit_code == 2 and "it has: Default, my-topics" in result.output
    result = run_cli("compare", "--experiment", "my-topics")
    assert result.exit_code == 2 and "no finished pipeline run" in result.output


def test_a_password_in_the_tracking_uri_is_refused_and_never_echoed(tmp_path, good):
    uri = "https://bob:hunter2@mlflow.example"
    result = run_cli(
        "validate", str(write(tmp_path, good)), "--set", f"tracking.tracking_uri={uri}"
    )
    assert_failed_cleanly(
        result,
        "tracking.tracking_uri",
        "MLFLOW_TRACKING_PASSWORD",
        out_dir=Path(good["tracking"]["output_dir"]),
    )
    assert "hunter2" not in result.output


def test_a_token_as_the_uri_user_is_refused_too(tmp_path):
    from synprompt_core.configs.pipeline import TrackingConfig

    with pytest.raises(ValueError, match="credentials") as caught:
        TrackingConfig(tracking_uri="https://dapiSECRET@mlflow.example")
    assert "dapiSECRET" not in str(caught.value)
    assert TrackingConfig(tracking_uri="http://127.0.0.1:5000").tracking_uri
    from synprompt_core.configs.pipeline import PipelineConfig

    config = {  # valid but for its URI
        "data": {"task": "SST-2", "data_root": str(tmp_path)},
        "prompt_tuning": {"strategy": "real_only"},
        "tracking": {"tracking_uri": "https://al:s3cret@h"},
    }
    # validated as part of the whole config too, whose error repeats no value given
    with pytest.raises(ValueError, match=r"(?s)1 validation error.*credentials") as caught:
        PipelineConfig.model_validate(config)
    assert "s3cret" not in str(caught.value)


def test_printed_store_uris_drop_their_credentials():
    from tasks.tracking import redact_uri

    assert redact_uri("https://bob:hunter2@mlflow.example:5000/api") == (
        "https://***@mlflow.example:5000/api"
    )
    assert redact_uri("http://token@host/") == "http://***@host/"
    assert redact_uri("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"


def test_predict_says_its_notes_and_lets_other_warnings_through(tmp_path, monkeypatch):
    """Collecting the readers' notes does not swallow a library's own warnings."""
    import warnings

    import synprompt_core.training.predict
    from synprompt_core.data.errors import DataNote

    def predict_file(*args, **kwargs):
        warnings.warn(DataNote("rows.csv: text_a read from column 'sentence'"), stacklevel=1)
        warnings.warn(FutureWarning("a library's own advice"), stacklevel=1)
        return {"rows": 1, "output": "out.csv"}

    monkeypatch.setattr(synprompt_core.training.predict, "predict_file", predict_file)
    with pytest.warns(FutureWarning, match="a library's own advice"):
        result = run_cli("predict", str(tmp_path), "rows.csv", "--output", "out.csv")
    assert result.exit_code == 0, result.output
    assert "note: rows.csv: text_a read from column 'sentence'" in result.output
