"""Stage 3 tasks (SynAlign): pick demonstrations by GP uncertainty, reweight a synthetic
set by MMD (generation from the demonstrations is in ``tasks/synthesis.py``).

Each task embeds what it needs (embeddings cached by content under
``<output_dir>/embeddings``), calls one core function, writes a content-addressed stage
folder (manifest last), logs it to the given MLflow run and returns a reference. A finished
folder is reused without recomputing and is still logged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from synprompt_core.alignment import (
    apply_weights,
    embed_texts,
    reweight,
)
from synprompt_core.alignment import select_demonstrations as select_clusters
from synprompt_core.alignment.gp_select import DemonstrationSelection
from synprompt_core.alignment.plots import plot_projection, plot_weight_histogram
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import table_digest
from synprompt_core.references import Ref, cache_key
from synprompt_core.reporting import write_table as write_report
from tasks import tracking
from tasks.store import (
    claim_stage,
    keyed_models,
    read_table,
    stage_dir,
    write_manifest,
    write_table,
)

SELECT, REWEIGHT, SYNTH = "select_demonstrations", "reweight_synthetic", "synthesize"
OPERATIONAL = {"batch_size", "device"}  # never part of a cache key


def example_texts(config: PipelineConfig, table: pd.DataFrame) -> list[str]:
    """What the encoder sees: text_a, or "text_a text_b" for sentence-pair tasks."""
    if config.data.spec.is_pair:
        return (table["text_a"] + " " + table["text_b"]).tolist()
    return table["text_a"].tolist()


def embed(config: PipelineConfig, table: pd.DataFrame) -> np.ndarray:
    cache = Path(config.tracking.output_dir) / "embeddings"
    texts = example_texts(config, table)
    return embed_texts(texts, config=config.alignment.embedding, cache_dir=cache)


def stage_key(config: PipelineConfig, stage: str, part: str, inputs: dict[str, Ref]) -> str:
    """Cache key: the encoder's settings, this step's config and the inputs' digests."""
    align = keyed_models(config).alignment
    subset = {
        "task": config.data.task_identity(classifier=False),
        "embedding": align.embedding.model_dump(exclude=OPERATIONAL),
        part: getattr(align, part).model_dump(exclude={"enabled"}),
    }
    return cache_key(stage=stage, config=subset, inputs={k: r.sha256 for k, r in inputs.items()})


def demonstrations_frame(pool: pd.DataFrame, sel: DemonstrationSelection) -> pd.DataFrame:
    """One row per member of each chosen cluster, in pick order; rank 0 is nearest the centroid."""
    parts = []
    for pick, (cluster, variance, members) in enumerate(
        zip(sel.clusters, sel.variances, sel.members, strict=True)
    ):
        rows = pool.iloc[members][["text_a", "text_b", "label"]].reset_index(drop=True)
        rows.insert(0, "pool_row", members)
        rows.insert(0, "rank", range(len(members)))
        rows.insert(0, "gp_variance", float(variance))
        rows.insert(0, "cluster", int(cluster))
        rows.insert(0, "pick", pick)
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def check_budget(config: PipelineConfig, pool: pd.DataFrame) -> None:
    budget = config.alignment.selection.budget
    if budget > len(pool):
        raise ValueError(
            f"alignment.selection.budget={budget} is larger than the real train pool "
            f"({len(pool)} rows): lower the budget or use more real examples"
        )


