"""Write a generated set: a Hugging Face ``Dataset`` on disk, parquet, and a data card."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from synprompt_core.generator.generate import GenerationOutput
from synprompt_core.task_registry import TaskSpec


@dataclass(frozen=True)
class SavedSynthetic:
    """Where the set went.

    Attributes:
        dataset_dir: ``Dataset.save_to_disk`` folder.
        parquet: kept rows (the example-table contract + synthetic columns).
        rejected: rejected rows with their reason (audit trail).
        card: the markdown data card.
    """

    dataset_dir: Path
    parquet: Path
    rejected: Path
    card: Path


def to_hf_dataset(rows: pd.DataFrame):
    """The kept rows as a ``datasets.Dataset`` (no pandas index column).

    The fingerprint is a digest of the table's bytes. Without one, ``datasets`` hashes the
    table with dill, whose global lookup runs ``dis.dis`` with stdout captured; under a
    Prefect run with ``log_prints`` that bytecode listing lands in the run log instead.
    """
    from datasets import Dataset
    from datasets.table import InMemoryTable

    table = InMemoryTable.from_pandas(df=rows.reset_index(drop=True), preserve_index=False)
    return Dataset(table, fingerprint=arrow_digest(table.table))


def arrow_digest(table) -> str:
    """sha256 of a ``pyarrow.Table``'s schema and data, in Arrow's IPC stream format."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def data_card(
    output: GenerationOutput, *, task: TaskSpec, generator_ref: str, settings: dict[str, Any]
) -> str:
    """Markdown data card: task, generator, settings, per-label and filter counts."""
    per_label = output.rows["label"].value_counts().to_dict() if len(output.rows) else {}
    label_lines = [
        f"| {i} | {meaning} | {per_label.get(i, 0)} |"
        for i, meaning in enumerate(task.label_meanings)
    ]
    count_lines = [f"| {k} | {v} |" for k, v in output.counts.items()]
    return "\n".join(
        [
            f"# Synthetic {task.name} data",
            "",
            f"- task: {task.name} ({'sentence pair' if task.is_pair else 'single sentence'})",
            f"- generator: `{generator_ref}`",
            f"- rows kept: {len(output.rows)}; rejected: {len(output.rejected)}",
            f"- tokens/s: {output.diagnostics.get('tokens_per_second', float('nan')):.1f}",
            "",
            "## Rows per label",
            "",
            "| label | meaning | rows |",
            "|---|---|---|",
            *label_lines,
            "",
            "## Generation and filtering counts",
            "",
            "| count | value |",
            "|---|---|",
            *count_lines,
            "",
            "## Settings",
            "",
            "```json",
            json.dumps(settings, indent=2, sort_keys=True, default=str),
            "```",
            "",
            "Every row keeps its `seed`, `raw_output` and `generator_ref`; rejected rows and",
            "their reasons are in `rejected.parquet`. Failed generations are counted there,",
            "never written as empty text.",
            "",
        ]
    )


def save_synthetic(
    output: GenerationOutput,
    folder: str | Path,
    *,
    task: TaskSpec,
    generator_ref: str,
    settings: dict[str, Any],
) -> SavedSynthetic:
    """Save the kept rows (HF dataset + parquet), the rejected rows and a data card.

    Args:
        output: ``generate_synthetic`` output.
        folder: the output folder (created); the caller chooses it.
        task: the task spec.
        generator_ref: reference of the generator state.
        settings: settings to record (e.g. the generation config, dumped).

    Returns:
        ``SavedSynthetic`` with the paths written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    saved = SavedSynthetic(
        dataset_dir=folder / "dataset",
        parquet=folder / "synthetic.parquet",
        rejected=folder / "rejected.parquet",
        card=folder / "README.md",
    )
    to_hf_dataset(output.rows).save_to_disk(str(saved.dataset_dir))
    output.rows.to_parquet(saved.parquet, index=False)
    rejected = output.rejected.astype({"error": "string"}, errors="ignore")
    rejected.to_parquet(saved.rejected, index=False)
    card = data_card(output, task=task, generator_ref=generator_ref, settings=settings)
    saved.card.write_text(card, encoding="utf-8")
    return saved
