"""Task specs: labels, verbalizer words, templates, pair-ness, metric (LM-BFF conventions).

The integer label ``i`` of an example table always means ``TaskSpec.label_names[i]``.
Label order, verbalizers and templates follow LM-BFF's ``run_experiment.sh`` and
``src/processors.py`` (Gao et al., 2021), which FewGen reuses; so does each task's metric
(its ``compute_metrics_mapping``): F1 of the positive class for MRPC and QQP, Matthews
correlation for CoLA, accuracy elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Metric = Literal["accuracy", "f1", "mcc"]  # a task's metric: dev selection and reports use it
METRICS: tuple[str, ...] = get_args(Metric)


@dataclass(frozen=True)
class TaskSpec:
    """Everything the pipeline needs to know about a classification task.

    Attributes:
        name: canonical name, e.g. ``"SST-2"`` (also the LM-BFF folder name).
        label_names: raw label strings as they appear in data files; index = int label.
        label_meanings: human meaning of each label, e.g. ``("negative", "positive")``;
            used in generation prompts and data cards.
        verbalizers: one label word per label (scored by the classifier backbone).
        template: prompt template with ``{text_a}``, ``{text_b}`` and ``{mask}`` slots.
        label_sentence: template of the sentence-encoder label sentence, with ``{word}``.
        is_pair: True for sentence-pair tasks (text_b non-empty).
        numbers_are_names: an integer label is the label of that name, never an index
            (a task of your own whose labels are numbers, as its files write them).
        metric: one of ``METRICS``: what dev-set selection maximises and reports show
            beside accuracy. ``"f1"`` is the F1 of the ``positive`` class (binary tasks).
        positive: the meaning (one of ``label_meanings``) of the positive class of
            ``"f1"``, e.g. ``"equivalent"`` for MRPC; None for other metrics.
    """

    name: str
    label_names: tuple[str, ...]
    label_meanings: tuple[str, ...]
    verbalizers: tuple[str, ...]
    template: str
    label_sentence: str
    is_pair: bool
    numbers_are_names: bool = False
    metric: Metric = "accuracy"
    positive: str | None = None

    def __post_init__(self) -> None:
        sizes = {len(self.label_names), len(self.label_meanings), len(self.verbalizers)}
        if len(sizes) != 1 or not self.label_names:
            raise ValueError(
                f"{self.name}: label_names, label_meanings and verbalizers must have the same "
                f"non-zero length, got {len(self.label_names)}, {len(self.label_meanings)}, "
                f"{len(self.verbalizers)}"
            )
        if len(set(self.label_names)) != len(self.label_names):
            raise ValueError(f"{self.name}: duplicate label names {self.label_names}")
        self._check_metric()

    def _check_metric(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"{self.name}: metric {self.metric!r} is not one of {METRICS}")
        if (self.metric == "f1") != (self.positive is not None):
            raise ValueError(
                f"{self.name}: a positive class is named for metric 'f1' and only for it, "
                f"got metric {self.metric!r} with positive {self.positive!r}"
            )
        if self.metric == "f1" and self.num_labels != 2:
            raise ValueError(f"{self.name}: metric 'f1' needs 2 labels, got {self.num_labels}")
        if self.positive is not None and self.positive not in self.label_meanings:
            raise ValueError(
                f"{self.name}: positive class {self.positive!r} is not one of the label "
                f"meanings {self.label_meanings}"
            )

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def positive_label(self) -> int | None:
        """The integer label of the positive class of ``"f1"`` (None for other metrics)."""
        return None if self.positive is None else self.label_meanings.index(self.positive)

    def label_index(self, name: str) -> int:
        """The integer label of a raw label string, e.g. ``"entailment"`` -> 0 for RTE."""
        try:
            return self.label_names.index(name)
        except ValueError:
            known = ", ".join(repr(n) for n in self.label_names)
            raise ValueError(
                f"unknown label {name!r} for {self.name} (expected one of {known})"
            ) from None

    def label_sentences(self) -> tuple[str, ...]:
        """One sentence-encoder label sentence per label, in label order."""
        return tuple(self.label_sentence.format(word=w) for w in self.verbalizers)

    def render(self, text_a: str, text_b: str = "", *, mask: str) -> str:
        """Fill the template with one example and the classifier's mask token."""
        return self.template.format(text_a=text_a, text_b=text_b, mask=mask)


_SENTIMENT = dict(
    label_names=("0", "1"),
    label_meanings=("negative", "positive"),
    verbalizers=("terrible", "great"),
    template="{text_a} It was {mask} .",
    label_sentence="It was {word} .",
    is_pair=False,
)
_PARAPHRASE = dict(
    label_names=("0", "1"),
    verbalizers=("No", "Yes"),
    template="{text_a} {mask} , {text_b}",
    is_pair=True,
)
_ENTAILMENT_2 = dict(
    label_names=("entailment", "not_entailment"),
    label_meanings=("entailment", "not entailment"),
    verbalizers=("Yes", "No"),
    template="{text_a} ? {mask} , {text_b}",
    is_pair=True,
)
_NLI_3 = dict(
    label_names=("contradiction", "entailment", "neutral"),
    label_meanings=("contradiction", "entailment", "neutral"),
    verbalizers=("No", "Yes", "Maybe"),
    template="{text_a} ? {mask} , {text_b}",
    label_sentence="{word} , the second sentence follows from the first .",
    is_pair=True,
)

