"""The backbone's mask literal in an input text, in runs that never pass the CLI: a file
holding it fails the pipeline flow before any MLflow run opens (whatever an earlier run on
another backbone recorded).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import tasks.data
from flows.pipeline import synprompt_pipeline
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import DataError
from tasks.data import INPUTS
from tests.orchestration.conftest import smoke_config
from tests.tiny_models import build_tiny_bert_tokenizer

BAD_ROW = "i loved it , [MASK] acting .\t1"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mask_models")
    return {"tokenizer": build_tiny_bert_tokenizer(root)}


def masked(config: dict, model: Path) -> PipelineConfig:
    raw = {**config, "backbone": {"kind": "masked", "model": str(model)}}
    return PipelineConfig.model_validate(raw)


def with_bad_train_row(tmp_path: Path) -> Path:
    """Data row 2 of the train file holds ``[MASK]``; the file's path."""
    train = tmp_path / "lm-bff" / "SST-2" / "16-13" / "train.tsv"
    lines = train.read_text().splitlines()
    lines[2] = BAD_ROW
    train.write_text("\n".join(lines) + "\n")
    return train


def runs_in(out: Path) -> list:
    """Every MLflow run in the output folder's store, of any experiment."""
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids) if ids else []


def test_a_flow_run_refuses_a_mask_token_in_a_file_before_any_mlflow_run(
    prefect_server, models, tmp_path
):
    """A deployment run skips the CLI's `validate`: the flow's own load-data checks."""
    config = smoke_config(tmp_path, models["tokenizer"])  # no weights: nothing may load
    train = with_bad_train_row(tmp_path)
    expected = rf"{train} row 2, field 'text_a': the text holds '\[MASK\]', the mask token of"
    with pytest.raises(DataError, match=expected):
        synprompt_pipeline(masked(config, models["tokenizer"]))
    assert runs_in(tmp_path / "out") == []


def test_a_record_of_a_sentence_run_is_not_reused_for_a_masked_backbone(
    prefect_server, tiny_encoder, models, tmp_path, monkeypatch
):
    monkeypatch.setattr(tasks.data, "SETTLED_NS", 0)  # files written just now are recorded
    config = smoke_config(tmp_path, tiny_encoder)
    train = with_bad_train_row(tmp_path)  # fine for the sentence kind, which writes no mask
    synprompt_pipeline(PipelineConfig.model_validate(config))
    out = tmp_path / "out"
    assert list((out / "stages" / INPUTS).iterdir()), "the sentence run left no record"
    before = [(r.info.run_id, r.info.status) for r in runs_in(out)]
    assert len(before) == 2 and {status for _, status in before} == {"FINISHED"}
    with pytest.raises(DataError, match=rf"{train} row 2, field 'text_a': .* '\[MASK\]'"):
        synprompt_pipeline(masked(config, models["tokenizer"]))
    assert [(r.info.run_id, r.info.status) for r in runs_in(out)] == before
