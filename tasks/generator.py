"""Stage 1-2 tasks: tune the generator's prompts, then sample a synthetic set from it.

Each task computes a content cache key, writes into ``stages/<stage>/<key>/`` (manifest
last), logs the folder to the given MLflow run and returns a reference. A finished
folder is reused without recomputing and is still logged (tag ``cached``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import table_digest, validate_examples
from synprompt_core.generator.errors import GeneratorError
from synprompt_core.generator.generate import first_sentences, generate_synthetic
from synprompt_core.generator.loading import context_length, load_generator
from synprompt_core.generator.output import save_synthetic
from synprompt_core.generator.plots import plot_generator_curves
from synprompt_core.generator.state import load_generator_result, save_generator_result
from synprompt_core.generator.tuning import tune_generator
from synprompt_core.generator.validation import (
    validate_generation_inputs,
    validate_generator_inputs,
)
from synprompt_core.references import Ref, cache_key, file_digest
from tasks import tracking
from tasks.device_slots import device_slot
from tasks.store import claim_stage, keyed_models, read_table, stage_dir, write_manifest

TUNE, GENERATE = "tune_generator", "generate_synthetic"
GENERATOR_FILE = "generator.safetensors"
OPERATIONAL = {"device", "trust_remote_code"}  # never part of a cache key
TUNE_FILES = [GENERATOR_FILE, "history.csv", "generator_curve.png"]
GENERATE_FILES = ["README.md", "rejected.parquet"]


def tune_key(config: PipelineConfig, train: Ref) -> str:
    """Cache key: the task, the generator settings that change the result, the train table."""
    words = config.generator.init_words == "verbalizers"  # the label words seed its prompts
    config = keyed_models(config)
    subset = {
        "task": config.data.task_identity(classifier=words),
        "generator": config.generator.model_dump(mode="json", exclude=OPERATIONAL),
    }
    return cache_key(stage=TUNE, config=subset, inputs={"train": train.sha256})


def generate_key(config: PipelineConfig, train: Ref, generator: Ref) -> str:
    """Cache key: sampling/filtering settings (not batch size), the frozen LM, the inputs."""
    config = keyed_models(config)
    subset = {
        "task": config.data.task_identity(classifier=False),
        "generation": config.generation.model_dump(mode="json", exclude={"batch_size"}),
        "model": config.generator.model,
        "dtype": config.generator.dtype,
    }
    inputs = {"train": train.sha256, "generator": generator.sha256}
    return cache_key(stage=GENERATE, config=subset, inputs=inputs)


def check_generation(config: PipelineConfig, examples: pd.DataFrame, context: int) -> None:
    """Stage 2's checks, before stage 1 trains: a sampling budget over the context (or a
    pair task with no first sentences) would otherwise fail only after the tuning."""
    spec, gen = config.data.spec, config.generator
    firsts = first_sentences(config.generation, examples, None) if spec.is_pair else []
    validate_generation_inputs(
        config.generation,
        spec,
        prompt_length=gen.prompt.length,
        context_length=context,
        first_sentences=len(firsts),
        pair_context_length=gen.max_length if spec.is_pair else 0,
    )


def train_generator(config: PipelineConfig, train: Ref, folder: Path) -> dict[str, float]:
    """Load the LM, check the inputs, tune, and write the result, history and curve."""
    gen, spec = config.generator, config.data.spec
    examples = read_table(train)
    model, tokenizer = load_generator(gen)
    context = context_length(model)
    validate_generator_inputs(gen, spec, examples, context)  # before training
    check_generation(config, examples, context)
    history: list[dict] = []
    result = tune_generator(
        model=model,
        tokenizer=tokenizer,
        examples=examples,
        task=spec,
        config=gen,
        on_step=lambda step, metrics: history.append({"step": step, **metrics}),
    )
    save_generator_result(result, folder / GENERATOR_FILE)
    pd.DataFrame(history).to_csv(folder / "history.csv", index=False)
    title = f"{config.data.task} seed {config.data.seed}: {gen.mode}"
    plot_generator_curves(history, folder / "generator_curve.png", title=title)
    return result.diagnostics


@task(name="tune-generator", cache_policy=NO_CACHE)
def tune_generator_task(
    config: PipelineConfig, inputs: dict[str, Ref], run: tuple[str, str]
) -> Ref:
    """Tune the label prompts (or SoftSRV's P(E(x))) on the real train set; log them."""
    uri, run_id = run
    key = tune_key(config, inputs["train"])
    folder = stage_dir(config.tracking.output_dir, TUNE, key)
    with claim_stage(folder) as manifest:  # stage lock first, device slot inside it
        cached = manifest is not None
        if not cached:
            with device_slot(config.generator.device):
                summary = train_generator(config, inputs["train"], folder)
            digest = file_digest(folder / GENERATOR_FILE)
            manifest = {"key": key, "sha256": digest, "summary": summary, "files": TUNE_FILES}
            write_manifest(folder, manifest)
    tracking.log_batch(
        uri,
        run_id,
        tags={"cache_key": key, "cached": str(cached).lower()},
        history=pd.read_csv(folder / "history.csv").to_dict("records"),
        metrics=summary_metrics(manifest["summary"]),
    )
    for name in manifest["files"]:
        tracking.log_artifact(uri, run_id, folder / name)
    return Ref(path=str((folder / GENERATOR_FILE).resolve()), sha256=manifest["sha256"])


def log_synthetic_stage(run: tuple[str, str], folder: Path, manifest: dict, *, cached: bool) -> Ref:
    """Log a finished stage that made a synthetic set; return the set's reference."""
    uri, run_id = run
    path = folder / "synthetic.parquet"
    tags = {"cache_key": manifest["key"], "cached": str(cached).lower()}
    tracking.log_batch(uri, run_id, tags=tags, metrics=manifest["metrics"])
    for name in manifest["files"]:
        tracking.log_artifact(uri, run_id, folder / name)
    ref = Ref(path=str(path.resolve()), sha256=manifest["sha256"])
    tracking.log_datasets(uri, run_id, [("synthetic", "training", ref)])
    return ref


def summary_metrics(diagnostics: dict[str, float]) -> dict[str, float]:
    """The core's summary (means over the last steps) under names that keep per-step ones."""
    return {k if k == "seconds" else f"tail_mean_{k}": v for k, v in diagnostics.items()}


def generator_reference(generator: Ref, output_dir: str) -> str:
    """What each row records: the generator file relative to the output folder + its digest."""
    path = Path(generator.path)
    try:
        path = path.relative_to(Path(output_dir).resolve())
    except ValueError:
        pass
    return f"{path.as_posix()}@sha256:{generator.sha256}"


def sample_and_write(config: PipelineConfig, inputs: dict[str, Ref], generator: Ref, folder):
    """Sample, filter, check the contract, write the set; returns the manifest's body."""
    spec, settings = config.data.spec, config.generation
    model, tokenizer = load_generator(config.generator)
    reference = generator_reference(generator, config.tracking.output_dir)
    output = generate_synthetic(
        model=model,
        tokenizer=tokenizer,
        result=load_generator_result(generator.path),
        task=spec,
        config=settings,
        generator_ref=reference,
        examples=read_table(inputs["train"]),
    )
    saved = save_synthetic(
        output,
        folder,
        task=spec,
        generator_ref=reference,
        settings=settings.model_dump(mode="json"),
    )
    removed = output.counts["generated"] - output.counts["kept"] - output.counts["failed"]
    metrics = {**output.counts, "removed": removed, **output.diagnostics}
    if len(output.rows) == 0:
        raise GeneratorError(
            f"generation kept no row of {output.counts['requested']} requested "
            f"(counts {output.counts}); rejected rows and reasons: {saved.rejected}"
        )
    validate_examples(output.rows, spec, path=saved.parquet, registry_order=True)
    return {"sha256": table_digest(output.rows), "metrics": metrics, "files": GENERATE_FILES}


@task(name="generate-synthetic", cache_policy=NO_CACHE)
def generate_synthetic_task(
    config: PipelineConfig, inputs: dict[str, Ref], generator_ref: Ref, run: tuple[str, str]
) -> Ref:
    """Sample ``n_per_label`` rows per label from the tuned generator; write and log the set."""
    uri, run_id = run
    key = generate_key(config, inputs["train"], generator_ref)
    folder = stage_dir(config.tracking.output_dir, GENERATE, key)
    with claim_stage(folder) as manifest:  # stage lock first, device slot inside it
        cached = manifest is not None
        if not cached:
            try:
                with device_slot(config.generator.device):
                    body = sample_and_write(config, inputs, generator_ref, folder)
            except GeneratorError:
                for name in GENERATE_FILES:  # the audit trail of a run that kept nothing
                    if (folder / name).is_file():
                        tracking.log_artifact(uri, run_id, folder / name)
                raise
            manifest = {"key": key, **body}
            write_manifest(folder, manifest)
    return log_synthetic_stage(run, folder, manifest, cached=cached)
