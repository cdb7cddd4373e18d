"""Prompt tuning (Algorithm 2) on a tiny sentence encoder: gradients, schedules, resume."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score
from torch.testing import assert_close

from synprompt_core.backbones import load_backbone
from synprompt_core.configs.backbone import BackboneConfig
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.configs.prompt_tuning import PromptTuningConfig
from synprompt_core.task_registry import get_task
from synprompt_core.training import evaluate, train_prompt
from synprompt_core.training.evaluation import macro_f1
from synprompt_core.training.outputs import write_outputs
from synprompt_core.training.run import new_prompt, run_prompt_tuning
from synprompt_core.training.schedule import step_rows
from synprompt_core.training.steps import paired_step, single_step
from synprompt_core.training.trainer import dev_key
from tests.tiny_models import build_tiny_sentence_encoder

POS = ["a great film .", "great acting , i loved it .", "good and moving .", "wonderful ."]
NEG = ["a terrible film .", "boring , i hated it .", "bad and awful .", "dull ."]


def table(pos, neg, *, weight=None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "text_a": pos + neg,
            "text_b": [""] * (len(pos) + len(neg)),
            "label": [1] * len(pos) + [0] * len(neg),
        }
    )
    if weight is not None:
        frame["weight"] = weight
    return frame


REAL = table(POS, NEG)
SYN = table([f"{s} indeed" for s in POS], [f"{s} indeed" for s in NEG])


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return build_tiny_sentence_encoder(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def backbone(tiny_encoder):
    return load_backbone(
        BackboneConfig(kind="sentence", model=str(tiny_encoder)), get_task("SST-2")
    )


@pytest.fixture(scope="module")
def f1_backbone(tiny_encoder):
    """The same encoder on SST-2 scored as LM-BFF scores MRPC: F1 of one class."""
    spec = dataclasses.replace(get_task("SST-2"), metric="f1", positive="positive")
    return load_backbone(BackboneConfig(kind="sentence", model=str(tiny_encoder)), spec)


def config(**kw) -> PromptTuningConfig:
    base = {
        "max_steps": 6,
        "batch_size": 4,
        "eval_every": 2,
        "checkpoint_every": 2,
        "prompt": {"length": 3},
        "lr": 0.05,
    }
    return PromptTuningConfig.model_validate({**base, **kw})


def params_of(backbone, cfg):
    return dict(new_prompt(backbone=backbone, config=cfg).named_parameters())


def test_paired_step_gets_both_gradients_from_one_pass(backbone):
    cfg = config(prompt={"length": 3, "scale": "token"})
    params = params_of(backbone, cfg)
    ones = torch.ones(4)
    real, syn = REAL.iloc[:4], SYN.iloc[4:]
    both = paired_step(
        backbone=backbone,
        params=params,
        real=real,
        syn=syn,
        syn_weights=ones,
        label_smoothing=0.0,
        syn_coef=1.0,
        surgery=False,
    )
    g_real = single_step(
        backbone=backbone, params=params, rows=real, weights=ones, label_smoothing=0.0
    ).grads
    g_syn = single_step(
        backbone=backbone, params=params, rows=syn, weights=ones, label_smoothing=0.0
    ).grads
    for name in params:
        assert_close(both.grads[name], g_real[name] + g_syn[name], rtol=1e-4, atol=1e-6)
    assert params["weight"].grad is None  # the step never writes into the live parameters


def test_surgery_makes_the_update_agree_with_the_real_gradient(backbone):
    cfg = config()
    params = params_of(backbone, cfg)
    real, syn = REAL.iloc[:4], SYN.iloc[4:]  # opposite labels: gradients tend to conflict
    g_real = (
        single_step(
            backbone=backbone, params=params, rows=real, weights=torch.ones(4), label_smoothing=0.0
        )
        .grads["weight"]
        .reshape(-1)
    )
    out = paired_step(
        backbone=backbone,
        params=params,
        real=real,
        syn=syn,
        syn_weights=torch.ones(4),
        label_smoothing=0.0,
        syn_coef=1.0,
        surgery=True,
    )
    assert torch.dot(out.grads["weight"].reshape(-1), g_real) >= -1e-7
    assert set(out.metrics) >= {"grad_cosine", "conflict", "loss_real", "loss_syn"}


def test_zero_weight_rows_do_not_move_the_prompt(backbone):
    cfg = config()
    params = params_of(backbone, cfg)
    syn = SYN.iloc[[0, 1, 4, 5]]
    masked = single_step(
        backbone=backbone,
        params=params,
        rows=syn,
        weights=torch.tensor([1.0, 1.0, 0.0, 0.0]),
        label_smoothing=0.0,
    )
    kept = single_step(
        backbone=backbone,
        params=params,
        rows=syn.iloc[:2],
        weights=torch.ones(2),
        label_smoothing=0.0,
    )
    assert_close(masked.grads["weight"] * 2, kept.grads["weight"], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    "strategy", ["real_only", "syn_only", "real+syn", "real->syn", "syn->real", "paired"]
)
def test_every_strategy_trains_and_selects_on_dev(backbone, strategy):
    result = run_prompt_tuning(
        backbone=backbone,
        real=REAL,
        syn=SYN,
        dev=REAL,
        test=REAL,
        config=config(strategy=strategy),
        progress=False,
    )
    assert len(result.train.history) == 6
    assert result.train.best_step in (2, 4, 6)
    best = max(h["dev_accuracy"] for h in result.train.history if "dev_accuracy" in h)
    assert result.train.best_dev["dev_accuracy"] == best
    assert 0.0 <= result.test.accuracy <= 1.0 and result.zero_shot is not None


@pytest.mark.parametrize(
    "strategy", ["real_only", "syn_only", "real+syn", "real->syn", "syn->real", "paired"]
)
def test_training_learns_the_task(backbone, strategy):
    """The prompt moves the right way: real-set loss down and accuracy up after 30 steps.

    30 steps at lr 0.3 with no early stop: the tiny encoder's loss falls by 0.02 to 0.5 and
    its accuracy rises by 1 to 3 of 8 rows for every strategy and any model seed tried
    (0-15), so the outcome is not a lucky draw; with 6 steps at lr 0.05 it was one.
    """
    cfg = config(strategy=strategy, max_steps=30, lr=0.3, patience=0)
    prompt = new_prompt(backbone=backbone, config=cfg)
    before = evaluate(backbone=backbone, prompt=prompt(), table=REAL)
    train_prompt(
        backbone=backbone, prompt=prompt, real=REAL, syn=SYN, dev=REAL, config=cfg, progress=False
    )
    after = evaluate(backbone=backbone, prompt=prompt(), table=REAL)
    assert after.loss < before.loss - 0.01
    assert after.accuracy > before.accuracy


def test_sequential_schedules_visit_one_source_at_a_time():
    kw = {"n_real": 8, "n_syn": 16, "batch_size": 4, "seed": 0}
    sources = [
        "real" if len(step_rows(strategy="real->syn", step=s, **kw).real) else "syn"
        for s in range(12)
    ]
    assert sources == ["real"] * 2 + ["syn"] * 4 + ["real"] * 2 + ["syn"] * 4
    first = [step_rows(strategy="syn->real", step=s, **kw) for s in range(6)]
    assert [len(r.syn) > 0 for r in first] == [True] * 4 + [False] * 2
    epoch = sorted(
        int(i) for s in range(2) for i in step_rows(strategy="real_only", step=s, **kw).real
    )
    assert epoch == list(range(8))  # one epoch sees every real row exactly once


def test_training_is_deterministic(backbone):
    cfg = config(strategy="paired")
    states = []
    for _ in range(2):
        prompt = new_prompt(backbone=backbone, config=cfg)
        train_prompt(
            backbone=backbone,
            prompt=prompt,
            real=REAL,
            syn=SYN,
            dev=REAL,
            config=cfg,
            progress=False,
        )
        states.append(prompt.weight.detach().clone())
    assert_close(states[0], states[1], rtol=0, atol=0)


def test_killed_run_resumes_from_its_checkpoint_to_the_same_result(backbone, tmp_path):
    cfg = config(strategy="paired", max_steps=8, patience=0)
    reference = new_prompt(backbone=backbone, config=cfg)
    expected = train_prompt(
        backbone=backbone,
        prompt=reference,
        real=REAL,
        syn=SYN,
        dev=REAL,
        config=cfg,
        progress=False,
    )

    def crash(step, metrics):
        if step == 5:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        train_prompt(
            backbone=backbone,
            prompt=new_prompt(backbone=backbone, config=cfg),
            real=REAL,
            syn=SYN,
            dev=REAL,
            config=cfg,
            checkpoint_dir=tmp_path,
            fingerprint="k",
            on_step=crash,
            progress=False,
        )
    resumed_prompt = new_prompt(backbone=backbone, config=cfg)
    resumed = train_prompt(
        backbone=backbone,
        prompt=resumed_prompt,
        real=REAL,
        syn=SYN,
        dev=REAL,
        config=cfg,
        checkpoint_dir=tmp_path,
        fingerprint="k",
        progress=False,
    )
    assert resumed.resumed_from == 4 and resumed.steps_run == 4
    assert_close(resumed_prompt.weight, reference.weight, rtol=0, atol=0)
    assert resumed.best_dev == expected.best_dev and resumed.history == expected.history


def test_checkpoint_of_another_config_is_ignored(backbone, tmp_path):
    cfg = config(strategy="real_only", max_steps=4)
    train_prompt(
        backbone=backbone,
        prompt=new_prompt(backbone=backbone, config=cfg),
        real=REAL,
        syn=None,
        dev=REAL,
        config=cfg,
        checkpoint_dir=tmp_path,
        fingerprint="a",
        progress=False,
    )
    other = train_prompt(
        backbone=backbone,
        prompt=new_prompt(backbone=backbone, config=cfg),
        real=REAL,
        syn=None,
        dev=REAL,
        config=cfg,
        checkpoint_dir=tmp_path,
        fingerprint="b",
        progress=False,
    )
    assert other.resumed_from == 0 and other.steps_run == 4


def test_strategy_without_synthetic_data_is_refused(backbone):
    cfg = config(strategy="paired")
    with pytest.raises(ValueError, match="needs a synthetic set"):
        train_prompt(
            backbone=backbone,
            prompt=new_prompt(backbone=backbone, config=cfg),
            real=REAL,
            syn=None,
            dev=REAL,
            config=cfg,
            progress=False,
        )


def test_evaluate_reports_accuracy_and_macro_f1(backbone):
    result = evaluate(backbone=backbone, prompt=None, table=REAL)
    assert len(result.predictions) == len(REAL)
    assert result.accuracy == pytest.approx((result.predictions == REAL["label"].to_numpy()).mean())
    expected = f1_score(REAL["label"], result.predictions, average="macro", labels=[0, 1])
    assert result.macro_f1 == pytest.approx(expected)
    # one class never predicted: F1 0 for it, 2 tp / (2 tp + 1 fn) for the other
    everything_negative = macro_f1(
        labels=np.array([0, 0, 0, 1]), predictions=np.zeros(4, dtype=int), num_labels=2
    )
    assert everything_negative == pytest.approx((6 / 7 + 0.0) / 2)
    # a class absent from truth and predictions has no F1 and is left out, as in sklearn
    three_of_six = macro_f1(
        labels=np.array([0, 0, 1, 2]), predictions=np.array([0, 1, 1, 2]), num_labels=6
    )
    sklearn = f1_score([0, 0, 1, 2], [0, 1, 1, 2], average="macro")
    assert three_of_six == pytest.approx(sklearn) and sklearn > 0.7


def test_evaluate_leaves_no_warning_behind(backbone):
    """pandas hands out read-only label arrays; torch used to warn about each one."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate(backbone=backbone, prompt=None, table=REAL)


