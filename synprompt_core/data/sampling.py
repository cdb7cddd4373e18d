"""LM-BFF's k-shot sampling protocol (Gao et al., 2021, tools/generate_k_shot_data.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synprompt_core.task_registry import TaskSpec


def sample_k_shot(
    df: pd.DataFrame, *, k: int, seed: int, task: TaskSpec, skip: int = 0
) -> pd.DataFrame:
    """Draw k examples per label the way LM-BFF does.

    The whole table is shuffled once with ``numpy.random.RandomState(seed)`` (the same
    permutation as LM-BFF's ``np.random.seed(seed); np.random.shuffle(lines)``); each
    label then keeps its first k rows of the shuffled order, or with ``skip=k`` the next
    k: LM-BFF draws train as ``[:k]`` and dev as ``[k:2k]`` of one shuffle of the same
    table, so the two never share a row. Label groups come in order of their first
    appearance after the shuffle, as in LM-BFF's output files.

    Args:
        df: a validated example table (int ``label``).
        k: examples per label, >= 1.
        seed: sampling seed.
        task: the task; every one of its labels must have at least skip + k rows.
        skip: rows of each label passed over first (0 for train, k for a dev drawn from
            the same table).

    Returns:
        A new table of ``k * task.num_labels`` rows with a fresh RangeIndex; the input
        is not changed. Same table, k and seed -> same rows in the same order.

    Raises:
        ValueError: k < 1, or a label with fewer than k rows (named in the message).
    """
    if k < 1 or skip < 0:
        raise ValueError(f"k must be >= 1 and skip >= 0, got k={k}, skip={skip}")
    if "label" not in df.columns:
        raise ValueError("table has no 'label' column")
    order = np.random.RandomState(seed).permutation(len(df))
    labels = df["label"].to_numpy()[order]
    counts = np.bincount(labels.astype(np.int64), minlength=task.num_labels)
    short = [i for i in range(task.num_labels) if counts[i] < skip + k]
    if short:
        details = ", ".join(
            f"{task.label_names[i]!r} ({task.label_meanings[i]}): {counts[i]}" for i in short
        )
        need = f"k={k}" if not skip else f"{skip} + k={k} (dev drawn after train)"
        raise ValueError(f"{task.name}: fewer than {need} rows for label {details}")
    _, first_seen = np.unique(labels, return_index=True)
    picked = []
    for label in labels[np.sort(first_seen)]:
        picked.extend(order[labels == label][skip : skip + k])
    return df.iloc[picked].reset_index(drop=True)
