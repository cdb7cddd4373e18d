"""Stage 4 end to end on tables already loaded: build prompt, train, test, baseline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from synprompt_core.configs.prompt_tuning import PromptTuningConfig
from synprompt_core.soft_prompt import SoftPrompt, build_soft_prompt
from synprompt_core.training.evaluation import EvalResult, evaluate
from synprompt_core.training.trainer import OnStep, TrainResult, train_prompt


@dataclass
class PromptTuningOutcome:
    """What stage 4 produced: the tuned prompt, its training record and test scores."""

    prompt: SoftPrompt
    train: TrainResult
    test: EvalResult
    zero_shot: EvalResult | None

    def summary(self) -> dict[str, float]:
        """Flat metrics (scores x100) for tables and trackers: accuracy and macro-F1, the
        positive-class F1 and MCC where computed, and ``test_task_metric``, the task's own
        metric (LM-BFF's: F1 for MRPC and QQP, MCC for CoLA, else accuracy)."""
        out = {
            **reported_scores(self.test, "test"),
            "best_step": float(self.train.best_step),
            "overall_conflict_rate": self.train.conflict_rate,
            "resumed_from": float(self.train.resumed_from),  # step a checkpoint resumed at
        }
        if self.train.best_dev:
            out["best_dev_accuracy"] = self.train.best_dev["dev_accuracy"]
            metric = f"dev_{self.test.metric}"  # the score dev selection maximised
            out[f"best_{metric}"] = self.train.best_dev[metric]
        if self.zero_shot is not None:
            out.update(reported_scores(self.zero_shot, "zero_shot_test"))
        return out


def reported_scores(result: EvalResult, prefix: str) -> dict[str, float]:
    """``<prefix>_accuracy``, ``_macro_f1``, ``_f1`` and ``_mcc`` (where computed) and
    ``_task_metric`` (the task's own metric, one name across tasks), all x100."""
    scores = {k: v for k, v in result.as_metrics(prefix).items() if k != f"{prefix}_loss"}
    scores[f"{prefix}_task_metric"] = 100 * result.primary
    return scores


def new_prompt(*, backbone, config: PromptTuningConfig) -> SoftPrompt:
    """A freshly initialised soft prompt for ``backbone`` (seeded by ``config.seed``)."""
    generator = torch.Generator().manual_seed(config.seed)
    return build_soft_prompt(
        config.prompt,
        embeddings=backbone.embedding_matrix(),
        tokenizer=backbone.tokenizer,
        label_words=list(backbone.task.verbalizers),
        generator=generator,
    )


def run_prompt_tuning(
    *,
    backbone,
    real: pd.DataFrame,
    syn: pd.DataFrame | None,
    dev: pd.DataFrame | None,
    test: pd.DataFrame,
    config: PromptTuningConfig,
    zero_shot: bool = True,
    checkpoint_dir: Path | None = None,
    fingerprint: str = "",
    on_step: OnStep | None = None,
    progress: bool = True,
) -> PromptTuningOutcome:
    """Train a soft prompt (Algorithm 2), select it on dev, score it on test.

    With ``zero_shot`` the test split is also scored with no prompt, the baseline row
    of every results table.
    """
    torch.manual_seed(config.seed)
    prompt = new_prompt(backbone=backbone, config=config)
    trained = train_prompt(
        backbone=backbone,
        prompt=prompt,
        real=real,
        syn=syn,
        dev=dev,
        config=config,
        checkpoint_dir=checkpoint_dir,
        fingerprint=fingerprint,
        on_step=on_step,
        progress=progress,
    )
    kw = {"backbone": backbone, "table": test, "batch_size": config.eval_batch_size}
    with torch.no_grad():
        tested = evaluate(prompt=prompt(), progress=progress, desc="test", **kw)
        baseline = (
            evaluate(prompt=None, progress=progress, desc="zero-shot", **kw) if zero_shot else None
        )
    return PromptTuningOutcome(prompt=prompt, train=trained, test=tested, zero_shot=baseline)
