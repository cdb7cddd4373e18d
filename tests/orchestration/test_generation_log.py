"""Writing a generated set under a ``log_prints`` flow (as the pipeline runs it) puts no
bytecode listing in the Prefect log.

``datasets`` fingerprints a new ``Dataset`` by pickling its table with dill, whose lookup
of a function's globals prints ``dis.dis`` into a swapped-in ``sys.stdout``; Prefect's
``print`` patch sends that print to the run log instead."""

from __future__ import annotations

import logging
import re

import pandas as pd
import pytest
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from synprompt_core.generator.generate import GenerationOutput
from synprompt_core.generator.output import save_synthetic
from synprompt_core.task_registry import get_task

BYTECODE = re.compile(r"\b(LOAD_GLOBAL|LOAD_FAST|LOAD_CONST|RETURN_VALUE|RESUME|PRECALL)\b")


def generated() -> GenerationOutput:
    rows = pd.DataFrame(
        {
            "text_a": ["a fine film .", "a dull film ."],
            "label": [1, 0],
            "seed": [1, 2],
            "raw_output": ["a fine film .", "a dull film ."],
            "generator_ref": ["generator.safetensors@sha256:0"] * 2,
        }
    )
    rejected = pd.DataFrame({"raw_output": ["..."], "reason": ["degenerate"], "error": [None]})
    counts = {"requested": 3, "generated": 3, "failed": 0, "kept": 2}
    return GenerationOutput(rows=rows, rejected=rejected, counts=counts)


@task(name="write-generated-set", cache_policy=NO_CACHE)
def write_set(output: GenerationOutput, folder: str) -> str:
    saved = save_synthetic(
        output, folder, task=get_task("SST-2"), generator_ref="g@sha256:0", settings={}
    )
    return str(saved.dataset_dir)


@task(name="build-dataset-from-pandas", cache_policy=NO_CACHE)
def build_from_pandas(rows: pd.DataFrame) -> int:
    from datasets import Dataset

    return Dataset.from_pandas(rows, preserve_index=False).num_rows


@flow(name="generation-log", log_prints=True)
def generation_stage(folder: str, *, control: bool = False) -> str:
    output = generated()
    if control:
        build_from_pandas(output.rows)
    return write_set(output, folder)


@pytest.fixture
def run_log():
    """Messages of the task and flow run loggers while the test runs."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(level=logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("prefect.task_runs", "prefect.flow_runs")]
    for logger in loggers:
        logger.addHandler(handler)
    yield messages
    for logger in loggers:
        logger.removeHandler(handler)


def test_writing_the_set_logs_no_bytecode(prefect_server, tmp_path, run_log):
    from datasets import load_from_disk

    folder = generation_stage(str(tmp_path / "set"))
    assert (
        load_from_disk(folder).to_pandas()["text_a"].tolist() == generated().rows["text_a"].tolist()
    )
    assert run_log, "no run log was captured"
    assert not [m for m in run_log if BYTECODE.search(m)]


def test_the_check_sees_bytecode_from_an_unfingerprinted_dataset(prefect_server, tmp_path, run_log):
    """Control: ``Dataset.from_pandas`` (what the writer used before) does log bytecode."""
    generation_stage(str(tmp_path / "set"), control=True)
    assert [m for m in run_log if BYTECODE.search(m)]
