"""Accuracy and macro-F1 of a (prompted) backbone on an example table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


@dataclass(frozen=True)
class EvalResult:
    """Metrics on one table; accuracy and macro-F1 in [0, 1] (``as_metrics``: percent)."""

    accuracy: float
    macro_f1: float
    loss: float
    predictions: np.ndarray

    def as_metrics(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}_accuracy": 100 * self.accuracy,
            f"{prefix}_macro_f1": 100 * self.macro_f1,
            f"{prefix}_loss": self.loss,
        }


def macro_f1(*, labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> float:
    """Unweighted mean of per-label F1 over the labels that occur in ``labels`` or
    ``predictions`` (scikit-learn's default): a class absent from both has no F1 and is
    left out, so a test set without some class is not scored down for it."""
    scores = []
    for label in np.union1d(labels, predictions):
        if not 0 <= label < num_labels:
            raise ValueError(f"label {label} out of range 0..{num_labels - 1}")
        tp = np.sum((predictions == label) & (labels == label))
        fp = np.sum((predictions == label) & (labels != label))
        fn = np.sum((predictions != label) & (labels == label))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


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

    Args: as :func:`label_scores`; ``table`` must have labels.
    """
    labels = table["label"].to_numpy()
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
    return EvalResult(
        accuracy=float(np.mean(predictions == labels)),
        macro_f1=macro_f1(labels=labels, predictions=predictions, num_labels=backbone.num_labels),
        loss=loss,
        predictions=predictions,
    )
