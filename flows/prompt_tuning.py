"""Stage 4 flow: soft-prompt tuning on real + synthetic data (DawGen Algorithm 2)."""

from __future__ import annotations

from prefect import flow

from flows.tracking_run import flatten, mlflow_run
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.references import Ref
from tasks import tracking
from tasks.prompt_tuning import tune_soft_prompt


@flow(name="prompt-tuning")
def prompt_tuning_flow(
    config: PipelineConfig, inputs: dict[str, Ref], parent: tuple[str, str]
) -> dict:
    """Train P on (real, syn) batches with gradient surgery; select on dev; score test."""
    params = flatten(
        "",
        {
            "task": config.data.task,
            "seed": config.data.seed,
            "backbone": config.backbone.model_dump(mode="json"),
            "prompt_tuning": config.prompt_tuning.model_dump(mode="json"),
        },
    )
    with mlflow_run(config, name="prompt_tuning", parent=parent, params=params) as run:
        uri, run_id = run
        tables = [
            (name, "training" if name in ("train", "synthetic") else name, ref)
            for name, ref in inputs.items()
        ]
        tracking.log_datasets(uri, run_id, tables)
        return tune_soft_prompt(config, inputs, run)
