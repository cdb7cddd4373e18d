"""The parent flow: synthetic data in, a better few-shot soft prompt out."""

from __future__ import annotations

from prefect import flow

from flows import client_tls, heartbeats
from flows.alignment import (
    reweight_synthetic_flow,
    select_demonstrations_flow,
    synthesize_flow,
)
from flows.generator import generate_synthetic_flow, tune_generator_flow
from flows.prompt_tuning import prompt_tuning_flow
from flows.tracking_run import flatten, mlflow_run
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.references import Ref
from tasks import tracking
from tasks.data import join_tables, load_data
from tasks.preflight import check_environment
from tasks.results import find_result, pipeline_key, record_result

heartbeats.install()  # each flow run (stage subflows too) ends without a heartbeat wait
client_tls.install()  # one CA bundle load per process, not one per API client


@flow(name="synprompt-pipeline", log_prints=True)
def synprompt_pipeline(config: PipelineConfig) -> dict:
    """Preflight, then the stages inside one MLflow parent run (a child run per stage).

    When the same config has already run on the same input tables, the recorded result is
    reused without walking the stages; the parent run is tagged with the run it came from.

    Args:
        config: the whole pipeline: task and data, backbone, optional generator and
            SynAlign stages, prompt tuning, tracking (one YAML file of ``synprompt run``).
    """
    for line in check_environment(config):  # fails in seconds, before any run is opened
        print(line)
    inputs = load_data(config)  # a bad table or text fails here too: no MLflow run left behind
    seed = f"-{config.data.seed}" if config.data.reads_seed else ""  # own files have none
    name = config.tracking.run_name or f"{config.name}-{config.data.task}{seed}"
    params = flatten("", config.model_dump(mode="json"))
    with mlflow_run(config, name=name, params=params) as parent:
        key = pipeline_key(config, inputs)
        record = find_result(config, key)
        tags = {"synprompt.pipeline_key": key, "cached": str(record is not None).lower()}
        if record is None:
            result = run_stages(config, inputs, parent)
            record_result(config, key, result, parent)
        else:
            result = {**record["result"], "cached": True}
            tags["synprompt.cached_from"] = record["run_id"]
            print(f"same config and inputs: reusing the result of MLflow run {record['run_id']}")
        metrics = {k: v for k, v in result.items() if isinstance(v, float)}
        tracking.log_batch(*parent, tags=tags, metrics=metrics)
    result.update(tracking_uri=parent[0], run_id=parent[1])
    where = tracking.redact_uri(parent[0])
    metric = config.data.spec.metric
    own = f", test {metric} {result[f'test_{metric}']:.2f}" if metric != "accuracy" else ""
    print(f"test accuracy {result['test_accuracy']:.2f}%{own}  (MLflow run {parent[1]} at {where})")
    return result


def run_stages(config: PipelineConfig, inputs: dict[str, Ref], parent: tuple[str, str]) -> dict:
    """The stages in order, each a subflow with its own MLflow child run and stage cache.

    1-2. a generator is tuned on the few-shot set (DawGen/FewGen/SoftSRV) and samples the
         synthetic set, or the synthetic set is imported from a file;
    3.   SynAlign: demonstrations are chosen by GP uncertainty; an LLM may generate rows from
         them (joining the synthetic set, or becoming it); synthetic rows weighted by MMD;
    4.   a soft prompt is tuned on real + synthetic data and scored on test.
    """
    if config.generator is not None:
        generator = tune_generator_flow(config, inputs, parent)
        inputs = {**inputs, "synthetic": generate_synthetic_flow(config, inputs, generator, parent)}
    align = config.alignment
    if align is not None and align.selection.enabled:
        demonstrations = select_demonstrations_flow(config, inputs, parent)
        if align.generation.enabled:
            generated = synthesize_flow(config, demonstrations, parent)
            if "synthetic" in inputs:
                generated = join_tables(config, [inputs["synthetic"], generated], "synthetic")
            inputs = {**inputs, "synthetic": generated}
    if align is not None and align.reweight.enabled and "synthetic" in inputs:
        inputs = {**inputs, "synthetic": reweight_synthetic_flow(config, inputs, parent)}
    return prompt_tuning_flow(config, inputs, parent)
