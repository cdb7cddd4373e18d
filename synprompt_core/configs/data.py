"""Where the real few-shot set and the synthetic set come from."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from synprompt_core.configs.base import StageConfig
from synprompt_core.task_registry import Metric, TaskSpec, get_task


class SourceConfig(StageConfig):
    """One example table: an LM-BFF folder, a file, or a Hugging Face dataset."""

    format: Literal["lmbff", "fewgen", "csv", "tsv", "jsonl", "parquet", "hf"] = Field(
        description="lmbff: <root>/<TASK>/<k>-<seed>/<split>.tsv|csv; fewgen: gen-train.json; "
        "csv/tsv/jsonl/parquet: a table with text_a[, text_b], label; hf: a Hugging Face dataset"
    )
    path: str = Field(
        description="Folder root (lmbff/fewgen), file path, or HF dataset id / local dataset folder"
    )
    split: str = Field(
        default="train",
        description="Split to read (lmbff: train/dev/test; under data.dev/data.test an lmbff "
        "source reads that split unless one is named)",
    )
    hf_config: str | None = Field(default=None, description="HF dataset config name, e.g. 'sst2'")
    text_a: str | None = Field(default=None, description="Column to use as text_a (override)")
    text_b: str | None = Field(default=None, description="Column to use as text_b (override)")
    label: str | None = Field(default=None, description="Column to use as label (override)")
    limit: int | None = Field(default=None, ge=1, description="Keep at most this many rows")


class TaskConfig(StageConfig):
    """A classification task of your own, for data that no registry task describes."""

    model_config = ConfigDict(**StageConfig.model_config, coerce_numbers_to_str=True)

    labels: tuple[str, ...] = Field(
        min_length=2,
        description="Label names as the data files write them; integer labels index this list",
    )
    meanings: tuple[str, ...] | None = Field(
        default=None,
        description="What each label means, in words (generation prompts, reports); "
        "default: the label names",
    )
    verbalizers: tuple[str, ...] = Field(
        description="One label word per label, scored by the classifier backbone"
    )
    template: str = Field(
        description="Classifier prompt with {text_a}, {mask} and, for pair tasks, {text_b}; "
        "e.g. '{text_a} It was {mask} .'"
    )
    label_sentence: str = Field(
        default="{word}",
        description="Sentence-encoder backbone only: the sentence each label word is put in, "
        "with {word}; e.g. 'It was {word} .'",
    )
    pair: bool = Field(default=False, description="Examples are sentence pairs (text_a, text_b)")
    metric: Metric = Field(
        default="accuracy",
        description="What dev-set selection maximises and reports show beside accuracy: "
        "accuracy, f1 (F1 of positive_label; two labels only) or mcc (Matthews correlation)",
    )
    positive_label: str | None = Field(
        default=None,
        description="metric f1 only: the label (one of labels) whose F1 is the metric",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TaskConfig:
        sizes = {"labels": len(self.labels), "verbalizers": len(self.verbalizers)}
        if self.meanings is not None:
            sizes["meanings"] = len(self.meanings)
        if len(set(sizes.values())) != 1:
            counts = ", ".join(f"{n} {name}" for name, n in sizes.items())
            raise ValueError(f"one entry per label in each list, got {counts}")
        lists = {"labels": self.labels, "verbalizers": self.verbalizers}
        if self.meanings is not None:
            lists["meanings"] = self.meanings
        for name, values in lists.items():
            folded = {v.strip().lower() for v in values}  # data labels match in any case
            if "" in folded or len(folded) != len(values):
                raise ValueError(
                    f"{name} must be non-empty and distinct (ignoring case), got {list(values)}"
                )
        slots = {"text_a", "mask"} | ({"text_b"} if self.pair else set())
        _check_slots("template", self.template, allowed=slots, required=slots)
        if self.template.count("{mask}") != 1:
            raise ValueError(f"template {self.template!r} must hold {{mask}} exactly once")
        _check_slots("label_sentence", self.label_sentence, allowed={"word"}, required={"word"})
        self._check_metric()
        return self

    def _check_metric(self) -> None:
        if self.metric != "f1":
            if self.positive_label is not None:
                raise ValueError(f"positive_label is for metric f1, got metric {self.metric!r}")
            return
        if len(self.labels) != 2:
            raise ValueError(f"metric f1 needs two labels, got {len(self.labels)}")
        if self.positive_index() is None:
            raise ValueError(
                f"metric f1 needs positive_label, one of the labels {list(self.labels)} "
                f"(got {self.positive_label!r})"
            )

    def positive_index(self) -> int | None:
        """The position of ``positive_label`` in ``labels`` (matched in any case), or None."""
        if self.positive_label is None:
            return None
        folded = [label.strip().lower() for label in self.labels]
        wanted = self.positive_label.strip().lower()
        return folded.index(wanted) if wanted in folded else None

    def spec(self, name: str) -> TaskSpec:
        meanings = self.meanings or self.labels
        index = self.positive_index()
        return TaskSpec(
            name=name,
            label_names=self.labels,
            label_meanings=meanings,
            verbalizers=self.verbalizers,
            template=self.template,
            label_sentence=self.label_sentence,
            is_pair=self.pair,
            numbers_are_names=all(label.strip().isdigit() for label in self.labels),
            metric=self.metric,
            positive=None if index is None else meanings[index],
        )


def _check_slots(field: str, text: str, *, allowed: set[str], required: set[str]) -> None:
    """``text`` uses every slot of ``required`` and none outside ``allowed``."""
    if "{{" in text or "}}" in text:
        raise ValueError(f"{field} {text!r}: literal braces are not supported")
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as err:  # an unmatched brace
        raise ValueError(f"{field} {text!r}: {err}") from None
    found = {name for _, name, _, _ in parts if name is not None}
    styled = [name for _, name, spec, how in parts if name is not None and (spec or how)]
    if styled:  # the slots are filled as plain text: a conversion or format would be lost
        raise ValueError(f"{field} {text!r}: write {{{styled[0]}}} plain, without ! or :")
    if found - allowed:
        usable = ", ".join("{" + name + "}" for name in sorted(allowed))
        extra = ", ".join("{" + name + "}" for name in sorted(found - allowed))
        raise ValueError(f"{field} {text!r} may only use {usable}, found {extra}")
    if required - found:
        slots = ", ".join("{" + name + "}" for name in sorted(required))
        raise ValueError(f"{field} {text!r} must contain {slots}")


class DataConfig(StageConfig):
    """The task and its real splits; synthetic data is optional."""

    task: str = Field(
        description="Task name from the registry (e.g. SST-2, MRPC, RTE, QQP), or the name of "
        "your own task when task_spec is given"
    )
    task_spec: TaskConfig | None = Field(
        default=None,
        description="Your own task's labels, label words and template; then `task` is its name",
    )
    k: int = Field(default=16, ge=1, description="Shots per label (LM-BFF folder name k-<seed>)")
    seed: int = Field(default=13, ge=0, description="Data seed (LM-BFF folder name k-<seed>)")
    data_root: str | None = Field(
        default=None, description="LM-BFF root holding <TASK>/<k>-<seed>/{train,dev,test}"
    )
    train: SourceConfig | None = Field(default=None, description="Override the real train split")
    dev: SourceConfig | None = Field(default=None, description="Override the real dev split")
    test: SourceConfig | None = Field(default=None, description="Override the test split")
    sample_k_shot: bool = Field(
        default=False,
        description="Draw k examples per label (seeded) from `train`, and from `dev` likewise "
        "(LM-BFF protocol); for full datasets such as GLUE from the Hub",
    )
    synthetic: SourceConfig | None = Field(
        default=None, description="A synthetic set to import (FewGen json, csv, jsonl, parquet)"
    )
    synthetic_root: str | None = Field(
        default=None, description="FewGen root holding <TASK>/<k>-<seed>/gen-train.json"
    )

    @model_validator(mode="before")
    @classmethod
    def _lmbff_split_of_its_slot(cls, raw: Any) -> Any:
        """An LM-BFF source under ``dev:`` or ``test:`` reads that split unless it names
        another: the source's own default (train) would score a run on its training rows."""
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        for slot in ("dev", "test"):
            source = raw.get(slot)
            if isinstance(source, SourceConfig):
                if source.format == "lmbff" and "split" not in source.model_fields_set:
                    raw[slot] = source.model_copy(update={"split": slot})
            elif isinstance(source, dict) and source.get("format") == "lmbff":
                raw[slot] = {"split": slot, **source}
        return raw

    @model_validator(mode="after")
    def _known_task(self) -> DataConfig:
        if self.task_spec is None:
            try:
                get_task(self.task)
            except ValueError as err:
                raise ValueError(f"{err}; or describe your own task under data.task_spec") from None
            return self
        try:
            taken = get_task(self.task).name
        except ValueError:
            return self
        raise ValueError(
            f"task {self.task!r} is the registry's {taken}: give your own task "
            f"(data.task_spec) another name, or drop task_spec to use {taken} as registered"
        )

    @property
    def spec(self) -> TaskSpec:
        """The task: the registry's entry, or the one ``task_spec`` describes."""
        if self.task_spec is not None:
            return self.task_spec.spec(self.task)
        return get_task(self.task)

    @property
    def reads_seed(self) -> bool:
        """Whether ``seed`` picks rows: a ``k-<seed>`` folder (LM-BFF, FewGen) or the
        seeded k-shot draw; fixed files of your own ignore it."""
        if self.sample_k_shot:
            return True
        splits = [self.split_source(s) for s in ("train", "dev", "test")]
        sources = [s for s in (*splits, self.synthetic_source()) if s is not None]
        return any(s.format in ("lmbff", "fewgen") for s in sources)

    def task_identity(self, *, classifier: bool = True) -> str | dict:
        """What stage cache keys record of the task: its name, plus a custom task's spec;
        ``classifier=False`` leaves out what only the classifier reads (label words,
        template, label sentence), so changing those re-runs prompt tuning alone."""
        if self.task_spec is None:
            return self.task
        spec = self.task_spec.model_dump(mode="json")
        if not classifier:
            spec = {k: spec[k] for k in ("labels", "meanings", "pair")}
        return {"name": self.task, **spec}

    @model_validator(mode="after")
    def _has_real_data(self) -> DataConfig:
        if self.data_root is None and (self.train is None or self.test is None):
            raise ValueError("set data_root (LM-BFF layout) or both data.train and data.test")
        return self

    def split_source(self, split: Literal["train", "dev", "test"]) -> SourceConfig | None:
        """The source for a real split: an explicit override or the LM-BFF folder."""
        explicit = getattr(self, split)
        if explicit is not None:
            return explicit
        if self.data_root is None:
            return None
        return SourceConfig(format="lmbff", path=self.data_root, split=split)

    def synthetic_source(self) -> SourceConfig | None:
        """The synthetic set to import, if any."""
        if self.synthetic is not None:
            return self.synthetic
        if self.synthetic_root is None:
            return None
        return SourceConfig(format="fewgen", path=self.synthetic_root)

    def lmbff_folder(self, root: str) -> Path:
        """``<root>/<TASK>/<k>-<seed>`` for this task and seed."""
        return Path(root) / self.task / f"{self.k}-{self.seed}"
