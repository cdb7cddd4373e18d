"""Stage 4's files: the tuned prompt, its training history and curves, the results table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.reporting import plot_training_curves, write_table
from synprompt_core.soft_prompt import save_soft_prompt
from synprompt_core.training.predict import MODEL_FILE, PROMPT_FILE, model_card
from synprompt_core.training.run import PromptTuningOutcome

FILES = [
    PROMPT_FILE,
    MODEL_FILE,
    "history.csv",
    "training_curve.png",
    "results.csv",
    "results.md",
]


def method_name(config: PipelineConfig) -> str:
    """``paired+surgery+spt`` style name of the prompt-tuning recipe."""
    tuning = config.prompt_tuning
    name = tuning.strategy
    name += "+surgery" if tuning.surgery and tuning.strategy == "paired" else ""
    return name + ("+spt" if tuning.prompt.scale != "none" else "")


def results_frame(config: PipelineConfig, summary: dict[str, float]) -> pd.DataFrame:
    """One row per method scored on test (zero-shot first when it was measured).

    A task whose metric is not accuracy (F1 for MRPC and QQP, MCC for CoLA) gets two more
    columns, ``dev_<metric>`` and ``test_<metric>``, after the accuracy ones.
    """
    metric = config.data.spec.metric
    extra = metric != "accuracy"
    common = {"task": config.data.task, "seed": config.data.seed}
    tuned = {
        "method": method_name(config),
        **common,
        "dev_accuracy": summary.get("best_dev_accuracy"),
        "test_accuracy": summary["test_accuracy"],
        "test_macro_f1": summary["test_macro_f1"],
    }
    if extra:
        tuned[f"dev_{metric}"] = summary.get(f"best_dev_{metric}")
        tuned[f"test_{metric}"] = summary[f"test_{metric}"]
    rows = [tuned]
    if "zero_shot_test_accuracy" in summary:
        zero_shot = {
            "method": "zero_shot",
            **common,
            "dev_accuracy": None,
            "test_accuracy": summary["zero_shot_test_accuracy"],
            "test_macro_f1": summary["zero_shot_test_macro_f1"],
        }
        if extra:
            zero_shot[f"dev_{metric}"] = None
            zero_shot[f"test_{metric}"] = summary[f"zero_shot_test_{metric}"]
        rows.insert(0, zero_shot)
    return pd.DataFrame(rows)


def write_outputs(folder: Path, config: PipelineConfig, outcome: PromptTuningOutcome) -> dict:
    """Write ``FILES`` into ``folder``; return the summary metrics and the file names."""
    meta = {
        "task": config.data.task,
        "backbone": config.backbone.model,
        "kind": config.backbone.kind,
    }
    save_soft_prompt(outcome.prompt, folder / PROMPT_FILE, metadata=meta)
    card = model_card(config.data, config.backbone)  # what `synprompt predict` rebuilds
    (folder / MODEL_FILE).write_text(json.dumps(card, indent=2))
    pd.DataFrame(outcome.train.history).to_csv(folder / "history.csv", index=False)
    plot_training_curves(
        outcome.train.history,
        folder / "training_curve.png",
        title=f"{config.data.task} seed {config.data.seed}: {config.prompt_tuning.strategy}",
        metric=config.data.spec.metric,
    )
    summary = outcome.summary()
    write_table(results_frame(config, summary), folder / "results")
    return {"summary": summary, "files": list(FILES)}