_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(name="SST-2", **_SENTIMENT),
    TaskSpec(name="mr", **_SENTIMENT),
    TaskSpec(name="cr", **_SENTIMENT),
    TaskSpec(name="mpqa", **_SENTIMENT),
    TaskSpec(
        name="sst-5",
        label_names=("0", "1", "2", "3", "4"),
        label_meanings=("very negative", "negative", "neutral", "positive", "very positive"),
        verbalizers=("terrible", "bad", "okay", "good", "great"),
        template="{text_a} It was {mask} .",
        label_sentence="It was {word} .",
        is_pair=False,
    ),
    TaskSpec(
        name="subj",
        label_names=("0", "1"),
        label_meanings=("subjective", "objective"),
        verbalizers=("subjective", "objective"),
        template="{text_a} This is {mask} .",
        label_sentence="This is {word} .",
        is_pair=False,
    ),
    # LM-BFF's trec csv numbers the coarse classes DESC, ENTY, ABBR, HUM, LOC, NUM
    # (run_experiment.sh: {0:'Description',1:'Entity',2:'Expression',...}); the Hugging
    # Face `trec` ClassLabel order differs and is remapped by name in data.hf.
    TaskSpec(
        name="trec",
        label_names=("0", "1", "2", "3", "4", "5"),
        label_meanings=("description", "entity", "abbreviation", "human", "location", "number"),
        verbalizers=("Description", "Entity", "Expression", "Human", "Location", "Number"),
        template="{mask} : {text_a}",
        label_sentence="This question is about {word} .",
        is_pair=False,
    ),
    TaskSpec(
        name="CoLA",
        label_names=("0", "1"),
        label_meanings=("unacceptable", "acceptable"),
        verbalizers=("incorrect", "correct"),
        template="{text_a} This is {mask} .",
        label_sentence="This is {word} .",
        is_pair=False,
        metric="mcc",
    ),
    TaskSpec(
        name="MRPC",
        label_meanings=("not equivalent", "equivalent"),
        label_sentence="{word} , the two sentences mean the same .",
        metric="f1",
        positive="equivalent",
        **_PARAPHRASE,
    ),
    TaskSpec(
        name="QQP",
        label_meanings=("not duplicate", "duplicate"),
        label_sentence="{word} , the two questions ask the same .",
        metric="f1",
        positive="duplicate",
        **_PARAPHRASE,
    ),
    TaskSpec(
        name="RTE",
        label_sentence="{word} , the second sentence follows from the first .",
        **_ENTAILMENT_2,
    ),
    TaskSpec(
        name="QNLI",
        label_sentence="{word} , the sentence answers the question .",
        **_ENTAILMENT_2,
    ),
    TaskSpec(name="MNLI", **_NLI_3),
    TaskSpec(name="SNLI", **_NLI_3),
    TaskSpec(
        name="SICK",
        label_names=("0", "1", "2"),
        label_meanings=("entailment", "neutral", "contradiction"),
        verbalizers=("Yes", "Maybe", "No"),
        template="{text_a} ? {mask} , {text_b}",
        label_sentence="{word} , the second sentence follows from the first .",
        is_pair=True,
    ),
    # Zhang et al.'s ag_news csv numbers the classes 1..4 (label,title,description).
    TaskSpec(
        name="ag_news",
        label_names=("1", "2", "3", "4"),
        label_meanings=("World", "Sports", "Business", "Sci/Tech"),
        verbalizers=("World", "Sports", "Business", "Tech"),
        template="{text_a} This is {mask} news .",
        label_sentence="This is {word} news .",
        is_pair=False,
    ),
)

_BY_KEY: dict[str, TaskSpec] = {}
for _task in _TASKS:
    _BY_KEY[_task.name.lower()] = _task

_ALIASES = {
    "sst2": "sst-2",
    "sst": "sst-2",
    "sst5": "sst-5",
    "cola": "cola",
    "agnews": "ag_news",
    "ag-news": "ag_news",
    "ag news": "ag_news",
    "mnli-m": "mnli",
    "multinli": "mnli",
    "sick-e": "sick",
}


def _key(name: str) -> str:
    key = name.strip().lower()
    return _ALIASES.get(key, key)


def list_tasks() -> list[str]:
    """Canonical names of all registered tasks, in registry order."""
    return [task.name for task in _TASKS]


def get_task(name: str) -> TaskSpec:
    """The spec of a task by name or alias, case-insensitive (``"sst2"`` -> SST-2).

    Raises:
        ValueError: the name is unknown; the message lists the known names.
    """
    task = _BY_KEY.get(_key(name))
    if task is None:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}")
    return task
