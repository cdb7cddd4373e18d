"""Stage 2: label-conditioned generation of synthetic rows from a tuned generator.

For each label, its prefix (the soft prompt Q_l, or SoftSRV's P(E(x)) of real
examples of that label) conditions the frozen LM; rows are decoded in batches with
the shared prefix's KV cache reused. Pair tasks take the first sentence from the
real set or a pool and generate the second under the label. Every row keeps its seed,
raw output and the generator's reference; empty outputs are failures, never rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from synprompt_core.configs.generator import GenerationConfig
from synprompt_core.generator.filtering import FilterCounts, filter_rows
from synprompt_core.generator.loading import context_length
from synprompt_core.generator.sampling import (
    SamplingSettings,
    decode_batch,
    encode_prefix,
)
from synprompt_core.generator.state import GeneratorResult, label_prefixes
from synprompt_core.generator.validation import validate_generation_inputs
from synprompt_core.stopping import check_stop
from synprompt_core.task_registry import TaskSpec

ROW_COLUMNS = [
    "text_a",
    "text_b",
    "label",
    "weight",
    "source",
    "seed",
    "raw_output",
    "generator_ref",
]


@dataclass
class GenerationOutput:
    """Synthetic rows kept, rows rejected (with a reason) and the counts.

    Attributes:
        rows: kept rows (example-table contract plus weight/source/seed/raw_output/
            generator_ref).
        rejected: rejected rows with a ``reason`` column (failure, duplicate, degenerate).
        counts: requested, generated, failed, truncated, duplicates, near_duplicates,
            degenerate, kept.
        diagnostics: tokens, seconds, tokens_per_second.
    """

    rows: pd.DataFrame
    rejected: pd.DataFrame
    counts: dict[str, int]
    diagnostics: dict[str, float] = field(default_factory=dict)


def row_seed(base: int, label: int, index: int) -> int:
    """The seed of row ``index`` of ``label``: unique per (base, label, index)."""
    return base * 1_000_003 + label * 100_003 + index


def settings_for(config: GenerationConfig, label: int, *, greedy: bool = False):
    """``SamplingSettings`` of one label (its own repetition penalty)."""
    return SamplingSettings(
        temperature=config.temperature,
        top_k=config.top_k,
        top_p=config.top_p,
        repetition_penalty=config.penalty_for(label),
        max_new_tokens=config.max_new_tokens,
        greedy=greedy,
    )


def first_sentences(
    config: GenerationConfig, examples: pd.DataFrame | None, pool: list[str] | None
) -> list[str]:
    """Pair tasks: the first sentences to complete (real ``text_a`` or the pool)."""
    if config.pair_source == "pool":
        return [s for s in (pool or []) if str(s).strip()]
    if examples is None:
        return []
    return [str(s) for s in examples["text_a"] if str(s).strip()]


def _pair_contexts(
    tokenizer, firsts: list[str], separator: str, max_length: int | None
) -> list[list[int]]:
    """Token ids of each first sentence + separator, cut to ``max_length`` as in training."""
    ids = [tokenizer(f + separator, add_special_tokens=False)["input_ids"] for f in firsts]
    return [row[:max_length] for row in ids] if max_length else ids


def _decode(model, prefixes, shared, index, seeds, settings, eos, contexts):
    """Token ids per row, or empty rows and the error of a failed batch."""
    try:
        cache = shared or encode_prefix(
            model=model, prefix=prefixes[[i % len(prefixes) for i in index]]
        )
        tokens = decode_batch(
            model=model,
            prefix=cache,
            size=len(index),
            seeds=seeds,
            settings=settings,
            eos_id=eos,
            contexts=contexts,
        )
        return tokens, None
    except (RuntimeError, ValueError) as exc:  # a failed batch is counted, never dropped
        return [[] for _ in index], f"{type(exc).__name__}: {exc}"


def _label_rows(model, tokenizer, result, task, config, label, firsts, greedy) -> list[dict]:
    """Decode ``n_per_label`` rows of one label in batches, the prefix encoded once."""
    prefixes = label_prefixes(result, label).to(model.device)
    shared = encode_prefix(model=model, prefix=prefixes) if result.shares_prefix else None
    settings = settings_for(config, label, greedy=greedy)
    separator = result.spec.get("pair_separator", " ; ")
    rows = []
    for start in range(0, config.n_per_label, config.batch_size):
        check_stop()
        index = list(range(start, min(start + config.batch_size, config.n_per_label)))
        seeds = [row_seed(config.seed, label, i) for i in index]
        pair = [firsts[(i + label) % len(firsts)] for i in index] if task.is_pair else None
        contexts = (
            _pair_contexts(tokenizer, pair, separator, result.spec.get("max_length"))
            if pair
            else None
        )
        tokens, error = _decode(
            model, prefixes, shared, index, seeds, settings, tokenizer.eos_token_id, contexts
        )
        for j, ids in enumerate(tokens):
            text = decode_text(tokenizer, ids)
            rows.append(
                {
                    "text_a": pair[j] if pair else text,
                    "text_b": text if pair else "",
                    "label": label,
                    "seed": seeds[j],
                    "raw_output": tokenizer.decode(ids, skip_special_tokens=False),
                    "error": error,
                    "n_tokens": len(ids),
                    "truncated": len(ids) >= config.max_new_tokens,
                }
            )
    return rows


def generate_synthetic(
    *,
    model,
    tokenizer,
    result: GeneratorResult,
    task: TaskSpec,
    config: GenerationConfig,
    generator_ref: str,
    examples: pd.DataFrame | None = None,
    pool: list[str] | None = None,
    greedy: bool = False,
) -> GenerationOutput:
    """Sample ``n_per_label`` rows per label, then drop failures, duplicates, degenerates.

    Args:
        model: the frozen generator LM (same as in tuning).
        tokenizer: its tokenizer.
        result: the tuned generator (``tune_generator`` / ``load_generator_result``).
        task: the task spec.
        config: sampling and filtering settings.
        generator_ref: reference of the generator state (e.g. path + sha256), kept per row.
        examples: the real few-shot set (pair tasks with pair_source="real").
        pool: unlabelled first sentences (pair tasks with pair_source="pool").
        greedy: argmax decoding (tests, debugging); sampling knobs then do nothing.

    Returns:
        ``GenerationOutput``.

    Raises:
        GeneratorError: prompt + max_new_tokens exceed the context, a per-label penalty
            list of the wrong size, or a pair task without first sentences.
    """
    firsts = first_sentences(config, examples, pool) if task.is_pair else []
    validate_generation_inputs(
        config,
        task,
        prompt_length=result.spec["length"],
        context_length=context_length(model),
        first_sentences=len(firsts),
        pair_context_length=result.spec.get("max_length", 0) if task.is_pair else 0,
    )
    start, raw = time.perf_counter(), []
    for label in range(task.num_labels):
        raw += _label_rows(model, tokenizer, result, task, config, label, firsts, greedy)
    seconds = time.perf_counter() - start
    frame = pd.DataFrame(raw)
    frame["weight"], frame["source"] = 1.0, f"synthetic:{result.mode}"
    frame["generator_ref"] = generator_ref
    kept, rejected, counts = filter_rows(frame, config, is_pair=task.is_pair)
    tokens = int(frame["n_tokens"].sum())
    return GenerationOutput(
        rows=kept[ROW_COLUMNS].reset_index(drop=True),
        rejected=rejected.reset_index(drop=True),
        counts=_counts(counts, frame, config, task),
        diagnostics={
            "tokens": tokens,
            "seconds": seconds,
            "tokens_per_second": tokens / max(seconds, 1e-9),
        },
    )


def _counts(counts: FilterCounts, frame: pd.DataFrame, config, task) -> dict[str, int]:
    return {
        "requested": config.n_per_label * task.num_labels,
        "generated": len(frame),
        "truncated": int(frame["truncated"].sum()),
        **counts.as_dict(),
    }


def decode_text(tokenizer, ids: list[int]) -> str:
    """Clean text of generated ids (special tokens dropped, whitespace collapsed)."""
    return " ".join(tokenizer.decode(ids, skip_special_tokens=True).split())
