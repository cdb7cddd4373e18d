"""MLflow runs around flows: a parent per pipeline run, a child per stage, closed on error."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.references import code_version, json_digest
from tasks import tracking
from tasks.provenance import environment_tags


def flatten(prefix: str, value) -> dict[str, object]:
    """Nested config dict -> {"a.b.c": value}."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(flatten(f"{prefix}.{key}" if prefix else str(key), item))
        return out
    return {prefix: value}


# (run id, experiment name) -> experiment id of the runs open in this process
_OPEN_RUNS: dict[tuple[str, str], str] = {}


def prefect_run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id or "")


@contextmanager
def mlflow_run(
    config: PipelineConfig,
    *,
    name: str,
    parent: tuple[str, str] | None = None,
    params: dict | None = None,
) -> Iterator[tuple[str, str]]:
    """Open a run, yield ``(tracking_uri, run_id)``, end it FINISHED or FAILED with the error."""
    out = Path(config.tracking.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    uri = parent[0] if parent else tracking.tracking_uri(config.tracking.tracking_uri, str(out))
    experiment_name = config.tracking.experiment
    # a stage's run goes where its parent, open in this process, already found it
    experiment = _OPEN_RUNS.get((parent[1], experiment_name)) if parent else None
    if experiment is None:
        experiment = tracking.ensure_experiment(uri, experiment_name, str(out / "mlartifacts"))
    tags = {
        "prefect.flow_run_id": prefect_run_id(),
        "synprompt.code_version": code_version(),
        "synprompt.config_fingerprint": json_digest(config.model_dump(mode="json")),
        "synprompt.task": config.data.task,
        "synprompt.stage": name if parent else "pipeline",
        **tracking.process_tags(),
        **environment_tags(),
    }
    if parent is None:  # runs left RUNNING by a killed process: mark them FAILED now
        for stale in tracking.fail_dead_runs(uri, experiment):
            print(f"marked MLflow run {stale} FAILED: its process died")
    run_id = tracking.start_run(
        uri, experiment_id=experiment, name=name, parent_id=parent[1] if parent else None, tags=tags
    )
    _OPEN_RUNS[(run_id, experiment_name)] = experiment
    try:
        if params:
            tracking.log_params(uri, run_id, params)
        yield uri, run_id
    except BaseException as err:
        # an interrupt raised inside a store write holds its transaction open for as long
        # as the traceback's frames live: drop them so ending the run is not locked out
        traceback.clear_frames(err.__traceback__)
        doc = (type(err).__doc__ or "").strip().splitlines()
        reason = str(err) or (doc[0] if doc else "no message")
        tracking.end_run(uri, run_id, failed=True, error=f"{type(err).__name__}: {reason}")
        raise
    finally:
        _OPEN_RUNS.pop((run_id, experiment_name), None)
    tracking.end_run(uri, run_id)
