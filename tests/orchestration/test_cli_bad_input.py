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
    return smoke_config(tmp_path, tmp_path / "no-model-needed")


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


def test_misspelt_field_is_named(tmp_path, good):
    good["prompt_tuning"]["stratgy"] = "paired"
    result = run_cli("run", str(write(tmp_path, good)))
    assert_failed_cleanly(
        result, "prompt_tuning.stratgy", out_dir=Path(good["tracking"]["output_dir"])
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
