"""Apply a tuned soft prompt to new rows: the labels it predicts and their probabilities.

A prompt-tuning output folder (or the same files downloaded from its MLflow run) holds the
prompt (``prompt.safetensors``) and ``model.json``: the backbone and the task it was tuned
for, so the rows are scored exactly as in training (same template, same label words).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from synprompt_core.configs.backbone import MASK_SLOT_KINDS, BackboneConfig
from synprompt_core.configs.data import DataConfig, TaskConfig
from synprompt_core.soft_prompt import SoftPrompt, load_soft_prompt
from synprompt_core.task_registry import TaskSpec, get_task
from synprompt_core.training.evaluation import label_scores, score_predictions
from synprompt_core.training.run import reported_scores

MODEL_FILE = "model.json"
PROMPT_FILE = "prompt.safetensors"


def model_card(data: DataConfig, backbone: BackboneConfig) -> dict:
    """What ``model.json`` records: the task and the backbone, a local model folder made
    absolute so the prompt can be applied from any working folder."""
    card = backbone.model_dump(mode="json")
    if Path(backbone.model).is_dir():
        card["model"] = str(Path(backbone.model).resolve())
    spec = None if data.task_spec is None else data.task_spec.model_dump(mode="json")
    return {"task": data.task, "task_spec": spec, "backbone": card}


@dataclass(frozen=True)
class TunedPrompt:
    """A tuned prompt with the backbone and task it belongs to."""

    prompt: SoftPrompt
    task: TaskSpec
    backbone: BackboneConfig


def load_tuned_prompt(folder: str | Path, *, device: str | None = None) -> TunedPrompt:
    """Read ``model.json`` and ``prompt.safetensors`` from ``folder``; ``device`` overrides
    the training device. FileNotFoundError / ValueError name the folder and what is wrong."""
    folder = Path(folder)
    missing = [name for name in (MODEL_FILE, PROMPT_FILE) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} is not a prompt-tuning output folder: no {' or '.join(missing)} "
            "(use the folder `synprompt run` prints, or the artifacts of its prompt_tuning run)"
        )
    try:
        card = json.loads((folder / MODEL_FILE).read_text())
        spec = card["task_spec"]
        task = TaskConfig(**spec).spec(card["task"]) if spec else get_task(card["task"])
        backbone = BackboneConfig.model_validate(card["backbone"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{folder / MODEL_FILE}: not a valid model card ({err})") from None
    if device is None and backbone.device.startswith("cuda") and not torch.cuda.is_available():
        device = "cpu"  # tuned on a GPU, applied where there is none
    if device is not None:
        backbone = backbone.model_copy(update={"device": device})
    prompt, _ = load_soft_prompt(folder / PROMPT_FILE)
    return TunedPrompt(prompt=prompt, task=task, backbone=backbone)


def predict(
    *, backbone, prompt: SoftPrompt, table: pd.DataFrame, batch_size: int = 64, progress=False
) -> pd.DataFrame:
    """One row per row of ``table``: ``prediction`` (label name), ``meaning`` and
    ``p_<label>`` columns, the softmax over the label words' scores."""
    width = backbone.embedding_matrix().shape[1]
    if prompt.dim != width:
        raise ValueError(f"the prompt is {prompt.dim} wide but the model's embeddings {width}")
    prompt = prompt.to(backbone.device)
    scores = label_scores(
        backbone=backbone,
        prompt=prompt().detach(),
        table=table,
        batch_size=batch_size,
        progress=progress,
        desc="predict",
    )
    probabilities = scores.softmax(dim=-1).numpy()
    task = backbone.task
    best = probabilities.argmax(axis=1)
    columns = {
        "prediction": [task.label_names[i] for i in best],
        "meaning": [task.label_meanings[i] for i in best],
        **{f"p_{name}": probabilities[:, i] for i, name in enumerate(task.label_names)},
    }
    return pd.DataFrame(columns)


