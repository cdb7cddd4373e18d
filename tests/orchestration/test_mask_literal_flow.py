"""The backbone's mask literal in an input text, in runs that never pass the CLI: a file
holding it fails the pipeline flow before any MLflow run opens (whatever an earlier run on
another backbone recorded); generated rows holding it are left out of training and counted.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import tasks.data
from flows.pipeline import synprompt_pipeline
from flows.prompt_tuning import prompt_tuning_flow
from flows.tracking_run import mlflow_run
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import DataError, table_digest
from tasks.data import INPUTS, join_tables, load_data
from tasks.prompt_tuning import DROPPED
from tasks.store import read_table, write_table
from tests.orchestration.conftest import smoke_config
from tests.tiny_models import build_tiny_bert_mlm, build_tiny_bert_tokenizer

BAD_ROW = "i loved it , [MASK] acting .\t1"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mask_models")
    return {"tokenizer": build_tiny_bert_tokenizer(root), "mlm": build_tiny_bert_mlm(root)}


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


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def task_log():
    """What the stage tasks log through Prefect's run logger."""
    handler, logger = Captured(), logging.getLogger("prefect.task_runs")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def generated(n_bad: int) -> pd.DataFrame:
    """Rows as a generation stage writes them; ``n_bad`` of them hold ``[MASK]``."""
    texts = ["a great film indeed .", "a dull film indeed ."]
    texts += [f"the [MASK] was {w} ." for w in ["great", "bad"] * (n_bad // 2)]
    return pd.DataFrame(
        {
            "text_a": texts,
            "text_b": [""] * len(texts),
            "label": [1, 0] * (len(texts) // 2),
            "seed": list(range(len(texts))),
            "raw_output": texts,
        }
    )


def test_generated_rows_holding_the_mask_token_are_left_out_counted_and_logged(
    prefect_server, models, tmp_path, task_log
):
    """Joined to the imported set as SynAlign's rows are; without the drop, every step's
    synthetic batch would hold a second mask token and training would fail."""
    config = masked(smoke_config(tmp_path, models["mlm"], max_steps=4), models["mlm"])
    inputs = load_data.fn(config)  # the imported synthetic set is clean
    rows = generated(n_bad=30)
    folder = tmp_path / "generated"
    folder.mkdir()
    made = write_table(rows, folder / "synthetic.parquet", digest=table_digest(rows))
    joined = join_tables.fn(config, [inputs["synthetic"], made], "synthetic")
    assert len(read_table(joined)) == 6 + 32
    inputs = {**inputs, "synthetic": joined}
    for cached in (False, True):  # a cached stage logs its count again
        with mlflow_run(config, name="parent") as parent:
            result = prompt_tuning_flow(config, inputs, parent)
        assert result["cached"] is cached
        client = MlflowClient(parent[0])
        (child,) = client.search_runs(
            [client.get_run(parent[1]).info.experiment_id],
            f"tags.mlflow.parentRunId = '{parent[1]}'",
        )
        assert child.info.status == "FINISHED"
        assert child.data.metrics[DROPPED] == 30.0
    dropped = [m for m in task_log if m.startswith("left out")]
    assert len(dropped) == 2 and dropped[0].startswith("left out 30 synthetic rows")


def test_a_synthetic_set_whose_every_row_holds_the_mask_token_is_one_clear_error(models, tmp_path):
    """Nothing is left to train on: the error says why (how many rows held which token),
    not that no synthetic set was given, and comes before any training step."""
    from tasks.prompt_tuning import train_and_write

    config = masked(smoke_config(tmp_path, models["mlm"], max_steps=4), models["mlm"])
    inputs = load_data.fn(config)
    rows = generated(n_bad=30).iloc[2:].reset_index(drop=True)  # every row holds [MASK]
    folder = tmp_path / "generated"
    folder.mkdir()
    made = write_table(rows, folder / "synthetic.parquet", digest=table_digest(rows))
    stage = tmp_path / "stage"
    stage.mkdir()
    expected = r"all 30 synthetic rows hold '\[MASK\]'.*strategy 'paired'"
    with pytest.raises(ValueError, match=expected):
        train_and_write(config, {**inputs, "synthetic": made}, "key", stage)
    assert list(stage.iterdir()) == []  # no step was run, no checkpoint written
