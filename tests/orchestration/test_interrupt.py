"""SIGINT (Ctrl-C) or SIGTERM sent to ``synprompt run``'s process group mid-training stops
it within seconds: exit code 128 + signal, one message, its MLflow runs FAILED, no retries
against a dead Prefect server, and the temporary server gone with it."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flows.runtime import Interrupted, in_database_call, stop_on_signals
from tasks import tracking
from tests.orchestration.cli_runs import (
    cli_env,
    kill_group,
    start_run,
    wait_for,
    write_config,
)
from tests.orchestration.conftest import smoke_config

STOP_WITHIN = 60  # seconds from the signal to the process's exit
RETRY_NOISE = ("ConnectError", "EventsWorker", "Error logging to API", "Traceback")


def frame_in_module(name: str):
    """A live frame whose module is ``name``."""
    scope = {"__name__": name}
    exec("import sys\ndef here():\n    return sys._getframe()\n", scope)
    return scope["here"]()


def signal_once(proc, ready, *, what: str, signum: int) -> float:
    """Send ``signum`` to the run's process group (what Ctrl-C or `timeout` does) once
    ``ready()`` holds; the seconds until the run exits. The group is killed afterwards."""
    try:
        wait_for(ready, timeout=180, what=what)
        os.killpg(proc.pid, signum)
        sent = time.monotonic()
        proc.wait(timeout=STOP_WITHIN)
        return time.monotonic() - sent
    finally:
        kill_group(proc)


def test_database_frames_are_told_apart():
    assert in_database_call(frame_in_module("sqlalchemy.engine.base"))
    assert in_database_call(frame_in_module("mlflow.store.tracking.sqlalchemy_store"))
    assert not in_database_call(frame_in_module("mlflow.tracking.client"))
    assert not in_database_call(frame_in_module("synprompt_core.training.trainer"))


def train_step(seconds: float = 0.03) -> None:
    """Stands in for a training step: pure Python, no database."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_sigint_during_mlflow_writes_leaves_the_store_usable(tmp_path):
    """The signal arrives inside an MLflow write: sent from SQLAlchemy's hook right after
    the first curve rows are inserted, while the write's transaction holds the store's
    lock. The interrupt is raised after that write, so ending the run FAILED (what
    ``mlflow_run`` does on the way out) does not wait on the write's lock."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when pytest runs as a background job
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = tracking.ensure_experiment(uri, "interrupt", str(tmp_path / "artifacts"))
    run_id = tracking.start_run(uri, experiment_id=experiment, name="writer")
    sent = []

    def signal_mid_write(conn, cursor, statement, *args):
        if not sent and statement.lstrip().upper().startswith("INSERT INTO METRICS"):
            sent.append(in_database_call(sys._getframe()))
            os.kill(os.getpid(), signal.SIGINT)

    event.listen(Engine, "after_cursor_execute", signal_mid_write)
    try:
        with pytest.raises(Interrupted) as caught, stop_on_signals():
            for block in range(1_000):
                train_step()
                rows = [{"step": block * 300 + i, "loss": 1.0} for i in range(300)]
                tracking.log_batch(uri, run_id, history=rows)
    finally:
        event.remove(Engine, "after_cursor_execute", signal_mid_write)
    assert sent == [True]  # the signal was sent from inside the write
    assert caught.value.exit_code == 128 + signal.SIGINT
    assert not in_database_call(caught.traceback[-1].frame.raw)
    started = time.monotonic()
    tracking.end_run(uri, run_id, failed=True, error=repr(caught.value))
    assert time.monotonic() - started < 5
    assert MlflowClient(uri).get_run(run_id).info.status == "FAILED"
    assert signal.getsignal(signal.SIGINT) is before  # restored


def fake_write(seconds: float, scope: dict) -> None:
    """Busy for ``seconds`` in a frame that looks like SQLAlchemy's (a store write)."""
    exec(
        "import time\ndef write(s):\n    end = time.monotonic() + s\n"
        "    while time.monotonic() < end:\n        pass\n",
        scope,
    )
    scope["write"](seconds)


def test_a_signal_deferred_by_a_write_still_breaks_a_blocking_wait_that_follows():
    """Deferred out of a store write, the stop must not wait for a lock the run then
    blocks on (a stage lock can be held for hours)."""
    scope = {"__name__": "sqlalchemy.engine.base"}
    lock = threading.Event()
    released = threading.Timer(30, lock.set)  # the blocking call's own end, if not broken
    threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGTERM)).start()
    released.start()
    try:
        with pytest.raises(Interrupted) as caught, stop_on_signals():
            fake_write(0.5, scope)
            lock.wait()  # blocks, as flock or a device slot would
    finally:
        released.cancel()
    assert caught.value.signum == signal.SIGTERM
    assert not lock.is_set(), "the stop waited for the blocking call to end"