def test_dev_selection_uses_the_task_metric_and_survives_a_resume(f1_backbone, tmp_path):
    # at lr 1 dev accuracy peaks at step 2 and F1 later (ties: the lower loss, step 8)
    cfg = config(strategy="real_only", max_steps=8, eval_every=1, patience=0, lr=1.0)

    def train(**kw):
        prompt = new_prompt(backbone=f1_backbone, config=cfg)
        common = {"real": REAL, "syn": None, "dev": REAL, "config": cfg, "progress": False}
        return train_prompt(backbone=f1_backbone, prompt=prompt, **common, **kw)

    expected = train()
    evals = [h for h in expected.history if "dev_f1" in h]
    best = max(evals, key=lambda h: dev_key(h, metric="f1"))  # first of equal keys, as >
    assert expected.best_step == best["step"] and expected.best_dev["dev_f1"] == best["dev_f1"]
    assert max(evals, key=dev_key)["step"] != best["step"]  # accuracy would pick another

    def crash(step, metrics):
        if step == 5:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        train(checkpoint_dir=tmp_path, fingerprint="k", on_step=crash)
    resumed = train(checkpoint_dir=tmp_path, fingerprint="k")  # best_dev from the checkpoint
    assert resumed.resumed_from == 4
    assert resumed.best_step == expected.best_step and resumed.best_dev == expected.best_dev


