"""The prompt-tuning loop: strategies, dev-set selection, early stopping, resume."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from synprompt_core.configs.prompt_tuning import PromptTuningConfig
from synprompt_core.soft_prompt import SoftPrompt, table_rms
from synprompt_core.stopping import check_stop
from synprompt_core.training.checkpoint import load_checkpoint, save_checkpoint
from synprompt_core.training.evaluation import evaluate
from synprompt_core.training.schedule import step_rows
from synprompt_core.training.steps import paired_step, single_step

OnStep = Callable[[int, dict[str, float]], None]
NEEDS_SYN = {"syn_only", "real+syn", "real->syn", "syn->real", "paired"}


@dataclass
class TrainResult:
    """The selected prompt state and how it was reached."""

    prompt_state: dict[str, torch.Tensor]
    best_step: int
    best_dev: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    steps_run: int = 0
    stopped_early: bool = False
    resumed_from: int = 0

    @property
    def conflict_rate(self) -> float:
        flags = [h["conflict"] for h in self.history if "conflict" in h]
        return sum(flags) / len(flags) if flags else 0.0


def synthetic_weights(syn: pd.DataFrame | None, *, use_weights: bool) -> torch.Tensor:
    """Per-row loss weights of the synthetic table, rescaled to mean 1 (uniform if unused)."""
    if syn is None or len(syn) == 0:
        return torch.ones(0)
    if not use_weights or "weight" not in syn.columns:
        return torch.ones(len(syn))
    w = torch.tensor(syn["weight"].to_numpy(dtype="float64"), dtype=torch.float32)
    if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("synthetic weights must be finite, non-negative and not all zero")
    return w * (len(w) / w.sum())


def embedding_rms(backbone) -> float:
    """Root-mean-square of the backbone's input embedding matrix (the prompt's natural scale)."""
    return table_rms(backbone.embedding_matrix())


def build_optimizer(params: dict, *, config: PromptTuningConfig, embedding_rms: float):
    """AdamW with scale-free learning rates: prompt rows step ~lr x embedding RMS.

    The SPT scale gets no weight decay: decay pulls toward 0, and the scale's neutral value
    is 1 (decay would shrink the prompt, not regularise it).
    """
    groups = [{"params": [params["weight"]], "lr": config.lr * embedding_rms}]
    if "scale" in params:
        groups.append({"params": [params["scale"]], "lr": config.lr / 10, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


def _compute_step(*, backbone, params, real, syn, syn_w, rows, config) -> dict[str, Any]:
    real_rows = real.iloc[rows.real]
    if config.strategy == "paired":
        syn_rows = syn.iloc[rows.syn]
        return paired_step(
            backbone=backbone,
            params=params,
            real=real_rows,
            syn=syn_rows,
            syn_weights=syn_w[rows.syn],
            label_smoothing=config.label_smoothing,
            syn_coef=config.syn_coef,
            surgery=config.surgery,
        )
    parts, weights = [real_rows], [torch.ones(len(rows.real))]
    if len(rows.syn):
        parts.append(syn.iloc[rows.syn])
        weights.append(syn_w[rows.syn])
    return single_step(
        backbone=backbone,
        params=params,
        rows=pd.concat(parts, ignore_index=True),
        weights=torch.cat(weights),
        label_smoothing=config.label_smoothing,
    )


def dev_key(metrics: dict[str, float], *, metric: str = "accuracy") -> tuple[float, float]:
    """Sort key of one dev evaluation: the larger key is the better step.

    Args:
        metrics: ``EvalResult.as_metrics("dev")`` of the evaluation.
        metric: the task's metric (``TaskSpec.metric``): LM-BFF selects on it.
    Returns:
        ``(dev_<metric>, -dev_loss)``: the metric first, the lower dev loss on ties. A best
        step resumed from a checkpoint that predates the metric has none and ranks last.
    """
    return (metrics.get(f"dev_{metric}", float("-inf")), -metrics["dev_loss"])


def train_prompt(
    *,
    backbone,
    prompt: SoftPrompt,
    real: pd.DataFrame,
    syn: pd.DataFrame | None,
    dev: pd.DataFrame | None,
    config: PromptTuningConfig,
    checkpoint_dir: Path | None = None,
    fingerprint: str = "",
    on_step: OnStep | None = None,
    progress: bool = True,
) -> TrainResult:
    """Tune ``prompt`` on the frozen ``backbone`` (DawGen Algorithm 2 and its ablations).

    Every ``eval_every`` steps the prompt is scored on ``dev``; the best state by the task's
    metric (:func:`dev_key`) is kept and training stops after ``patience`` evaluations
    without gain. A checkpoint is written every ``checkpoint_every`` steps and resumed from
    when ``fingerprint`` matches.
    ``prompt`` ends holding the selected (best-on-dev) state.
    """
    if config.strategy in NEEDS_SYN and (syn is None or len(syn) == 0):
        raise ValueError(f"strategy {config.strategy!r} needs a synthetic set, got none")
    on_step = on_step or (lambda step, metrics: None)
    params = dict(prompt.named_parameters())
    optimizer = build_optimizer(params, config=config, embedding_rms=embedding_rms(backbone))
    syn_w = synthetic_weights(syn, use_weights=config.use_weights)
    state = _initial_state(prompt)
    resumed = load_checkpoint(checkpoint_dir, fingerprint=fingerprint)
    if resumed is not None:
        state = _restore(resumed, prompt=prompt, optimizer=optimizer)
    start = state["step"]
    bar = tqdm(total=config.max_steps, initial=start, desc="prompt tuning", disable=not progress)
    for step in range(start, config.max_steps):
        check_stop()  # between steps: the last checkpoint stays whole
        if state["stopped_early"]:
            break
        rows = step_rows(
            strategy=config.strategy,
            step=step,
            n_real=len(real),
            n_syn=0 if syn is None else len(syn),
            batch_size=config.batch_size,
            seed=config.seed,
        )
        out = _compute_step(
            backbone=backbone,
            params=params,
            real=real,
            syn=syn,
            syn_w=syn_w,
            rows=rows,
            config=config,
        )
        for name, p in params.items():
            p.grad = out.grads[name].to(p.dtype)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        metrics = dict(out.metrics)
        if "conflict" in metrics:  # running share of steps whose gradients conflicted
            flags = [h["conflict"] for h in state["history"]] + [metrics["conflict"]]
            metrics["conflict_rate"] = sum(flags) / len(flags)
        done = step + 1
        if dev is not None and (done % config.eval_every == 0 or done == config.max_steps):
            metrics.update(_evaluate_dev(backbone, prompt, dev, config, state, done))
        state["history"].append({"step": float(done), **metrics})
        state["step"] = done
        on_step(done, metrics)
        bar.update(1)
        bar.set_postfix(loss=f"{metrics['train_loss']:.3f}")
        if done % config.checkpoint_every == 0 and checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, _snapshot(state, prompt, optimizer, fingerprint))
    bar.close()
    return _finish(state, prompt)


def _evaluate_dev(backbone, prompt, dev, config, state, step) -> dict[str, float]:
    with torch.no_grad():
        result = evaluate(
            backbone=backbone, prompt=prompt(), table=dev, batch_size=config.eval_batch_size
        )
    metrics = result.as_metrics("dev")
    # a resumed best comes from this code too: the stage's fingerprint holds the code version
    best, metric = state["best_dev"], result.metric
    if best is None or dev_key(metrics, metric=metric) > dev_key(best, metric=metric):
        state.update(best_dev=metrics, best_step=step, stale=0)
        state["best_state"] = {k: v.detach().clone() for k, v in prompt.state_dict().items()}
    else:
        state["stale"] += 1
        if config.patience and state["stale"] >= config.patience:
            state["stopped_early"] = True
    return metrics


def _initial_state(prompt: SoftPrompt) -> dict[str, Any]:
    return {
        "step": 0,
        "history": [],
        "best_dev": None,
        "best_step": 0,
        "stale": 0,
        "stopped_early": False,
        "resumed_from": 0,
        "best_state": {k: v.detach().clone() for k, v in prompt.state_dict().items()},
    }


def _snapshot(state, prompt, optimizer, fingerprint) -> dict[str, Any]:
    return {
        **state,
        "fingerprint": fingerprint,
        "prompt": prompt.state_dict(),
        "optimizer": optimizer.state_dict(),
    }


def _restore(saved: dict[str, Any], *, prompt: SoftPrompt, optimizer) -> dict[str, Any]:
    prompt.load_state_dict(saved["prompt"])
    optimizer.load_state_dict(saved["optimizer"])
    keys = ("step", "history", "best_dev", "best_step", "stale", "stopped_early", "best_state")
    state = {k: saved[k] for k in keys}
    state["resumed_from"] = saved["step"]
    return state


def _finish(state: dict[str, Any], prompt: SoftPrompt) -> TrainResult:
    if state["best_dev"] is not None:  # without a dev set the last state is the result
        prompt.load_state_dict(state["best_state"])
    return TrainResult(
        prompt_state={k: v.detach().clone() for k, v in prompt.state_dict().items()},
        best_step=state["best_step"] if state["best_dev"] is not None else state["step"],
        best_dev=state["best_dev"] or {},
        history=state["history"],
        steps_run=state["step"] - state["resumed_from"],
        stopped_early=state["stopped_early"],
        resumed_from=state["resumed_from"],
    )