def test_a_signal_during_the_blocks_last_write_is_not_lost():
    scope = {"__name__": "sqlalchemy.engine.base"}
    threading.Timer(0.1, os.kill, args=(os.getpid(), signal.SIGINT)).start()
    with pytest.raises(Interrupted):
        with stop_on_signals():
            fake_write(0.3, scope)  # the signal lands here; the block then ends at once
    time.sleep(0.2)  # no stray re-delivery reaches the handler that was restored


def start_ignoring_sigint(config: Path, env: dict[str, str], log: Path, *, verb: str = "run"):
    """The run as a job started with ``&`` from a script: SIGINT ignored from the start."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return start_run(config, env, log, verb=verb)
    finally:
        signal.signal(signal.SIGINT, previous)


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").is_file() and " Z " in Path(f"/proc/{pid}/stat").read_text()


# SIGINT with MLflow writes every 5 steps: the interrupt is held back out of them. SIGTERM
# goes through Prefect's own handler while a flow runs, which raises at once, so its run
# writes its curves rarely (every 50 steps) and the signal lands in training.
CASES = [(signal.SIGINT, 5), (signal.SIGTERM, 50)]


@pytest.mark.parametrize(("signum", "every"), CASES, ids=["sigint", "sigterm"])
def test_signal_to_the_process_group_stops_the_run(signum, every, tiny_encoder, tmp_path):
    out = tmp_path / "out"
    config = smoke_config(
        tmp_path,
        tiny_encoder,
        max_steps=100_000,
        eval_every=100_000,
        checkpoint_every=every,
        patience=0,
    )
    config["tracking"] = {"experiment": "interrupt", "output_dir": str(out)}
    path = write_config(tmp_path / "config.yaml", config)
    log = tmp_path / "run.log"
    proc = start_ignoring_sigint(path, cli_env(tmp_path / "prefect-home"), log)
    took = signal_once(
        proc,
        lambda: list(out.glob("stages/prompt_tuning/*/checkpoint/checkpoint.pt")),
        what="prompt tuning to write its first checkpoint",
        signum=signum,
    )
    text = log.read_text(errors="replace")
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, text[-3000:]
    assert took < STOP_WITHIN
    assert f"error: run stopped by {name} (exit code {128 + signum})" in text
    assert not [noise for noise in RETRY_NOISE if noise in text], text[-3000:]
    found = re.search(r"starting a temporary Prefect server on \S+ \(pid (\d+)\)", text)
    assert found, text[-3000:]
    wait_for(lambda: process_gone(int(found.group(1))), timeout=15, what="the server to stop")

    client = MlflowClient(tracking.tracking_uri(None, str(out)))
    runs = client.search_runs([client.get_experiment_by_name("interrupt").experiment_id])
    status = {run.data.tags["synprompt.stage"]: run.info.status for run in runs}
    assert status == {"pipeline": "FAILED", "prompt_tuning": "FAILED"}


def test_sigint_stops_an_ablation_grid_whose_cells_train_in_threads(tiny_encoder, tmp_path):
    """The signal reaches the main thread only, and the thread pool's exit waits for the
    cells it runs: they must stop too, each ending its MLflow runs FAILED."""
    out = tmp_path / "out"
    base = smoke_config(
        tmp_path,
        tiny_encoder,
        max_steps=100_000,
        eval_every=100_000,
        checkpoint_every=5,
        patience=0,
    )
    base["tracking"] = {"experiment": "interrupt-grid", "output_dir": str(out)}
    base["zero_shot_baseline"] = False
    grid = {
        "name": "grid",
        "base": base,
        "variants": [{"strategy": "paired"}, {"strategy": "real_only", "surgery": False}],
        "max_workers": 2,
        "device_slots": 2,
    }
    path = write_config(tmp_path / "grid.yaml", grid)
    log = tmp_path / "ablation.log"
    proc = start_ignoring_sigint(path, cli_env(tmp_path / "prefect-home"), log, verb="ablation")
    took = signal_once(
        proc,
        lambda: len(list(out.glob("stages/prompt_tuning/*/checkpoint/checkpoint.pt"))) == 2,
        what="both grid cells to write a checkpoint",
        signum=signal.SIGINT,
    )
    text = log.read_text(errors="replace")
    assert proc.returncode == 130, text[-3000:]
    assert took < STOP_WITHIN
    assert "error: ablation stopped by SIGINT (exit code 130)" in text
    assert not [noise for noise in RETRY_NOISE if noise in text], text[-3000:]

    client = MlflowClient(tracking.tracking_uri(None, str(out)))
    runs = client.search_runs([client.get_experiment_by_name("interrupt-grid").experiment_id])
    status = sorted((run.data.tags["synprompt.stage"], run.info.status) for run in runs)
    stages = ["ablation", "pipeline", "pipeline", "prompt_tuning", "prompt_tuning"]
    assert status == [(stage, "FAILED") for stage in stages]
