"""Stage 4 task: tune the soft prompt, score it, write and log its outputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from synprompt_core.backbones import load_backbone
from synprompt_core.backbones.loading import drop_mask_literal_rows, mask_literal
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.references import Ref, cache_key
from synprompt_core.training.outputs import write_outputs
from synprompt_core.training.run import run_prompt_tuning
from synprompt_core.training.trainer import NEEDS_SYN
from tasks import tracking
from tasks.device_slots import device_slot
from tasks.store import claim_stage, keyed_models, read_table, stage_dir, write_manifest

STAGE = "prompt_tuning"
DROPPED = "synthetic_dropped_mask_literal"  # the child run's metric: rows left out


def stage_key(config: PipelineConfig, inputs: dict[str, Ref]) -> str:
    """Cache key: what changes the result — not device, eval batch size or tracking.

    The synthetic rows left out for holding the backbone's mask literal follow from the
    input digests and the backbone, both in the key.
    """
    config = keyed_models(config)
    subset = {
        "task": config.data.task_identity(),
        "backbone": config.backbone.model_dump(exclude={"device"}),
        "prompt_tuning": config.prompt_tuning.model_dump(
            exclude={"eval_batch_size", "checkpoint_every"}
        ),
        "zero_shot": config.zero_shot_baseline,
    }
    return cache_key(stage=STAGE, config=subset, inputs={k: r.sha256 for k, r in inputs.items()})


def train_and_write(
    config: PipelineConfig,
    inputs: dict[str, Ref],
    key: str,
    folder: Path,
    on_step: tracking.LiveHistory | None = None,
) -> dict:
    """Train (resuming from a checkpoint if one exists), score, write outputs, then manifest.

    Synthetic rows whose text holds the literal the backbone writes in its mask slot are
    left out and counted (``manifest["dropped"]``): imported files were refused at load, so
    these are generated rows, degenerate for this backbone. A strategy that trains on
    synthetic rows and has none left is one ``ValueError`` saying so, before any step.
    """
    tables = {name: read_table(ref) for name, ref in inputs.items()}
    backbone = load_backbone(config.backbone, config.data.spec)
    syn, dropped = tables.get("synthetic"), 0
    if syn is not None:
        syn, dropped = drop_mask_literal_rows(backbone, syn)
        if dropped and syn.empty and config.prompt_tuning.strategy in NEEDS_SYN:
            literal = mask_literal(backbone.kind, backbone.tokenizer)
            raise ValueError(
                f"all {dropped} synthetic rows hold {literal!r}, the token the "
                f"{config.backbone.kind} backbone {config.backbone.model!r} writes in its "
                f"template's mask slot: strategy {config.prompt_tuning.strategy!r} has no "
                "synthetic row left to train on"
            )
    outcome = run_prompt_tuning(
        backbone=backbone,
        real=tables["train"],
        syn=syn,
        dev=tables.get("dev"),
        test=tables["test"],
        config=config.prompt_tuning,
        zero_shot=config.zero_shot_baseline,
        checkpoint_dir=folder / "checkpoint",
        fingerprint=key,
        on_step=on_step,
    )
    manifest = {"key": key, **write_outputs(folder, config, outcome), "dropped": dropped}
    write_manifest(folder, manifest)
    return manifest


@task(name="tune-soft-prompt", cache_policy=NO_CACHE)
def tune_soft_prompt(config: PipelineConfig, inputs: dict[str, Ref], run: tuple[str, str]) -> dict:
    """Train (or reuse a finished result), then log curves and artifacts to ``run``."""
    uri, run_id = run
    key = stage_key(config, inputs)
    folder = stage_dir(config.tracking.output_dir, STAGE, key)
    # curves reach MLflow with each checkpoint: after a crash, both end at the same step
    live = tracking.LiveHistory(uri, run_id, every=config.prompt_tuning.checkpoint_every)
    with claim_stage(folder) as manifest:  # stage lock first, device slot inside it
        cached = manifest is not None
        if not cached:
            with device_slot(config.backbone.device):  # a fleet never oversubscribes a device
                manifest = train_and_write(config, inputs, key, folder, on_step=live)
    metrics = dict(manifest["summary"])
    if "synthetic" in inputs:
        metrics[DROPPED] = float(manifest["dropped"])
    if manifest["dropped"]:
        get_run_logger().warning(
            "left out %d synthetic rows whose text holds the token the %s backbone %r "
            "writes in its template's mask slot (metric %s)",
            manifest["dropped"],
            config.backbone.kind,
            config.backbone.model,
            DROPPED,
        )
    live.finish(
        pd.read_csv(folder / "history.csv").to_dict("records"),
        metrics=metrics,
        tags={"cache_key": key, "cached": str(cached).lower()},
    )
    for name in manifest["files"]:
        tracking.log_artifact(uri, run_id, folder / name)
    return {"key": key, "folder": str(folder), "cached": cached, **manifest["summary"]}
