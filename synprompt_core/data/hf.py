"""Read a Hugging Face dataset (hub id, ``save_to_disk`` folder or data file) as a table.

``datasets`` is imported lazily so that importing the data layer stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from synprompt_core.data.columns import resolve_columns
from synprompt_core.data.errors import DataError
from synprompt_core.data.validation import encode_label, validate_examples
from synprompt_core.task_registry import TaskSpec

_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}
# ClassLabel names that differ from our label meanings (HF `trec` coarse labels).
_CLASS_ALIASES = {
    "abbr": "abbreviation",
    "enty": "entity",
    "desc": "description",
    "hum": "human",
    "loc": "location",
    "num": "number",
}


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _load(name_or_path: str | Path, config_name: str | None, split: str, where: str) -> Any:
    import datasets

    path = Path(name_or_path)
    if path.is_dir() and _is_saved_dataset(path):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(f"no split {split!r} (has: {', '.join(loaded)})", path=where)
            return loaded[split]
        return loaded
    if path.is_file() and path.suffix.lower() in _FILE_BUILDERS:
        builder = _FILE_BUILDERS[path.suffix.lower()]
        return datasets.load_dataset(builder, data_files={split: str(path)}, split=split)
    return datasets.load_dataset(str(name_or_path), config_name, split=split)


def class_label_order(names: list[str], task: TaskSpec, *, where: str) -> list[int] | None:
    """Task index of each ClassLabel name, or None when no name is recognised.

    GLUE MNLI numbers entailment/neutral/contradiction 0/1/2 while LM-BFF (and so
    ``TaskSpec``) uses contradiction/entailment/neutral: labels must go by name.
    """
    order = []
    for name in names:
        try:
            order.append(encode_label(_CLASS_ALIASES.get(name.lower(), name), task))
        except ValueError:
            order.append(None)
    if all(i is None for i in order) and len(names) == task.num_labels:
        return None
    if None in order or len(set(order)) != len(order):
        meanings = ", ".join(task.label_meanings)
        raise DataError(
            f"ClassLabel names {names} do not match {task.name}'s labels ({meanings})",
            path=where,
            field="label",
        )
    return order


def dataset_name(name_or_path: str | Path, *, config_name: str | None, split: str) -> str:
    """How errors name a split of a dataset, which has no file: ``glue/sst2[validation]``."""
    return f"{name_or_path}{'/' + config_name if config_name else ''}[{split}]"


def read_hf_dataset(
    name_or_path: str | Path,
    task: TaskSpec,
    *,
    split: str,
    config_name: str | None = None,
    text_a: str | None = None,
    text_b: str | None = None,
    label: str | None = None,
) -> pd.DataFrame:
    """Read one split of a Hugging Face dataset as a validated example table.

    Args:
        name_or_path: hub id (``"glue"``), a ``save_to_disk`` folder, or a local
            json/jsonl/csv/parquet file (read with the matching ``datasets`` builder).
        task: the task the labels belong to.
        split: split name, e.g. ``"train"`` or ``"validation"``.
        config_name: dataset config, e.g. ``"sst2"``.
        text_a, text_b, label: column overrides; by default GLUE's names are found
            (``sentence``, ``sentence1``/``sentence2``, ``question1``/``question2``,
            ``question``/``sentence``, ``premise``/``hypothesis``, ``text``).

    Returns:
        Validated table; ClassLabel ints are remapped by class name to the task's order.
    """
    where = dataset_name(name_or_path, config_name=config_name, split=split)
    dataset = _load(name_or_path, config_name, split, where)
    mapping = resolve_columns(
        dataset.column_names, task, path=where, text_a=text_a, text_b=text_b, label=label
    )
    frame = dataset.select_columns(sorted(set(mapping.values()))).to_pandas()
    table = pd.DataFrame({target: frame[source] for target, source in mapping.items()})
    feature = dataset.features[mapping["label"]]
    names = getattr(feature, "names", None)
    order = class_label_order(list(names), task, where=where) if names else None
    if order is not None:
        lookup = dict(enumerate(order))
        table["label"] = [lookup.get(v, v) for v in table["label"].tolist()]
    return validate_examples(table, task, path=where, registry_order=order is not None)