def test_outputs_of_an_f1_task_show_it_beside_accuracy(tiny_encoder, tmp_path):
    spec = {
        "labels": ["0", "1"],
        "meanings": ["negative", "positive"],
        "verbalizers": ["terrible", "great"],
        "template": "{text_a} It was {mask} .",
        "metric": "f1",
        "positive_label": "1",
    }
    source = {"format": "csv", "path": str(tmp_path / "unread.csv")}  # tables are given below
    pipeline = PipelineConfig.model_validate(
        {
            "data": {"task": "reviews", "task_spec": spec, "train": source, "test": source},
            "backbone": {"kind": "sentence", "model": str(tiny_encoder)},
            "prompt_tuning": config(strategy="real_only", max_steps=4).model_dump(),
        }
    )
    backbone = load_backbone(pipeline.backbone, pipeline.data.spec)
    outcome = run_prompt_tuning(
        backbone=backbone,
        real=REAL,
        syn=None,
        dev=REAL,
        test=REAL,
        config=pipeline.prompt_tuning,
        progress=False,
    )
    summary = write_outputs(tmp_path, pipeline, outcome)["summary"]
    assert summary["test_f1"] == summary["test_task_metric"] == 100 * outcome.test.f1
    assert summary["best_dev_f1"] == outcome.train.best_dev["dev_f1"]
    results = pd.read_csv(tmp_path / "results.csv")
    assert results.columns[-2:].tolist() == ["dev_f1", "test_f1"]
    assert results["test_f1"].tolist() == pytest.approx(
        [summary["zero_shot_test_f1"], summary["test_f1"]]
    )
    assert "dev_f1" in pd.read_csv(tmp_path / "history.csv").columns
    assert (tmp_path / "training_curve.png").stat().st_size > 0