@task(name="select-demonstrations", cache_policy=NO_CACHE)
def select_demonstrations_task(
    config: PipelineConfig, inputs: dict[str, Ref], run: tuple[str, str]
) -> Ref:
    """Cluster the real train pool, choose clusters by GP variance, write and log the table."""
    uri, run_id = run
    key = stage_key(config, SELECT, "selection", {"train": inputs["train"]})
    folder = stage_dir(config.tracking.output_dir, SELECT, key)
    with claim_stage(folder) as manifest:
        cached = manifest is not None
        if not cached:
            pool = read_table(inputs["train"])
            check_budget(config, pool)
            sel = select_clusters(
                embeddings=embed(config, pool),
                labels=pool["label"].to_numpy(),
                config=config.alignment.selection,
            )
            frame = demonstrations_frame(pool, sel)
            ref = write_table(frame, folder / "demonstrations.parquet")
            write_report(frame, folder / "demonstrations")
            metrics = {
                "n_selected": len(sel.clusters),
                "n_demonstrations": len(frame),
                "mean_gp_variance": float(sel.variances.mean()),
            }
            manifest = {
                "key": key,
                "sha256": ref.sha256,
                "metrics": metrics,
                "variances": sel.variances.tolist(),
                "files": ["demonstrations.parquet", "demonstrations.csv", "demonstrations.md"],
            }
            write_manifest(folder, manifest)
    history = [{"step": i, "gp_variance": v} for i, v in enumerate(manifest["variances"])]
    tags = {"cache_key": key, "cached": str(cached).lower()}
    tracking.log_batch(uri, run_id, tags=tags, history=history, metrics=manifest["metrics"])
    for name in manifest["files"]:
        tracking.log_artifact(uri, run_id, folder / name)
    return Ref(path=str((folder / "demonstrations.parquet").resolve()), sha256=manifest["sha256"])


def write_reweight_outputs(folder: Path, config: PipelineConfig, syn, real_emb, syn_emb, result):
    """The weighted synthetic table, its two figures; returns the manifest's body."""
    settings = config.alignment.reweight
    table = apply_weights(
        syn, result.weights, use=settings.use, seed=settings.seed, by_label=settings.by_label
    )
    digest = table_digest(table)
    write_table(table, folder / "synthetic.parquet", digest=digest)
    title = f"{config.data.task} seed {config.data.seed}: MMD {result.mmd_before:.3g} -> "
    title += f"{result.mmd_after:.3g}"
    plot_weight_histogram(result.weights, folder / "weight_histogram.png", title=title)
    plot_projection(
        real=real_emb,
        syn=syn_emb,
        weights=result.weights,
        path=folder / "projection.png",
        title=title,
    )
    metrics = {
        "mmd_before": result.mmd_before,
        "mmd_after": result.mmd_after,
        "ess": result.ess,
        "ess_fraction": result.ess / len(syn),
        "solver_steps": result.steps,
        "n_synthetic": len(table),
    }
    return {
        "sha256": digest,
        "metrics": metrics,
        "solver": result.solver,
        "files": ["weight_histogram.png", "projection.png"],
    }


@task(name="reweight-synthetic", cache_policy=NO_CACHE)
def reweight_synthetic_task(
    config: PipelineConfig, inputs: dict[str, Ref], run: tuple[str, str]
) -> Ref:
    """Learn MMD weights matching synthetic to real embeddings; write the weighted table."""
    uri, run_id = run
    splits = [name for name in config.alignment.reweight.target_splits if name in inputs]
    used = {name: inputs[name] for name in [*splits, "synthetic"]}
    key = stage_key(config, REWEIGHT, "reweight", used)
    folder = stage_dir(config.tracking.output_dir, REWEIGHT, key)
    with claim_stage(folder) as manifest:
        cached = manifest is not None
        if not cached:
            real = pd.concat([read_table(used[n]) for n in splits], ignore_index=True)
            syn = read_table(used["synthetic"])
            real_emb, syn_emb = embed(config, real), embed(config, syn)
            result = reweight(
                syn=syn_emb,
                real=real_emb,
                config=config.alignment.reweight,
                syn_labels=syn["label"].to_numpy(),
                real_labels=real["label"].to_numpy(),
            )
            manifest = {
                "key": key,
                **write_reweight_outputs(folder, config, syn, real_emb, syn_emb, result),
            }
            write_manifest(folder, manifest)
    path = folder / "synthetic.parquet"
    tags = {"cache_key": key, "cached": str(cached).lower(), "solver": manifest["solver"]}
    tracking.log_batch(uri, run_id, tags=tags, metrics=manifest["metrics"])
    for name in manifest["files"]:
        tracking.log_artifact(uri, run_id, folder / name)
    ref = Ref(path=str(path.resolve()), sha256=manifest["sha256"])
    tracking.log_datasets(uri, run_id, [("synthetic_weighted", "training", ref)])
    return ref
