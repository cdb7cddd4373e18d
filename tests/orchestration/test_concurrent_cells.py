"""Runs and ablation cells that share an output folder: a stage they share is computed once
(across threads and processes), every returned reference matches the file it points to,
and the preflight probe of one cell never trips another.

The stage tasks run for real (``.fn``: no flow run; device slots on a real Prefect server)
against a real store and a real MLflow SQLite store; only the expensive inner work is a
counting stand-in, slowed down so the runs overlap, and producing different output on each
call as a sampling LM would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import table_digest
from synprompt_core.references import file_digest
from tasks import generator, prompt_tuning, synthesis, tracking
from tasks.data import load_data
from tasks.preflight import check_writable
from tasks.store import read_table, write_table
from tests.conftest import REPO
from tests.orchestration.conftest import smoke_config

CELLS = 2


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[str, Path]:
    """One MLflow SQLite store for the module: (uri, artifact root)."""
    tmp = tmp_path_factory.mktemp("mlflow")
    return tracking.tracking_uri(None, str(tmp)), tmp / "artifacts"


def cell_runs(store, n: int = CELLS) -> list[tuple[str, str]]:
    """One MLflow run per cell, all in one fresh experiment (as an ablation grid's cells)."""
    uri, root = store
    experiment = tracking.ensure_experiment(uri, f"cells-{uuid.uuid4().hex[:8]}", str(root))
    return [(uri, tracking.start_run(uri, experiment_id=experiment, name="cell")) for _ in range(n)]


def in_cells(store, work) -> list:
    """``work(run)`` in ``CELLS`` threads started together, each with its own MLflow run."""
    runs = cell_runs(store)
    barrier, results, errors = threading.Barrier(CELLS), [None] * CELLS, []

    def cell(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(runs[i])
        except Exception as err:  # noqa: BLE001 (re-raised below, in the test's thread)
            errors.append(err)

    threads = [threading.Thread(target=cell, args=(i,)) for i in range(CELLS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    client = tracking.client_for(store[0])
    cached = sorted(client.get_run(run_id).data.tags["cached"] for _, run_id in runs)
    assert cached == ["false", "true"], "one cell computed, the other reused its result"
    return results


def test_write_table_replaces_a_leftover_of_other_rows(tmp_path):
    path = tmp_path / "synthetic.parquet"
    old = pd.DataFrame({"text_a": ["old"], "text_b": [""], "label": [0]})
    new = old.assign(text_a=["new"])
    write_table(old, path)  # what a run killed before its manifest left behind
    ref = write_table(new, path, digest=table_digest(new))
    assert ref.sha256 == table_digest(read_table(ref)) == table_digest(new)
    mtime = path.stat().st_mtime_ns
    assert write_table(new, path, digest=ref.sha256) == ref  # same rows: the file is kept
    assert path.stat().st_mtime_ns == mtime


WORKER = """
import json, os, sys, time
from pathlib import Path
from tasks.store import claim_stage, write_manifest
folder, go = Path(sys.argv[1]), Path(sys.argv[2])
(go.parent / f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.01)
with claim_stage(folder) as manifest:
    if manifest is None:
        with open(folder / "work.log", "a") as log:
            log.write(f"{os.getpid()}\\n")
        time.sleep(0.5)
        manifest = {"key": "k", "by": os.getpid()}
        write_manifest(folder, manifest)
print(json.dumps(manifest))
"""


def test_processes_sharing_a_stage_compute_it_once(tmp_path):
    folder, go, n = tmp_path / "stages" / "s" / "k", tmp_path / "go", 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(folder), str(go)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()  # all imported: they race for the stage together
    outputs = [proc.communicate(timeout=30)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * n
    (worker,) = (folder / "work.log").read_text().split()
    assert [json.loads(out) for out in outputs] == [{"key": "k", "by": int(worker)}] * n


def test_cells_sharing_generator_tuning_tune_once(prefect_server, store, tmp_path, monkeypatch):
    raw = smoke_config(tmp_path, tmp_path / "unused-encoder", max_steps=2)
    del raw["data"]["synthetic_root"]
    raw["generator"] = {"model": "stand-in", "steps": 2}
    raw["generation"] = {"n_per_label": 4}
    config = PipelineConfig.model_validate(raw)
    inputs = load_data.fn(config)
    calls = []

    def train(config, train, folder):  # a different generator file on every call
        calls.append(folder)
        time.sleep(0.5)
        (folder / generator.GENERATOR_FILE).write_bytes(uuid.uuid4().bytes * 64)
        pd.DataFrame([{"step": 1, "loss": 1.0}]).to_csv(folder / "history.csv", index=False)
        (folder / "generator_curve.png").write_bytes(b"stand-in")
        return {"loss": 1.0}

    monkeypatch.setattr(generator, "train_generator", train)
    refs = in_cells(store, lambda run: generator.tune_generator_task.fn(config, inputs, run))
    assert len(calls) == 1
    assert refs[0] == refs[1] and file_digest(Path(refs[0].path)) == refs[0].sha256


class StandInLLM:
    """Attributes for stage A; two examples of the asked label for stage B, tagged with this
    instance's id so that two computations of the stage write different rows."""

    def __init__(self, calls: list) -> None:
        calls.append(self)
        self.tag = uuid.uuid4().hex[:8]

    def generate(self, prompts, *, max_new_tokens, temperature, seed):
        time.sleep(0.25)
        if prompts[0].startswith("Here are"):
            return ["- short sentences"] * len(prompts)
        meanings = [re.search(r'whose label is "([^"]+)"', p).group(1) for p in prompts]
        return [f"1. a {m} line {self.tag} .\n2. another {m} line {self.tag} ." for m in meanings]


def test_cells_sharing_synthesis_write_it_once(store, tmp_path, monkeypatch):
    raw = smoke_config(tmp_path, tmp_path / "unused-encoder", max_steps=2)
    raw["alignment"] = {
        "embedding": {"encoder": "unused"},
        "generation": {"enabled": True, "backend": "openai", "model": "stand-in"},
    }
    config = PipelineConfig.model_validate(raw)
    demos = pd.DataFrame(
        {
            "pick": [0, 1],
            "cluster": [3, 5],
            "rank": [0, 0],
            "label": [0, 1],
            "text_a": ["a bad film .", "a good film ."],
            "text_b": ["", ""],
        }
    )
    demonstrations = write_table(demos, tmp_path / "demonstrations.parquet")
    calls = []
    monkeypatch.setattr(synthesis, "load_generator", lambda config: StandInLLM(calls))
    refs = in_cells(store, lambda run: synthesis.synthesize_task.fn(config, demonstrations, run))
    assert len(calls) == 1
    assert refs[0] == refs[1] and table_digest(read_table(refs[0])) == refs[0].sha256


def test_cells_sharing_prompt_tuning_train_once(
    prefect_server, store, tmp_path, tiny_encoder, monkeypatch
):
    raw = smoke_config(tmp_path, tiny_encoder, max_steps=2, eval_every=2, checkpoint_every=1)
    config = PipelineConfig.model_validate(raw)
    inputs = load_data.fn(config)
    calls, real = [], prompt_tuning.run_prompt_tuning

    def counted(**kwargs):
        calls.append(kwargs["checkpoint_dir"])
        time.sleep(0.5)
        return real(**kwargs)

    monkeypatch.setattr(prompt_tuning, "run_prompt_tuning", counted)
    results = in_cells(store, lambda run: prompt_tuning.tune_soft_prompt.fn(config, inputs, run))
    assert len(calls) == 1
    assert sorted(r["cached"] for r in results) == [False, True]
    assert {r["folder"] for r in results} == {str(calls[0].parent)}
    assert results[0]["test_accuracy"] == results[1]["test_accuracy"]


def test_preflight_probes_of_threaded_cells_never_collide(tmp_path):
    threads, probes = 4, 200
    barrier, errors = threading.Barrier(threads), []

    def probe() -> None:
        barrier.wait()
        for _ in range(probes):
            try:
                check_writable(tmp_path)
            except Exception as err:  # noqa: BLE001 (collected and asserted below)
                errors.append(err)

    workers = [threading.Thread(target=probe) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == [] and list(tmp_path.iterdir()) == []


def test_runs_logging_one_table_at_the_same_moment_all_get_it(store, tmp_path):
    """MLflow's dataset table is unique per experiment: the losers of that race link it."""
    path = write_table(pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}), tmp_path / "t.parquet")
    runs = cell_runs(store, n=4)
    barrier, errors = threading.Barrier(len(runs)), []

    def log(run):
        barrier.wait()
        try:
            tracking.log_datasets(*run, [("train", "training", path)])
        except Exception as err:  # noqa: BLE001 - collected for the assertion
            errors.append(err)

    threads = [threading.Thread(target=log, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    client = tracking.client_for(runs[0][0])
    for _, run_id in runs:
        (dataset,) = client.get_run(run_id).inputs.dataset_inputs
        assert dataset.dataset.name == "train"


def test_a_note_read_while_another_cell_logs_its_datasets_reaches_the_run_log(
    store, tmp_path, monkeypatch
):
    """Both swap the process-wide warning state: a cell logging its datasets while another
    reads its tables must not restore the state under the reader, whose note would then
    leak to stderr as a raw Python warning instead of reaching its run's log."""
    import warnings

    import tasks.data
    import tasks.preflight
    from synprompt_core.data.validation import IntegerLabelsWarning

    config = PipelineConfig.model_validate(smoke_config(tmp_path, tmp_path / "model"))
    logging_inside, reading, logged = threading.Event(), threading.Event(), []
    from_pandas = tracking.mlflow.data.from_pandas

    def slow_from_pandas(*args, **kwargs):
        logging_inside.set()
        reading.wait(timeout=2)  # the other cell starts reading meanwhile (unless it waits)
        return from_pandas(*args, **kwargs)

    real = tasks.preflight.read_synthetic

    def noting(data):
        reading.set()
        logger.join(timeout=5)  # the logging cell is done before this note is made
        warnings.warn(IntegerLabelsWarning("labels read as indices"), stacklevel=1)
        return real(data)

    class Logger:
        def info(self, message, *args):
            logged.append(message % args)

    monkeypatch.setattr(tracking.mlflow.data, "from_pandas", slow_from_pandas)
    monkeypatch.setattr(tasks.preflight, "read_synthetic", noting)
    monkeypatch.setattr(tasks.data, "get_run_logger", Logger)
    path = write_table(pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}), tmp_path / "t.parquet")
    (run,) = cell_runs(store, n=1)
    logger = threading.Thread(target=tracking.log_datasets, args=(*run, [("t", "training", path)]))
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        logger.start()
        logging_inside.wait(timeout=5)
        load_data.fn(config)
        logger.join()
    assert logged == ["note: labels read as indices"]
    assert [str(w.message) for w in leaked if issubclass(w.category, IntegerLabelsWarning)] == []
