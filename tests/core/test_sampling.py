"""LM-BFF k-shot sampling: seeded, k per label, same draw as LM-BFF's script."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synprompt_core.data import read_table, sample_k_shot
from synprompt_core.task_registry import get_task

SST2, MNLI = get_task("SST-2"), get_task("MNLI")


def make_table(n: int, labels: int, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "text_a": [f"sentence {i}" for i in range(n)],
            "text_b": [""] * n,
            "label": rng.integers(0, labels, size=n).astype("int64"),
        }
    )


def lmbff_reference(df: pd.DataFrame, k: int, seed: int) -> list[str]:
    """tools/generate_k_shot_data.py, reduced to its sampling steps."""
    lines = list(zip(df["text_a"], df["label"], strict=True))
    np.random.seed(seed)
    np.random.shuffle(lines)
    by_label: dict[int, list] = {}
    for line in lines:
        by_label.setdefault(line[1], []).append(line)
    return [line[0] for label in by_label for line in by_label[label][:k]]


@pytest.mark.parametrize("seed", [13, 21, 42, 87, 100])
def test_same_draw_as_lmbff_script(seed):
    df = make_table(500, 3)
    sample = sample_k_shot(df, k=16, seed=seed, task=MNLI)
    assert sample["text_a"].tolist() == lmbff_reference(df, 16, seed)


def test_k_per_label_and_rows_come_from_input():
    df = make_table(300, 3)
    sample = sample_k_shot(df, k=8, seed=13, task=MNLI)
    assert sample["label"].value_counts().to_dict() == {0: 8, 1: 8, 2: 8}
    assert sample.index.tolist() == list(range(24))
    merged = sample.merge(df, on=["text_a", "text_b", "label"], how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert sample["text_a"].is_unique


def test_seeded_and_deterministic():
    df = make_table(200, 2)
    first = sample_k_shot(df, k=16, seed=13, task=SST2)
    again = sample_k_shot(df, k=16, seed=13, task=SST2)
    other = sample_k_shot(df, k=16, seed=21, task=SST2)
    pd.testing.assert_frame_equal(first, again)
    assert set(first["text_a"]) != set(other["text_a"])


def test_input_is_not_changed():
    df = make_table(100, 2).set_axis(range(100, 200))
    before = df.copy()
    sample_k_shot(df, k=4, seed=1, task=SST2)
    pd.testing.assert_frame_equal(df, before)


def test_too_few_rows_names_the_label():
    df = pd.DataFrame({"text_a": list("abcdefg"), "label": [0, 0, 0, 0, 1, 1, 2]})
    with pytest.raises(ValueError, match=r"label 'entailment' \(entailment\): 2, 'neutral'") as err:
        sample_k_shot(df, k=3, seed=13, task=MNLI)
    assert "'contradiction'" not in str(err.value)


def test_missing_label_counts_as_too_few():
    df = make_table(50, 1)
    with pytest.raises(ValueError, match="'1' \\(positive\\): 0"):
        sample_k_shot(df, k=2, seed=13, task=SST2)


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="k must be >= 1"):
        sample_k_shot(make_table(10, 2), k=0, seed=13, task=SST2)


def test_sampling_full_sst2(shared_data):
    full = read_table(shared_data / "sst2-full" / "train.tsv", SST2)
    assert len(full) == 67_349
    sample = sample_k_shot(full, k=16, seed=13, task=SST2)
    assert sample["label"].value_counts().to_dict() == {0: 16, 1: 16}
    assert sample["text_a"].tolist() == lmbff_reference(full, 16, 13)


def test_dev_from_the_train_source_is_the_next_k_per_label(tmp_path):
    """LM-BFF draws dev as rows [k:2k] of each label: never a train row again."""
    from synprompt_core.configs.data import DataConfig
    from synprompt_core.data import read_real_splits

    make_table(120, 2).to_csv(tmp_path / "full.csv", index=False)
    source = {"format": "csv", "path": str(tmp_path / "full.csv")}
    data = DataConfig(
        task="SST-2", k=8, seed=13, sample_k_shot=True, train=source, dev=source, test=source
    )
    tables = read_real_splits(data)
    train, dev = tables["train"], tables["dev"]
    assert train["label"].value_counts().to_dict() == {0: 8, 1: 8}
    assert dev["label"].value_counts().to_dict() == {0: 8, 1: 8}
    assert not set(train["text_a"]) & set(dev["text_a"])
    reference = lmbff_reference(make_table(120, 2), 16, 13)  # [:2k] of each label, in order
    by_label = {0: [], 1: []}
    for text in reference:
        by_label[int(make_table(120, 2).set_index("text_a").loc[text, "label"])].append(text)
    assert set(dev["text_a"]) == {t for rows in by_label.values() for t in rows[8:]}


def test_dev_from_a_small_source_names_the_extra_rows_it_needs():
    df = make_table(30, 2, seed=3)  # 30 rows: some label has fewer than 16
    with pytest.raises(ValueError, match=r"fewer than 8 \+ k=8 .*dev drawn after train"):
        sample_k_shot(df, k=8, seed=13, task=SST2, skip=8)
