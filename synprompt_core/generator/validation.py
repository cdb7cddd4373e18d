"""Pre-flight checks: fail with one clear message before any training or sampling."""

from __future__ import annotations

import pandas as pd

from synprompt_core.configs.generator import GenerationConfig, GeneratorConfig
from synprompt_core.generator.errors import GeneratorError
from synprompt_core.task_registry import TaskSpec


def _check_labels(task: TaskSpec, examples: pd.DataFrame) -> None:
    missing = {"text_a", "text_b", "label"} - set(examples.columns)
    if missing:
        raise GeneratorError(f"few-shot table lacks columns {sorted(missing)}")
    labels = examples["label"].astype(int)
    bad = sorted(set(labels) - set(range(task.num_labels)))
    if bad:
        raise GeneratorError(f"labels {bad} are outside [0, {task.num_labels}) of {task.name}")
    counts = labels.value_counts()
    for label, meaning in enumerate(task.label_meanings):
        if counts.get(label, 0) == 0:
            raise GeneratorError(
                f"label {label} ({meaning!r}) of {task.name} has no few-shot examples; "
                "generator tuning needs at least one per label"
            )


def validate_generator_inputs(
    config: GeneratorConfig, task: TaskSpec, examples: pd.DataFrame, context_length: int
) -> None:
    """Raise ``GeneratorError`` unless stage 1 can run.

    Checks: the table has text_a/text_b/label; every label of the task has at least one
    few-shot example; prompt length + training tokens fit in the model's context.
    """
    _check_labels(task, examples)
    text = config.max_length * (2 if task.is_pair else 1)
    need = config.prompt.length + text
    if need > context_length:
        raise GeneratorError(
            f"generator prompt of {config.prompt.length} soft tokens + {text} text tokens "
            f"(max_length {config.max_length}{' x 2 for a pair' if task.is_pair else ''}) "
            f"needs {need} positions, but {config.model!r} has a context of {context_length}"
        )


def validate_generation_inputs(
    config: GenerationConfig,
    task: TaskSpec,
    *,
    prompt_length: int,
    context_length: int,
    first_sentences: int | None = None,
    pair_context_length: int = 0,
) -> None:
    """Raise ``GeneratorError`` unless stage 2 can run.

    Checks: prompt + first sentence (pair tasks, cut to ``pair_context_length`` tokens)
    + max_new_tokens fit in the context; one repetition penalty per label when a list is
    given; pair tasks have first sentences for every label.
    """
    need = prompt_length + pair_context_length + config.max_new_tokens
    if need > context_length:
        first = f" + first sentence {pair_context_length}" if pair_context_length else ""
        raise GeneratorError(
            f"prompt of {prompt_length} tokens{first} + max_new_tokens "
            f"{config.max_new_tokens} = {need} exceeds the generator context of {context_length}"
        )
    if isinstance(config.repetition_penalty, list):
        if len(config.repetition_penalty) != task.num_labels:
            raise GeneratorError(
                f"repetition_penalty lists {len(config.repetition_penalty)} values for "
                f"{task.num_labels} labels of {task.name}"
            )
    if task.is_pair and not first_sentences:
        raise GeneratorError(
            f"{task.name} is a pair task: generation needs first sentences "
            f"(pair_source={config.pair_source!r} gave none)"
        )
