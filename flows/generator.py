"""Stage 1-2 flows: tune a generator on the few-shot set (DawGen Alg. 1 / SoftSRV), then
sample a label-conditioned synthetic set from it (DawGen Step 2)."""

from __future__ import annotations

from prefect import flow

from flows.tracking_run import flatten, mlflow_run
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.references import Ref
from tasks import tracking
from tasks.generator import generate_synthetic_task, tune_generator_task


def stage_params(config: PipelineConfig, **parts) -> dict[str, object]:
    """The child run's params: task, seed and the given config sections."""
    return flatten(
        "",
        {
            "task": config.data.task,
            "seed": config.data.seed,
            **{name: part.model_dump(mode="json") for name, part in parts.items()},
        },
    )


@flow(name="tune-generator")
def tune_generator_flow(
    config: PipelineConfig, inputs: dict[str, Ref], parent: tuple[str, str]
) -> Ref:
    """Alg. 1: on the frozen generator LM, learn one soft prompt Q_l per label. Each step
    updates Q on L_DawGen(Q; W) = L_wGen (tokens weighted by W) + lambda L_dist, takes a
    differentiable look-ahead Q'(W), updates W on L_disc(Q'(W)), then updates Q again
    (fewgen: no L_dist; prompt: plain LM loss). SoftSRV instead trains P(E(x)) to
    reconstruct each real x."""
    params = stage_params(config, generator=config.generator)
    with mlflow_run(config, name="tune_generator", parent=parent, params=params) as run:
        uri, run_id = run
        tracking.log_datasets(uri, run_id, [("train", "training", inputs["train"])])
        return tune_generator_task(config, inputs, run)


@flow(name="generate-synthetic")
def generate_synthetic_flow(
    config: PipelineConfig, inputs: dict[str, Ref], generator_ref: Ref, parent: tuple[str, str]
) -> Ref:
    """Step 2: for each label l, sample rows from the LM conditioned on Q_l (or on P(E(x))
    of real examples of l), then drop failures, duplicates and degenerate rows; every kept
    row keeps its seed, raw output and the generator's reference."""
    params = stage_params(config, generation=config.generation)
    params.update(generator_model=config.generator.model, generator_sha256=generator_ref.sha256)
    with mlflow_run(config, name="generate_synthetic", parent=parent, params=params) as run:
        return generate_synthetic_task(config, inputs, generator_ref, run)
