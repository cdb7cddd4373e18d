"""Accuracy, macro-F1 and the task's own metric (LM-BFF: positive-class F1 for MRPC and
QQP, Matthews correlation for CoLA) of a (prompted) backbone on an example table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from synprompt_core.stopping import check_stop
from synprompt_core.task_registry import METRICS, TaskSpec


@dataclass(frozen=True)
class EvalResult:
    """Metrics on one table: accuracy, macro-F1 and F1 in [0, 1], MCC in [-1, 1].

    ``as_metrics`` gives every one of them x100 (percent; MCC in [-100, 100], the scale of
    LM-BFF's tables), so dev curves and test scores of any task share one axis.

    Attributes:
        f1: F1 of the task's positive class; None unless the task names one (binary
            tasks whose metric is ``"f1"``).
        mcc: Matthews correlation (binary or multi-class); None if not computed.
        metric: the task's metric, one of ``task_registry.METRICS``; ``primary`` is its value.
    """

    accuracy: float
    macro_f1: float
    loss: float
    predictions: np.ndarray
    f1: float | None = None
    mcc: float | None = None
    metric: str = "accuracy"

    @property
    def primary(self) -> float:
        """The value of the task's metric (``metric``), on its field's scale (not x100)."""
        value = getattr(self, self.metric) if self.metric in METRICS else None
        if value is None:
            raise ValueError(f"metric {self.metric!r} was not computed for this result")
        return value

    def as_metrics(self, prefix: str) -> dict[str, float]:
        metrics = {
            f"{prefix}_accuracy": 100 * self.accuracy,
            f"{prefix}_macro_f1": 100 * self.macro_f1,
            f"{prefix}_loss": self.loss,
        }
        if self.f1 is not None:
            metrics[f"{prefix}_f1"] = 100 * self.f1
        if self.mcc is not None:
            metrics[f"{prefix}_mcc"] = 100 * self.mcc
        return metrics


def macro_f1(*, labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> float:
    """Unweighted mean of per-label F1 over the labels that occur in ``labels`` or
    ``predictions`` (scikit-learn's default): a class absent from both has no F1 and is
    left out, so a test set without some class is not scored down for it."""
    counts = confusion_matrix(labels=labels, predictions=predictions, num_labels=num_labels)
    tp = np.diag(counts)
    wrong = counts.sum(0) + counts.sum(1) - 2 * tp  # FP + FN of each label
    present = (tp + wrong) > 0
    return float(np.mean(2 * tp[present] / (2 * tp[present] + wrong[present])))


def positive_f1(*, labels: np.ndarray, predictions: np.ndarray, positive: int) -> float:
    """F1 of the ``positive`` class alone, 2 TP / (2 TP + FP + FN): LM-BFF's metric for MRPC
    and QQP (scikit-learn's binary F1 with ``pos_label=positive``).

    Args:
        labels, predictions: ``[rows]`` integer labels.
        positive: the integer label of the positive class.
    Returns:
        F1 in [0, 1]; 0 (not NaN) when the positive class is neither true nor predicted
        anywhere, as scikit-learn's default ``zero_division``.
    """
    tp = np.sum((predictions == positive) & (labels == positive))
    wrong = np.sum((predictions == positive) != (labels == positive))  # FP + FN
    return float(2 * tp / (2 * tp + wrong)) if tp + wrong else 0.0


def confusion_matrix(*, labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> np.ndarray:
    """``[num_labels, num_labels]`` counts: row = true label, column = predicted label."""
    for name, values in (("labels", labels), ("predictions", predictions)):
        outside = values[(values < 0) | (values >= num_labels)]
        if outside.size:
            raise ValueError(f"{name}: label {outside[0]} out of range 0..{num_labels - 1}")
    flat = np.bincount(num_labels * labels + predictions, minlength=num_labels * num_labels)
    return flat.reshape(num_labels, num_labels)


def matthews_corrcoef(*, labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> float:
    """Matthews correlation coefficient (Matthews, 1975) of any number of classes: Gorodkin's
    (2004) R_K, (c s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t)) over the confusion matrix, with c
    correct rows, s all rows, t and p the true and predicted counts per label. LM-BFF's
    metric for CoLA; equals scikit-learn's ``matthews_corrcoef``.

    Returns:
        MCC in [-1, 1]; 0 (not NaN) when every label or every prediction is one class.
    """
    counts = confusion_matrix(labels=labels, predictions=predictions, num_labels=num_labels)
    counts = counts.astype(np.float64)  # the spread grows as s^4: past int64 at 55k rows
    total, correct = counts.sum(), np.trace(counts)
    true, predicted = counts.sum(axis=1), counts.sum(axis=0)
    spread = (total**2 - predicted @ predicted) * (total**2 - true @ true)
    return float((correct * total - true @ predicted) / np.sqrt(spread)) if spread else 0.0


def score_predictions(
    *, labels: np.ndarray, predictions: np.ndarray, loss: float, task: TaskSpec
) -> EvalResult:
    """Every metric of ``predictions`` against ``labels`` for ``task``.

    Args:
        labels, predictions: ``[rows]`` integer labels.
        loss: the mean cross-entropy of the rows (reported as is).
        task: the ``TaskSpec``: label count, metric and positive class.
    """
    positive, f1 = task.positive_label, None
    if positive is not None:
        f1 = positive_f1(labels=labels, predictions=predictions, positive=positive)
    return EvalResult(
        accuracy=float(np.mean(predictions == labels)),
        macro_f1=macro_f1(labels=labels, predictions=predictions, num_labels=task.num_labels),
        loss=loss,
        predictions=predictions,
        f1=f1,
        mcc=matthews_corrcoef(labels=labels, predictions=predictions, num_labels=task.num_labels),
        metric=task.metric,
    )


def expand_prompt(prompt: torch.Tensor | None, batch_size: int) -> torch.Tensor | None:
    """[N, d] -> [B, N, d] view (no copy); None stays None (zero-shot)."""
    return None if prompt is None else prompt.unsqueeze(0).expand(batch_size, -1, -1)


@torch.no_grad()
def label_scores(
    *,
    backbone,
    prompt: torch.Tensor | None,
    table: pd.DataFrame,
    batch_size: int = 64,
    progress: bool = False,
    desc: str = "eval",
) -> torch.Tensor:
    """``[rows, labels]`` float32 label logits of every row of ``table``, in table order.

    Args:
        backbone: a ``synprompt_core.backbones.Backbone``.
        prompt: the effective soft prompt [N, d] (scale applied), or None for zero-shot.
        table: rows with text_a and text_b (labels are not needed).
    """
    # Batches of similar length waste little compute on padding; results keep table order.
    order = np.argsort(
        (table["text_a"].str.len() + table["text_b"].str.len()).to_numpy(), kind="stable"
    )
    scores = torch.empty(len(table), backbone.num_labels)
    starts = range(0, len(table), batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
        check_stop()
        rows = order[start : start + batch_size]
        part = table.iloc[rows]
        batch = backbone.encode(part["text_a"].tolist(), part["text_b"].tolist())
        logits = backbone.label_logits(expand_prompt(prompt, len(part)), batch)
        scores[torch.from_numpy(rows)] = logits.float().cpu()
    return scores


def evaluate(
    *,
    backbone,
    prompt: torch.Tensor | None,
    table: pd.DataFrame,
    batch_size: int = 64,
    progress: bool = False,
    desc: str = "eval",
) -> EvalResult:
    """Score every row of ``table`` and compare the argmax label with ``table.label``.

    Args: as :func:`label_scores`; ``table`` must have labels. The metrics follow
    ``backbone.task`` (its metric and positive class).
    """
    # a writable copy: pandas hands out a read-only view, which torch warns about
    labels = table["label"].to_numpy(dtype=np.int64, copy=True)
    scores = label_scores(
        backbone=backbone,
        prompt=prompt,
        table=table,
        batch_size=batch_size,
        progress=progress,
        desc=desc,
    )
    loss = F.cross_entropy(scores, torch.from_numpy(labels), reduction="mean").item()
    predictions = scores.argmax(dim=-1).numpy()
    return score_predictions(labels=labels, predictions=predictions, loss=loss, task=backbone.task)
