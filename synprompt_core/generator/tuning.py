"""Stage 1 loop: tune the generator's prompts on the few-shot set (any mode).

``tune_generator`` validates its inputs, then runs ``steps`` steps of the mode's
update (plain LM step, FewGen/DawGen bi-level step, or SoftSRV reconstruction) on
label-stratified batches, reporting every step to ``on_step(step, metrics)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from synprompt_core.configs.generator import GeneratorConfig
from synprompt_core.generator.bilevel import StepStats, dawgen_step, prompt_step
from synprompt_core.generator.embedders import Embedder, load_embedder
from synprompt_core.generator.errors import GeneratorError
from synprompt_core.generator.loading import context_length, ensure_bilevel_attention
from synprompt_core.generator.prompts import build_label_prompts
from synprompt_core.generator.sequences import TokenBatch, encode_examples
from synprompt_core.generator.softsrv import build_softsrv, reconstruction_step
from synprompt_core.generator.state import GeneratorResult
from synprompt_core.generator.validation import validate_generator_inputs
from synprompt_core.generator.weight_net import WeightNet
from synprompt_core.soft_prompt import table_rms
from synprompt_core.stopping import check_stop
from synprompt_core.task_registry import TaskSpec

OnStep = Callable[[int, dict[str, float]], None]


def _noop(step: int, metrics: dict[str, float]) -> None:
    return None


def sample_stratified(labels: Tensor, *, batch_size: int, generator: torch.Generator) -> Tensor:
    """Row indices of a batch with every label present (about ``batch_size / L`` each)."""
    classes = torch.unique(labels)
    per = max(1, -(-batch_size // len(classes)))
    picks = []
    for label in classes.tolist():
        rows = torch.nonzero(labels == label).flatten()
        order = rows[torch.randperm(len(rows), generator=generator)]
        picks.append(order.repeat(-(-per // len(order)))[:per])
    return torch.cat(picks)


def _trim(batch: TokenBatch) -> TokenBatch:
    width = int(batch.attention_mask.sum(1).max())
    return TokenBatch(
        batch.input_ids[:, :width],
        batch.attention_mask[:, :width],
        batch.loss_mask[:, :width],
        batch.labels,
    )


def summarise(history: list[dict[str, float]], *, last: int = 10) -> dict[str, float]:
    """Mean of each metric over the last ``last`` steps (NaN-free metrics only)."""
    tail = pd.DataFrame(history[-last:])
    return {k: float(v) for k, v in tail.mean(numeric_only=True).items() if np.isfinite(v)}


def _run(steps: int, step_fn: Callable[[int], StepStats], on_step: OnStep) -> list[dict]:
    history = []
    for step in range(steps):
        check_stop()
        stats = step_fn(step)
        if not np.isfinite(stats.loss):  # the prompts are now NaN/inf: nothing to generate from
            raise GeneratorError(
                f"generator tuning diverged at step {step} (loss {stats.loss}): lower "
                "generator.lr or generator.weight_lr"
            )
        metrics = {k: v for k, v in stats.as_dict().items() if np.isfinite(v)}  # NaN: no such term
        history.append(metrics)
        on_step(step, metrics)
    return history


def _spec(config: GeneratorConfig, task: TaskSpec, dim: int) -> dict:
    return {
        "num_labels": task.num_labels,
        "length": config.prompt.length,
        "dim": dim,
        "scale": config.prompt.scale,
        "pair_separator": config.pair_separator,
        "max_length": config.max_length,
        "model": config.model,
        "task": task.name,
        "is_pair": task.is_pair,
    }


def tune_generator(
    *,
    model,
    tokenizer,
    examples: pd.DataFrame,
    task: TaskSpec,
    config: GeneratorConfig,
    on_step: OnStep | None = None,
    embedder: Embedder | None = None,
) -> GeneratorResult:
    """Tune the generator's prompts on the real few-shot set (DawGen Alg. 1 / SoftSRV).

    Args:
        model: frozen causal LM (``load_generator``); it is not modified.
        tokenizer: its tokenizer.
        examples: few-shot table (text_a, text_b, label), at least one row per label.
        task: the task spec (label meanings seed each label's prompt).
        config: the stage config; ``config.mode`` picks the algorithm.
        on_step: ``on_step(step, metrics)`` after each step (e.g. a tracker's logger).
        embedder: softsrv only: texts -> ``[n, de]`` contexts; default the one named by
            ``config.embedder`` (``embedders.load_embedder``).

    Returns:
        ``GeneratorResult`` with the prompt state, history and diagnostics.

    Raises:
        GeneratorError: a label has no examples or the prompt does not fit the context.
    """
    validate_generator_inputs(config, task, examples, context_length(model))
    model.requires_grad_(False)
    on_step = on_step or _noop
    device = model.get_input_embeddings().weight.device
    batches = encode_examples(
        tokenizer,
        examples,
        is_pair=task.is_pair,
        max_length=config.max_length,
        separator=config.pair_separator,
    ).to(device)
    generator = torch.Generator().manual_seed(config.seed)

    def batch_at() -> tuple[Tensor, TokenBatch]:
        index = sample_stratified(
            batches.labels.cpu(), batch_size=config.batch_size, generator=generator
        ).to(device)
        return index, _trim(batches.select(index))

    start = time.perf_counter()
    if config.mode == "softsrv":
        result = _tune_softsrv(
            model, tokenizer, examples, task, config, batch_at, on_step, embedder
        )
    else:
        result = _tune_label_prompts(model, tokenizer, task, config, batch_at, on_step)
    result.diagnostics["seconds"] = time.perf_counter() - start
    return result


def label_words(task: TaskSpec, config: GeneratorConfig) -> tuple[str, ...]:
    """The word that seeds each label's prompt (``config.init_words``)."""
    return task.verbalizers if config.init_words == "verbalizers" else task.label_meanings


def _cpu_state(module: torch.nn.Module | None) -> dict[str, Tensor] | None:
    return None if module is None else {k: v.detach().cpu() for k, v in module.state_dict().items()}


def prompt_lr(config: GeneratorConfig, embeddings: Tensor) -> float:
    """The prompts' Adam step size: ``lr`` times the embedding RMS unless ``absolute``."""
    return config.lr if config.lr_scale == "absolute" else config.lr * table_rms(embeddings)


def _label_modules(model, tokenizer, task, config):
    """Label prompts Q, and for fewgen/dawgen the weight net W, with their optimisers."""
    embeddings = model.get_input_embeddings().weight
    prompts = build_label_prompts(
        config.prompt,
        embeddings=embeddings.detach().cpu(),
        tokenizer=tokenizer,
        label_words=list(label_words(task, config)),
        seed=config.seed,
    ).to(embeddings.device)
    q_opt = torch.optim.Adam(prompts.parameters(), lr=prompt_lr(config, embeddings))
    if config.mode not in ("fewgen", "dawgen"):
        return prompts, q_opt, None, None
    ensure_bilevel_attention(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        reads = 1 if config.resolved_weight_input == "disc_loss" else model.config.hidden_size
        net = WeightNet(dim=reads, hidden=config.weight_hidden)
    net = net.to(embeddings.device)
    return prompts, q_opt, net, torch.optim.Adam(net.parameters(), lr=config.weight_lr)


def _tune_label_prompts(model, tokenizer, task, config, batch_at, on_step) -> GeneratorResult:
    """Plain prompt tuning, or FewGen/DawGen bi-level steps, on label-stratified batches."""
    prompts, q_opt, net, w_opt = _label_modules(model, tokenizer, task, config)
    common = dict(model=model, prompts=prompts, prompt_optimizer=q_opt, config=config)

    def step_fn(step: int) -> StepStats:
        batch = batch_at()[1]
        if net is None:
            return prompt_step(weight_net=None, batch=batch, **common)
        return dawgen_step(weight_net=net, weight_optimizer=w_opt, batch=batch, **common)

    history = _run(config.steps, step_fn, on_step)
    return GeneratorResult(
        mode=config.mode,
        spec=_spec(config, task, prompts.prompts[0].dim),
        prompt_state=_cpu_state(prompts),
        weight_net_state=_cpu_state(net),
        history=history,
        diagnostics=summarise(history),
    )


def example_texts(examples: pd.DataFrame, *, is_pair: bool, separator: str) -> list[str]:
    """The whole text of each example (pair rows joined by ``separator``)."""
    if not is_pair:
        return [str(a) for a in examples["text_a"]]
    return [
        f"{a}{separator}{b}" for a, b in zip(examples["text_a"], examples["text_b"], strict=True)
    ]


def _tune_softsrv(
    model, tokenizer, examples, task, config, batch_at, on_step, embedder
) -> GeneratorResult:
    """SoftSRV: train P(E(x)) with the reconstruction loss on label-stratified batches."""
    embed = embedder or load_embedder(config.embedder, model=model, tokenizer=tokenizer)
    contexts = embed(
        example_texts(examples, is_pair=task.is_pair, separator=config.pair_separator)
    ).float()
    table = model.get_input_embeddings().weight
    module = build_softsrv(
        variant=config.softsrv_variant,
        num_labels=task.num_labels,
        length=config.prompt.length,
        embeddings=table.detach().cpu(),
        contexts=contexts,
        components=config.softsrv_components,
        hidden=config.softsrv_hidden,
        seed=config.seed,
    ).to(table.device)
    opt = torch.optim.Adam(module.parameters(), lr=prompt_lr(config, table))
    ctx = contexts.to(table.device)

    def step_fn(step: int) -> StepStats:
        index, batch = batch_at()
        return reconstruction_step(
            model=model, module=module, optimizer=opt, contexts=ctx[index], batch=batch
        )

    history = _run(config.steps, step_fn, on_step)
    spec = _spec(config, task, table.shape[1])
    spec.update(
        variant=config.softsrv_variant,
        context_dim=int(contexts.shape[1]),
        components=config.softsrv_components,
        hidden=config.softsrv_hidden,
    )
    return GeneratorResult(
        mode="softsrv",
        spec=spec,
        prompt_state=_cpu_state(module),
        contexts=contexts.cpu(),
        context_labels=torch.tensor(examples["label"].astype(int).tolist(), dtype=torch.long),
        history=history,
        diagnostics=summarise(history),
    )
