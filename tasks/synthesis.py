"""Stage 3 task (SynAlign Sec. 3.3): generate from the chosen demonstrations with latent
attribute reasoning, through a Hugging Face model or an OpenAI-compatible endpoint.

The API key is read from the environment at request time and never logged.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from synprompt_core.alignment import (
    Demonstration,
    DemonstrationGroup,
    HFCausalGenerator,
    OpenAICompatibleGenerator,
    SynthesisResult,
    TextGenerator,
    synthesise_with_attributes,
)
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import table_digest
from synprompt_core.references import Ref, cache_key
from synprompt_core.reporting import write_table as write_report
from tasks import tracking
from tasks.alignment import SYNTH
from tasks.generator import log_synthetic_stage
from tasks.store import (
    claim_stage,
    keyed_models,
    read_table,
    stage_dir,
    write_manifest,
    write_table,
)


def load_generator(config: PipelineConfig) -> TextGenerator:
    """The stage-B LLM: a local HF causal LM (on the encoder's device) or an endpoint."""
    gen = config.alignment.generation
    if gen.backend == "hf":
        return HFCausalGenerator.from_pretrained(
            gen.model, device=config.alignment.embedding.device
        )
    return OpenAICompatibleGenerator(
        base_url=gen.base_url,
        model=gen.model,
        api_key_env=gen.api_key_env,
        api_key=read_secret(gen.api_key_secret) if gen.api_key_secret else None,
        timeout_s=gen.timeout_s,
        max_retries=gen.max_retries,
        backoff_s=gen.backoff_s,
    )


def read_secret(name: str) -> str:
    """The value of the Prefect Secret block ``name``; one clear error when there is none."""
    from prefect.blocks.system import Secret

    try:
        return Secret.load(name).get()
    except ValueError as err:  # Prefect: "Unable to find block document named ..."
        raise ValueError(
            f"alignment.generation.api_key_secret: no Prefect Secret block named {name!r} "
            f"on this Prefect API ({err}); create it in the UI (Blocks > Secret) or with "
            f"Secret(value=...).save({name!r})"
        ) from None


def demonstration_groups(config: PipelineConfig, table: pd.DataFrame) -> list[DemonstrationGroup]:
    """One group per chosen cluster, its ``demos_per_cluster`` members nearest the centroid."""
    meanings = config.data.spec.label_meanings
    shown = table[table["rank"] < config.alignment.generation.demos_per_cluster]
    groups = []
    for (_, cluster), rows in shown.groupby(["pick", "cluster"], sort=True):
        label = int(rows["label"].iloc[0])
        demos = tuple(
            Demonstration(row.text_a, meanings[label], row.text_b) for row in rows.itertuples()
        )
        groups.append(DemonstrationGroup(int(cluster), label, meanings[label], demos))
    return groups


def synthesis_frames(result: SynthesisResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept rows with seed, raw output and attributes; every stage-B parse, failures too)."""
    rows = pd.DataFrame([asdict(row) for row in result.rows])
    if len(rows):
        rows["attributes"] = rows["attributes"].map(" | ".join)
        rows = rows.assign(weight=1.0, source="synalign")
    parses = pd.DataFrame(
        {"ok": p.ok, "reason": p.reason, "examples": len(p.examples), "raw_output": p.raw}
        for p in result.example_parses
    )
    return rows, parses


def attribute_frame(result: SynthesisResult, *, seed: int) -> pd.DataFrame:
    """Every stage-A answer with its call's seed: the attributes found, or why none were."""
    return pd.DataFrame(
        {"seed": seed + i, "ok": p.ok, "reason": p.reason,
         "attributes": " | ".join(p.attributes), "raw_output": p.raw}
        for i, p in enumerate(result.attribute_parses)
    )  # fmt: skip


def synthesis_key(config: PipelineConfig, demonstrations: Ref) -> str:
    """Cache key: the LLM and what is asked of it; endpoint and retry knobs are left out."""
    operational = {
        "enabled",
        "timeout_s",
        "max_retries",
        "backoff_s",
        "api_key_env",
        "api_key_secret",
        "base_url",
    }
    subset = {
        "task": config.data.task_identity(classifier=False),
        "generation": keyed_models(config).alignment.generation.model_dump(exclude=operational),
    }
    return cache_key(stage=SYNTH, config=subset, inputs={"demonstrations": demonstrations.sha256})


@task(name="synthesise-with-attributes", cache_policy=NO_CACHE)
def synthesize_task(config: PipelineConfig, demonstrations: Ref, run: tuple[str, str]) -> Ref:
    """Sec. 3.3: per chosen cluster, summarise attributes then write new examples with them.

    Every completion is kept in ``parses.csv``, stage A's in ``attributes.csv``; a run that
    parses no example fails, naming it.
    """
    uri, run_id = run
    gen = config.alignment.generation
    key = synthesis_key(config, demonstrations)
    folder = stage_dir(config.tracking.output_dir, SYNTH, key)
    with claim_stage(folder) as manifest:
        cached = manifest is not None
        if not cached:
            groups = demonstration_groups(config, read_table(demonstrations))
            result = synthesise_with_attributes(
                generator=load_generator(config),
                groups=groups,
                config=gen,
                pair=config.data.spec.is_pair,
            )
            rows, parses = synthesis_frames(result)
            write_report(parses, folder / "parses")
            write_report(attribute_frame(result, seed=gen.seed), folder / "attributes")
            if len(rows) == 0:
                tracking.log_artifact(uri, run_id, folder / "parses.csv")
                tracking.log_artifact(uri, run_id, folder / "attributes.csv")
                tracking.log_batch(uri, run_id, metrics=result.counts)
                raise ValueError(
                    f"latent-attribute generation parsed no example from {len(parses)} "
                    f"completions of {gen.model!r}; raw outputs: {folder / 'parses.csv'}"
                )
            digest = table_digest(rows)
            write_table(rows, folder / "synthetic.parquet", digest=digest)
            manifest = {
                "key": key,
                "sha256": digest,
                "metrics": result.counts,
                "files": ["parses.csv", "parses.md", "attributes.csv", "attributes.md"],
            }
            write_manifest(folder, manifest)
    return log_synthetic_stage(run, folder, manifest, cached=cached)
