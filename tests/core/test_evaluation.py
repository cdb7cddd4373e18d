"""The task's own metric (LM-BFF): positive-class F1, Matthews correlation, dev selection."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from sklearn.metrics import matthews_corrcoef as sklearn_mcc

from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.task_registry import get_task
from synprompt_core.training.evaluation import (
    EvalResult,
    confusion_matrix,
    matthews_corrcoef,
    positive_f1,
    score_predictions,
)
from synprompt_core.training.outputs import results_frame
from synprompt_core.training.run import PromptTuningOutcome
from synprompt_core.training.trainer import TrainResult, dev_key


def ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def scored(task, labels: np.ndarray, predictions: np.ndarray, loss: float = 0.5) -> EvalResult:
    spec = get_task(task) if isinstance(task, str) else task
    return score_predictions(labels=labels, predictions=predictions, loss=loss, task=spec)


def test_positive_f1_by_hand():
    labels, predictions = ints(1, 1, 1, 0, 0), ints(1, 1, 0, 1, 0)
    # positive 1: tp 2, fp 1, fn 1 -> 4 / 6; positive 0: tp 1, fp 1, fn 1 -> 2 / 4
    assert positive_f1(labels=labels, predictions=predictions, positive=1) == pytest.approx(2 / 3)
    assert positive_f1(labels=labels, predictions=predictions, positive=0) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("labels", "predictions"),
    [
        (ints(1, 1, 0, 0), ints(0, 0, 0, 0)),  # the positive class is never predicted
        (ints(0, 0, 0, 0), ints(0, 0, 0, 0)),  # nor true anywhere: 0, as sklearn's default
        (ints(0, 0, 0, 0), ints(1, 1, 1, 1)),  # predicted everywhere, true nowhere
    ],
)
def test_positive_f1_of_a_degenerate_split_is_zero_not_nan(labels, predictions):
    assert positive_f1(labels=labels, predictions=predictions, positive=1) == 0.0


def test_mcc_by_hand():
    # binary: tp 2, tn 1, fp 1, fn 1 -> (2 * 1 - 1 * 1) / sqrt(3 * 3 * 2 * 2) = 1 / 6
    binary = matthews_corrcoef(
        labels=ints(1, 1, 1, 0, 0), predictions=ints(1, 1, 0, 1, 0), num_labels=2
    )
    assert binary == pytest.approx(1 / 6)
    # 3 classes: c 2, s 4, t (2, 1, 1), p (1, 1, 2) -> (8 - 5) / sqrt((16 - 6) (16 - 6)) = 0.3
    multi = matthews_corrcoef(labels=ints(0, 1, 2, 0), predictions=ints(0, 2, 2, 1), num_labels=3)
    assert multi == pytest.approx(0.3)
    assert matthews_corrcoef(labels=ints(0, 1, 2), predictions=ints(0, 1, 2), num_labels=5) == 1.0
    assert matthews_corrcoef(labels=ints(0, 1, 1), predictions=ints(1, 0, 0), num_labels=2) == -1.0


@pytest.mark.parametrize(
    ("labels", "predictions"),
    [
        (ints(0, 1, 1, 0, 1), ints(1, 1, 1, 1, 1)),  # every prediction one class
        (ints(1, 1, 1, 1), ints(0, 1, 0, 1)),  # every label one class
        (ints(2, 0, 1), ints(0, 0, 0)),  # multi-class, one predicted class
    ],
)
def test_mcc_of_a_degenerate_split_is_zero_not_nan(labels, predictions):
    value = matthews_corrcoef(labels=labels, predictions=predictions, num_labels=3)
    assert value == 0.0 and not math.isnan(value)
    assert sklearn_mcc(labels, predictions) == 0.0


@pytest.mark.parametrize(("num_labels", "rows"), [(2, 50), (3, 200), (6, 1000), (2, 200_000)])
def test_mcc_and_f1_match_sklearn(num_labels, rows):
    """200k rows: the MCC denominator (~rows^4) is past int64, so it is computed in float64."""
    rng = np.random.default_rng(num_labels)
    labels = rng.integers(0, num_labels, rows)
    noisy = rng.integers(0, num_labels, rows)
    predictions = np.where(rng.random(rows) < 0.6, labels, noisy)  # better than chance
    ours = matthews_corrcoef(labels=labels, predictions=predictions, num_labels=num_labels)
    assert ours == pytest.approx(sklearn_mcc(labels, predictions), abs=1e-12)
    for positive in range(num_labels):
        expected = f1_score(labels == positive, predictions == positive)
        got = positive_f1(labels=labels, predictions=predictions, positive=positive)
        assert got == pytest.approx(expected, abs=1e-12)


def test_confusion_matrix_counts_and_refuses_out_of_range_labels():
    counts = confusion_matrix(labels=ints(0, 1, 1, 2), predictions=ints(0, 1, 2, 2), num_labels=3)
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
    with pytest.raises(ValueError, match="predictions: label 3 out of range 0..2"):
        confusion_matrix(labels=ints(0, 1), predictions=ints(0, 3), num_labels=3)
    with pytest.raises(ValueError, match="labels: label -1 out of range"):
        confusion_matrix(labels=ints(-1, 1), predictions=ints(0, 1), num_labels=3)


def test_results_carry_the_task_metric_and_log_it_x100():
    labels, predictions = ints(1, 1, 1, 0, 0), ints(1, 1, 0, 1, 0)
    mrpc = scored("MRPC", labels, predictions)
    assert mrpc.metric == "f1" and mrpc.primary == pytest.approx(2 / 3) == mrpc.f1
    assert mrpc.as_metrics("dev") == pytest.approx(
        {
            "dev_accuracy": 60.0,
            "dev_macro_f1": 100 * (2 / 3 + 1 / 2) / 2,
            "dev_loss": 0.5,
            "dev_f1": 100 * 2 / 3,
            "dev_mcc": 100 / 6,
        }
    )
    cola = scored("CoLA", labels, predictions)
    assert cola.metric == "mcc" and cola.primary == pytest.approx(1 / 6) and cola.f1 is None
    assert "dev_f1" not in cola.as_metrics("dev")  # no positive class named: no F1
    sst2 = scored("SST-2", labels, predictions)
    assert sst2.primary == sst2.accuracy == 0.6
    old_style = EvalResult(accuracy=0.5, macro_f1=0.5, loss=1.0, predictions=ints(0))
    assert set(old_style.as_metrics("test")) == {"test_accuracy", "test_macro_f1", "test_loss"}
    unscored = EvalResult(accuracy=0.5, macro_f1=0.5, loss=1.0, predictions=ints(0), metric="f1")
    with pytest.raises(ValueError, match="metric 'f1' was not computed"):
        _ = unscored.primary


def dev_history(task: str) -> list[dict[str, float]]:
    """Two dev evaluations on 2 positives and 6 negatives: step 2 says 'never positive'
    (accuracy 75%, F1 0), step 4 finds both positives at the cost of 3 false ones
    (accuracy 62.5%, F1 4/7)."""
    labels = ints(1, 1, 0, 0, 0, 0, 0, 0)
    steps = {2: ints(0, 0, 0, 0, 0, 0, 0, 0), 4: ints(1, 1, 1, 1, 1, 0, 0, 0)}
    return [
        {"step": step, **scored(task, labels, p).as_metrics("dev")} for step, p in steps.items()
    ]


def best_step(history: list[dict[str, float]], metric: str) -> int:
    return max(history, key=lambda h: dev_key(h, metric=metric))["step"]


def test_accuracy_and_f1_select_different_dev_steps():
    history = dev_history("MRPC")
    assert [h["dev_accuracy"] for h in history] == [75.0, 62.5]
    assert [h["dev_f1"] for h in history] == pytest.approx([0.0, 800 / 14])
    assert best_step(history, "accuracy") == 2  # what synprompt selected before
    assert best_step(history, get_task("MRPC").metric) == 4  # LM-BFF: F1 for MRPC
    assert best_step(dev_history("CoLA"), get_task("CoLA").metric) == 4  # MCC 0 vs > 0


def test_dev_ties_on_the_metric_go_to_the_lower_loss():
    same = {"dev_accuracy": 70.0, "dev_f1": 50.0}
    early, late = {**same, "dev_loss": 0.7}, {**same, "dev_loss": 0.4}
    assert dev_key(late, metric="f1") > dev_key(early, metric="f1")
    assert dev_key(late) > dev_key(early)  # accuracy by default, as before


def mrpc_outcome(config: PipelineConfig) -> PromptTuningOutcome:
    labels, predictions = ints(1, 1, 1, 0, 0), ints(1, 1, 0, 1, 0)
    test = scored(config.data.spec, labels, predictions)
    zero = scored(config.data.spec, labels, ints(0, 0, 0, 0, 0))
    history = dev_history("MRPC")
    train = TrainResult(prompt_state={}, best_step=4, best_dev=history[1], history=history)
    return PromptTuningOutcome(prompt=None, train=train, test=test, zero_shot=zero)


def test_summary_and_results_table_add_the_task_metric_beside_accuracy(tmp_path):
    config = PipelineConfig.model_validate(
        {
            "data": {"task": "MRPC", "data_root": str(tmp_path)},
            "prompt_tuning": {"strategy": "real_only"},
        }
    )
    summary = mrpc_outcome(config).summary()
    for key in ("test_accuracy", "test_macro_f1", "best_dev_accuracy", "zero_shot_test_accuracy"):
        assert key in summary  # the names dashboards read are kept
    assert summary["test_f1"] == summary["test_task_metric"] == pytest.approx(200 / 3)
    assert summary["test_mcc"] == pytest.approx(100 / 6)
    assert summary["best_dev_f1"] == pytest.approx(800 / 14)
    assert summary["zero_shot_test_f1"] == summary["zero_shot_test_task_metric"] == 0.0
    frame = results_frame(config, summary)
    assert list(frame.columns) == [
        "method", "task", "seed", "dev_accuracy", "test_accuracy", "test_macro_f1",
        "dev_f1", "test_f1",
    ]  # fmt: skip
    assert frame["method"].tolist() == ["zero_shot", "real_only"]
    assert frame["test_f1"].tolist() == pytest.approx([0.0, 200 / 3])
    assert pd.isna(frame["dev_f1"].iloc[0]) and frame["dev_f1"].iloc[1] == pytest.approx(800 / 14)


def test_an_accuracy_task_keeps_its_results_table(tmp_path):
    config = PipelineConfig.model_validate(
        {
            "data": {"task": "SST-2", "data_root": str(tmp_path)},
            "prompt_tuning": {"strategy": "real_only"},
        }
    )
    summary = {"test_accuracy": 80.0, "test_macro_f1": 79.0, "best_dev_accuracy": 75.0}
    columns = ["method", "task", "seed", "dev_accuracy", "test_accuracy", "test_macro_f1"]
    assert list(results_frame(config, summary).columns) == columns


def test_a_best_step_recorded_before_task_metrics_ranks_last():
    old = {"dev_accuracy": 90.0, "dev_loss": 0.1}  # a checkpoint's best, without dev_f1
    new = {"dev_accuracy": 60.0, "dev_f1": 10.0, "dev_loss": 2.0}
    assert dev_key(new, metric="f1") > dev_key(old, metric="f1")


def test_predict_scores_rows_under_the_pipelines_test_metric_names():
    """`predict --label` reports what a run logs as ``test_<name>``, under the same names:
    ``task_metric`` included (the name comparison tables use), F1 for MRPC's "1"."""
    from synprompt_core.training.predict import score_rows
    from synprompt_core.training.run import reported_scores

    task = get_task("MRPC")
    labels = ints(0, 1, 1, 0, 1, 1)
    positive = np.array([0.2, 0.9, 0.4, 0.6, 0.7, 0.8])
    scored = pd.DataFrame({"p_0": 1 - positive, "p_1": positive})
    scores = score_rows(task, labels, scored)
    result = score_predictions(
        labels=labels, predictions=(positive > 0.5).astype(np.int64), loss=0.0, task=task
    )
    logged = {k.removeprefix("test_"): v for k, v in reported_scores(result, "test").items()}
    assert {k: scores[k] for k in logged} == pytest.approx(logged)
    expected_f1 = 100 * f1_score(labels, positive > 0.5)
    assert scores["task_metric"] == pytest.approx(expected_f1) and scores["metric"] == "f1"
