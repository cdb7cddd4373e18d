"""The only module that imports mlflow. Every call names its run id explicitly.

MLflow's active run is thread-local and Prefect runs tasks in worker threads, so
nothing here relies on ``mlflow.start_run``; everything goes through ``MlflowClient``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.parse
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from synprompt_core.references import Ref

PARAM_LIMIT = 6000
BATCH = 900
TAG_BATCH = 100


def tracking_uri(configured: str | None, output_dir: str) -> str:
    """Configured URI, else $MLFLOW_TRACKING_URI, else a SQLite store in ``output_dir``."""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(Path(output_dir).resolve() / 'mlflow.db').as_posix()}"


def redact_uri(uri: str) -> str:
    """``uri`` without the user and password it may carry, for anything printed or logged."""
    parts = urllib.parse.urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{host}"))


_CLIENTS: dict[str, MlflowClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(uri: str) -> MlflowClient:
    """One client per store URI and process, its store opened (and, if new, created) once.

    Opening a new SQLite store creates and migrates its tables; several processes doing
    that at once on the same file fail (``duplicate column name``), so for SQLite stores
    the first opening holds an exclusive file lock beside the database.
    """
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(uri)
        if client is None:
            with _sqlite_init_lock(uri):
                client = MlflowClient(tracking_uri=uri)  # opens the store: creates, migrates
            _CLIENTS[uri] = client
        return client


@contextmanager
def _sqlite_init_lock(uri: str) -> Iterator[None]:
    path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
    if not path or path.startswith(":memory:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock, as before
        yield
        return
    lock = Path(path).with_name(Path(path).name + ".init.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_experiment(uri: str, name: str, artifact_root: str) -> str:
    """The experiment's id, created with artifacts under ``artifact_root`` if new.

    A tracking server (``http(s)://``) keeps its own artifact store: a folder of this
    machine would hold artifacts that the server, and every other machine, cannot read.
    """
    client = client_for(uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    server = uri.startswith(("http://", "https://"))
    location = None if server else Path(artifact_root).resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:  # created concurrently by another run
        return client.get_experiment_by_name(name).experiment_id


def start_run(
    uri: str,
    *,
    experiment_id: str,
    name: str,
    parent_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """Create a run (a child when ``parent_id`` is given) and return its id."""
    all_tags = dict(tags or {})
    if parent_id:
        all_tags["mlflow.parentRunId"] = parent_id
    run = client_for(uri).create_run(experiment_id, run_name=name, tags=all_tags)
    return run.info.run_id


def process_tags() -> dict[str, str]:
    """Who runs this: host, pid and the pid's start time (so a reused pid is not mistaken)."""
    pid = os.getpid()
    return {
        "synprompt.host": socket.gethostname(),
        "synprompt.pid": str(pid),
        "synprompt.pid_start": _pid_start(pid),
    }


def _pid_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), else ''."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()  # fields from the 3rd on; the name may hold spaces
    return fields[19] if len(fields) > 19 else ""


def _process_alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    now = _pid_start(pid)
    return not (started and now and now != started)  # same pid, another process: dead


def fail_dead_runs(uri: str, experiment_id: str) -> list[str]:
    """Mark FAILED (error ``process died ...``) this host's RUNNING runs whose process is gone.

    A process killed with SIGKILL (or by the OOM killer, or a power cut) cannot end its
    runs, so they would stay RUNNING for ever. Runs opened on other hosts are left alone:
    whether their process lives cannot be told from here. Returns the ids it marked.
    """
    host = socket.gethostname()
    client = client_for(uri)
    query = f"attributes.status = 'RUNNING' and tags.`synprompt.host` = '{host}'"
    marked = []
    for run in client.search_runs([experiment_id], filter_string=query, max_results=5000):
        tags = run.data.tags
        pid = tags.get("synprompt.pid", "")
        if not pid.isdigit() or _process_alive(int(pid), tags.get("synprompt.pid_start", "")):
            continue
        message = f"process died: pid {pid} on {host} ended without closing this run"
        client.set_tag(run.info.run_id, "error", message)
        client.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.FAILED))
        marked.append(run.info.run_id)
    return marked


def end_run(uri: str, run_id: str, *, failed: bool = False, error: str | None = None) -> None:
    """Mark the run FINISHED, or FAILED with the error message as a tag."""
    client = client_for(uri)
    if error:
        client.set_tag(run_id, "error", error[:4000])
    status = RunStatus.to_string(RunStatus.FAILED if failed else RunStatus.FINISHED)
    client.set_terminated(run_id, status=status)


def log_params(uri: str, run_id: str, params: dict[str, Any]) -> None:
    items = [Param(k, str(v)[:PARAM_LIMIT]) for k, v in sorted(params.items())]
    client = client_for(uri)
    for start in range(0, len(items), 100):
        client.log_batch(run_id, params=items[start : start + 100], synchronous=True)


