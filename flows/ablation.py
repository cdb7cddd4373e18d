"""The ablation flow: tasks x seeds x strategy variants as parallel pipeline runs.

The grid runs through the task runner the config names: Prefect's thread pool, or
Dask (a ``distributed.LocalCluster`` of worker processes, or a scheduler address).
Each cell is one task that runs the whole pipeline flow while holding a slot of its
device's concurrency limit. The comparison table of the grid ends up on the parent
MLflow run (CSV, Markdown, PNG) and on the Prefect flow run (a markdown artifact).
"""

from __future__ import annotations

import re
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows import client_tls, heartbeats
from flows.compare import compare_experiment, publish_comparison
from flows.tracking_run import flatten, mlflow_run
from synprompt_core.configs.ablation import AblationConfig
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.stopping import clear_stop, request_stop
from tasks import tracking
from tasks.device_slots import ensure_device_limit

heartbeats.install()  # the grid's flow run too ends without a heartbeat wait
client_tls.install()  # one CA bundle load per process, not one per API client


def make_task_runner(config: AblationConfig):
    """The task runner ``config.runner`` names."""
    if config.runner == "local":
        return ThreadPoolTaskRunner(max_workers=config.max_workers)
    from prefect_dask import DaskTaskRunner

    if config.dask_address:
        return DaskTaskRunner(address=config.dask_address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": config.dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "host": "127.0.0.1",  # never reachable from another machine
            "dashboard_address": None,
            # worker scratch beside the run's outputs, not a shared /tmp/dask-scratch-space
            "local_directory": str(Path(config.base.tracking.output_dir).resolve() / "dask"),
        },
    )


def comparison_key(name: str) -> str:
    """The Prefect artifact key of a grid's table: ``My_Grid`` -> ``my-grid-comparison``.

    Prefect takes only lowercase letters, digits and dashes in a key, and the grid's name is
    free text: anything else would fail the grid at its very end, after every cell ran.
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return f"{slug}-comparison" if slug else "comparison"


@task(name="run-grid-cell", cache_policy=NO_CACHE)
def run_cell(config: PipelineConfig) -> dict:
    """One grid cell: the whole pipeline (its compute-bound stages take device slots).

    The flow is imported here, not captured: Dask pickles this task by value, and a
    captured flow would lose its module (and the annotations Prefect validates with).
    """
    from flows.pipeline import synprompt_pipeline

    result = synprompt_pipeline(config)
    return {k: v for k, v in result.items() if isinstance(v, str | int | float | bool)}


@flow(name="ablation-grid")
def run_grid(cells: list[PipelineConfig]) -> list[dict]:
    """Submit every cell, wait for all; raise naming the cells that failed.

    A Ctrl-C or SIGTERM is raised in this (the main) thread while it waits; the task
    runner then waits for the cells still running in its worker threads, so they are asked
    to stop too: each raises at its next training step or batch and ends its runs FAILED.
    """
    try:
        futures = [run_cell.submit(cell) for cell in cells]
        for future in futures:
            future.wait()
    except BaseException:
        request_stop()
        raise
    results, failed = [], []
    for cell, future in zip(cells, futures, strict=True):
        state = future.state
        if state.is_completed():
            results.append(future.result())
        else:
            failed.append(f"{cell.tracking.run_name}: {state.message}")
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(cells)} grid cells failed: {failed}")
    return results


@flow(name="synprompt-ablation", log_prints=True)
def ablation_flow(config: AblationConfig) -> dict:
    """Run the grid, then build its comparison table and attach it to the parent runs.

    Args:
        config: a base pipeline and the tasks x seeds x strategy variants to run it over,
            with the task runner (local threads or Dask) and device slots.
    """
    cells = config.expand()
    devices = {cell.backbone.device for cell in cells}
    # a generator stage takes a slot of its own device (tasks/generator.py)
    devices |= {cell.generator.device for cell in cells if cell.generator is not None}
    for device in devices:
        ensure_device_limit(device, config.device_slots)
    base = config.base.model_copy(
        update={"tracking": config.base.tracking.model_copy(update={"run_name": config.name})}
    )
    params = flatten("ablation", config.model_dump(mode="json", exclude={"base"}))
    with mlflow_run(base, name=f"{config.name}-grid", params=params) as parent:
        tracking.log_batch(*parent, tags={"synprompt.stage": "ablation"})
        print(f"{len(cells)} grid cells on the {config.runner} runner, devices {sorted(devices)}")
        try:
            results = run_grid.with_options(task_runner=make_task_runner(config))(cells)
        finally:
            clear_stop()  # every cell has ended: work started later in this process runs
        out = Path(config.base.tracking.output_dir) / "ablations" / parent[1]
        comparison = compare_experiment(
            parent[0],
            config.base.tracking.experiment,
            out,
            metric=config.metric,
            run_ids={r["run_id"] for r in results},
        )
        key = comparison_key(config.name)
        publish_comparison(comparison, run=parent, key=key, title=config.name)
    print(f"comparison table: {', '.join(map(str, comparison.files))} and flow-run artifact {key}")
    return {
        "run_id": parent[1],
        "tracking_uri": parent[0],
        "cells": results,
        "table": comparison.table.to_dict("records"),
        "markdown": comparison.markdown(),
        "files": [str(p) for p in comparison.files],
    }