def score_rows(task: TaskSpec, labels: np.ndarray, scored: pd.DataFrame) -> dict:
    """The metrics of ``predict``'s output against integer ``labels``, keyed as the
    pipeline's ``test_*`` metrics are (without the prefix: ``accuracy``, ``macro_f1``,
    ``f1``/``mcc`` where computed, ``task_metric``), plus ``loss`` (mean cross-entropy of
    the true labels) and ``metric``, the name of the task's own."""
    probabilities = scored[[f"p_{name}" for name in task.label_names]].to_numpy()
    truth = probabilities[np.arange(len(labels)), labels]
    loss = float(-np.log(np.clip(truth, 1e-12, None)).mean())
    result = score_predictions(
        labels=labels, predictions=probabilities.argmax(axis=1), loss=loss, task=task
    )
    scores = {
        key.removeprefix("row_"): value for key, value in reported_scores(result, "row").items()
    }
    return {**scores, "loss": loss, "metric": task.metric}


OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def check_rows_text(cfg: BackboneConfig, table: pd.DataFrame, *, path: str | Path) -> None:
    """A text of ``table`` holding the backbone's mask token, named by file, row and field
    (``DataError``) from the tokenizer alone, before the model loads."""
    from synprompt_core.backbones.loading import check_mask_literal, load_tokenizer

    if cfg.kind in MASK_SLOT_KINDS:
        tokenizer = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
        check_mask_literal(cfg, tokenizer, table, path=path)


def predict_file(
    folder: str | Path,
    rows: str | Path,
    output: str | Path,
    *,
    text_a: str | None = None,
    text_b: str | None = None,
    label: str | None = None,
    format: str | None = None,
    device: str | None = None,
    batch_size: int = 64,
) -> dict:
    """Predict every row of the file ``rows`` with the prompt in ``folder``; write the rows
    with their predictions to ``output`` (.csv, .jsonl or .parquet; written whole or not at
    all). Returns ``{"rows", "output"}`` and, when the rows carry labels, their scores as the
    pipeline reports test scores (x100, ``score_rows``): ``accuracy``, ``macro_f1``, ``f1``
    and ``mcc`` where the task computes them, ``task_metric``, and also ``loss`` and
    ``metric``, the name of the task's own.

    Bad input (no such folder or file, a missing column, an empty text, an unknown label, a
    text holding the backbone's mask token, an output suffix it cannot write) raises before
    the model is loaded.
    """
    from synprompt_core.backbones import load_backbone
    from synprompt_core.data.readers import read_rows

    output = Path(output)
    kind = OUTPUT_FORMATS.get(output.suffix.lower())
    if kind is None:
        raise ValueError(f"{output}: write predictions to one of {', '.join(OUTPUT_FORMATS)}")
    if output.is_dir():
        raise ValueError(f"{output} is a folder: give a file name for the predictions")
    tuned = load_tuned_prompt(folder, device=device)
    columns = {"text_a": text_a, "text_b": text_b, "label": label}
    raw, table = read_rows(rows, tuned.task, **columns, format=format, option="`--{flag}`")
    check_rows_text(tuned.backbone, table, path=rows)
    backbone = load_backbone(tuned.backbone, tuned.task)
    scored = predict(backbone=backbone, prompt=tuned.prompt, table=table, batch_size=batch_size)
    out = raw.reset_index(drop=True).assign(**scored)  # the rows as given, then predictions
    summary: dict = {"rows": len(out), "output": str(output)}
    if "label" in table.columns:
        summary.update(score_rows(tuned.task, table["label"].to_numpy(), scored))
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        if kind == "csv":
            out.to_csv(partial, index=False)
        elif kind == "jsonl":
            out.to_json(partial, orient="records", lines=True, force_ascii=False)
        else:
            out.to_parquet(partial, index=False)
        partial.replace(output)
    except Exception as err:  # noqa: BLE001 - reworded once; nothing half-written stays
        partial.unlink(missing_ok=True)
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"cannot write {output} ({reason}); try .csv or .jsonl") from err
    return summary