def log_batch(
    uri: str,
    run_id: str,
    *,
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    history: list[dict[str, float]] | None = None,
    step: int = 0,
) -> None:
    """Tags, metrics (at ``step``) and per-step history rows (each with a ``step`` key;
    NaN means not evaluated at that step) in as few store calls as MLflow's batch limits
    allow: one, unless there are more than ``BATCH`` values. Nothing to log, no call."""
    now = int(time.time() * 1000)
    items = [
        Metric(k, float(v), now, int(row["step"]))
        for row in history or ()
        for k, v in row.items()
        if k != "step" and v == v  # NaN: not evaluated at this step
    ]
    items += [Metric(k, float(v), now, step) for k, v in (metrics or {}).items()]
    tag_items = [RunTag(key, str(value)) for key, value in (tags or {}).items()]
    client = client_for(uri)
    start = 0
    while start < len(items) or tag_items:  # MLflow: at most 100 tags, 1000 entities a call
        batch_tags, tag_items = tag_items[:TAG_BATCH], tag_items[TAG_BATCH:]
        batch = items[start : start + BATCH]
        client.log_batch(run_id, metrics=batch, tags=batch_tags, synchronous=True)
        start += BATCH


class LiveHistory:
    """Per-step metrics sent every ``every`` steps while a stage trains, so its curves
    grow in the MLflow UI during the run rather than appearing at the end."""

    def __init__(self, uri: str, run_id: str, *, every: int) -> None:
        self.uri, self.run_id, self.every = uri, run_id, max(every, 1)
        self.pending: list[dict[str, float]] = []
        self.sent: set[int] = set()

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        self.pending.append({"step": float(step), **metrics})
        if step % self.every == 0:
            self.flush()

    def flush(self) -> None:
        log_batch(self.uri, self.run_id, history=self.pending)
        self.sent.update(int(row["step"]) for row in self.pending)
        self.pending = []

    def finish(
        self,
        history: list[dict[str, float]],
        *,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Send what is pending, then every step of ``history`` not sent yet (steps done
        before a resume, or all of them when the stage came from the cache), with the
        stage's summary ``metrics`` and ``tags``: one store call for all of it."""
        pending = {int(row["step"]) for row in self.pending}
        rows = self.pending + [
            r for r in history if int(r["step"]) not in self.sent and int(r["step"]) not in pending
        ]
        log_batch(self.uri, self.run_id, history=rows, metrics=metrics, tags=tags)
        self.sent.update(int(row["step"]) for row in rows)
        self.pending = []


def log_artifact(uri: str, run_id: str, path: Path, *, folder: str | None = None) -> None:
    client_for(uri).log_artifact(run_id, str(path), artifact_path=folder)


def log_datasets(uri: str, run_id: str, tables: list[tuple[str, str, Ref]]) -> None:
    """Register parquet example tables, ``(name, context, ref)`` each, as the run's inputs
    (``mlflow.log_input``), in one store call."""
    entries = []
    frames = [pd.read_parquet(ref.path) for _, _, ref in tables]
    # MLflow's advice on ambiguous local sources and integer columns (our labels are never
    # missing) would print on every stage of every run. The filters are set for the process,
    # not inside catch_warnings, which any other thread's catch_warnings (a library's, in a
    # parallel ablation cell) could undo meanwhile; setting them again changes nothing.
    warnings.filterwarnings("ignore", "The specified dataset source", UserWarning)
    warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
    for (name, context, ref), frame in zip(tables, frames, strict=True):
        dataset = mlflow.data.from_pandas(
            frame,
            source=str(Path(ref.path).resolve()),
            targets="label",
            name=name,
            digest=ref.sha256[:36],
        )
        entries.append(
            DatasetInput(
                dataset=dataset._to_mlflow_entity(),
                tags=[InputTag("mlflow.data.context", context)],
            )
        )
    client = client_for(uri)
    try:
        client.log_inputs(run_id, datasets=entries)
    except mlflow.exceptions.MlflowException as err:
        if not any(word in str(err).lower() for word in ("unique", "duplicate")):
            raise
        # another run registered the same table in this experiment at the same moment
        # (ablation cells share their inputs): it exists now, so this call only links it
        client.log_inputs(run_id, datasets=entries)


def find_runs(uri: str, experiment: str, *, filter_string: str = "") -> list[Any]:
    """All runs of an experiment (newest first), for comparison tables and tests."""
    client = client_for(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs(
        [found.experiment_id],
        filter_string=filter_string,
        max_results=5000,
        order_by=["attributes.start_time DESC"],
    )


def experiment_names(uri: str) -> list[str]:
    """Names of the store's active experiments, sorted."""
    return sorted(e.name for e in client_for(uri).search_experiments())


def pipeline_runs_frame(uri: str, experiment: str) -> pd.DataFrame:
    """Finished pipeline parent runs, newest first: run id, start time, params, metrics.

    Params keep their flattened names (``data.task``, ``prompt_tuning.strategy``, ...);
    metrics are their latest values. Stage children and ablation parents are left out.
    """
    runs = find_runs(
        uri,
        experiment,
        filter_string="tags.`synprompt.stage` = 'pipeline' and attributes.status = 'FINISHED'",
    )
    rows = [
        {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "start_time": run.info.start_time,
            **run.data.params,
            **run.data.metrics,
        }
        for run in runs
    ]
    return pd.DataFrame(rows)


def check_store(uri: str, experiment: str, artifact_root: str) -> str:
    """Reach the tracking store and write to it (an experiment tag); return the experiment id.

    Raises whatever the store raises (``MlflowException``, ``OSError``) on failure.
    """
    if uri.startswith(("http://", "https://")):
        import urllib.request

        # MLflow's client retries a dead server for minutes; one plain request fails at once.
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).close()
    experiment_id = ensure_experiment(uri, experiment, artifact_root)
    client_for(uri).set_experiment_tag(experiment_id, "synprompt.preflight", str(int(time.time())))
    return experiment_id
