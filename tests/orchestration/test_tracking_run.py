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
