"""The whole pipeline's result, recorded under a key of everything that decides it.

A re-run whose config (less its name and tracking settings) and input tables are unchanged
reads this record instead of walking the stages: one parent MLflow run, tagged with the run
that computed the result. Any other change, an operational knob included, falls through to
the stage caches, which reuse every stage whose own inputs still hold.
"""

from __future__ import annotations

from pathlib import Path

from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.references import Ref, cache_key
from tasks.store import keyed_models, read_manifest, stage_dir, stage_path, write_manifest

STAGE = "pipeline"


def pipeline_key(config: PipelineConfig, inputs: dict[str, Ref]) -> str:
    subset = keyed_models(config).model_dump(mode="json", exclude={"name", "tracking"})
    return cache_key(stage=STAGE, config=subset, inputs={k: r.sha256 for k, r in inputs.items()})


def find_result(config: PipelineConfig, key: str) -> dict | None:
    """The recorded result, or None if absent or if the stage output it names is gone."""
    record = read_manifest(stage_path(config.tracking.output_dir, STAGE, key))
    if record is None or read_manifest(Path(record["result"]["folder"])) is None:
        return None
    return record


def record_result(config: PipelineConfig, key: str, result: dict, run: tuple[str, str]) -> None:
    """Written after the last stage finished: a killed run never leaves a record."""
    folder = stage_dir(config.tracking.output_dir, STAGE, key)
    write_manifest(folder, {"key": key, "result": result, "tracking_uri": run[0], "run_id": run[1]})
