"""The task registry: names, aliases and label semantics users rely on."""

from __future__ import annotations

import dataclasses

import pytest

from synprompt_core.task_registry import METRICS, TaskSpec, get_task, list_tasks

REQUIRED = [
    "SST-2", "mr", "cr", "subj", "trec", "CoLA", "MRPC", "QQP",
    "RTE", "QNLI", "MNLI", "SNLI", "SICK", "ag_news",
]  # fmt: skip


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("SST-2", "SST-2"),
        ("sst2", "SST-2"),
        ("sst-2", "SST-2"),
        ("SST2", "SST-2"),
        (" qqp ", "QQP"),
        ("ag_news", "ag_news"),
        ("agnews", "ag_news"),
        ("AG_NEWS", "ag_news"),
        ("mnli", "MNLI"),
        ("MR", "mr"),
        ("cola", "CoLA"),
        ("Subj", "subj"),
        ("TREC", "trec"),
        ("sick", "SICK"),
    ],
)
def test_get_task_accepts_aliases_in_any_case(alias, name):
    assert get_task(alias).name == name


def test_unknown_task_lists_known_names():
    with pytest.raises(ValueError, match="unknown task 'sst3'") as err:
        get_task("sst3")
    for name in REQUIRED:
        assert name in str(err.value)


def test_list_tasks_has_every_required_task_once():
    names = list_tasks()
    assert set(REQUIRED) <= set(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("task", "label", "raw", "meaning", "word"),
    [
        ("SST-2", 1, "1", "positive", "great"),
        ("SST-2", 0, "0", "negative", "terrible"),
        ("mr", 1, "1", "positive", "great"),
        ("cr", 0, "0", "negative", "terrible"),
        ("subj", 0, "0", "subjective", "subjective"),
        ("subj", 1, "1", "objective", "objective"),
        ("CoLA", 0, "0", "unacceptable", "incorrect"),
        ("CoLA", 1, "1", "acceptable", "correct"),
        ("MRPC", 1, "1", "equivalent", "Yes"),
        ("MRPC", 0, "0", "not equivalent", "No"),
        ("QQP", 1, "1", "duplicate", "Yes"),
        ("QQP", 0, "0", "not duplicate", "No"),
        ("RTE", 0, "entailment", "entailment", "Yes"),
        ("RTE", 1, "not_entailment", "not entailment", "No"),
        ("QNLI", 0, "entailment", "entailment", "Yes"),
        ("MNLI", 0, "contradiction", "contradiction", "No"),
        ("MNLI", 1, "entailment", "entailment", "Yes"),
        ("MNLI", 2, "neutral", "neutral", "Maybe"),
        ("SNLI", 2, "neutral", "neutral", "Maybe"),
        ("SICK", 0, "0", "entailment", "Yes"),
        ("SICK", 1, "1", "neutral", "Maybe"),
        ("SICK", 2, "2", "contradiction", "No"),
        ("trec", 0, "0", "description", "Description"),
        ("trec", 2, "2", "abbreviation", "Expression"),
        ("trec", 5, "5", "number", "Number"),
        ("ag_news", 0, "1", "World", "World"),
        ("ag_news", 3, "4", "Sci/Tech", "Tech"),
    ],
)
def test_label_semantics(task, label, raw, meaning, word):
    spec = get_task(task)
    assert spec.label_names[label] == raw
    assert spec.label_meanings[label] == meaning
    assert spec.verbalizers[label] == word
    assert spec.label_index(raw) == label


def test_label_counts():
    counts = {name: get_task(name).num_labels for name in REQUIRED}
    assert counts["trec"] == 6 and counts["ag_news"] == 4
    assert counts["MNLI"] == counts["SNLI"] == counts["SICK"] == 3


def test_pair_tasks():
    pairs = {name for name in REQUIRED if get_task(name).is_pair}
    assert pairs == {"MRPC", "QQP", "RTE", "QNLI", "MNLI", "SNLI", "SICK"}


@pytest.mark.parametrize("name", list_tasks())
def test_every_spec_is_consistent(name):
    spec = get_task(name)
    assert len(spec.label_names) == len(spec.label_meanings) == len(spec.verbalizers)
    assert "{mask}" in spec.template and "{text_a}" in spec.template
    assert ("{text_b}" in spec.template) == spec.is_pair
    assert "{word}" in spec.label_sentence
    sentences = spec.label_sentences()
    assert len(set(sentences)) == spec.num_labels
    assert sentences[0] == spec.label_sentence.format(word=spec.verbalizers[0])


def test_templates_follow_lmbff():
    assert get_task("SST-2").template == "{text_a} It was {mask} ."
    assert get_task("MRPC").template == "{text_a} {mask} , {text_b}"
    assert get_task("RTE").template == "{text_a} ? {mask} , {text_b}"
    rendered = get_task("RTE").render("A man sleeps", "A man rests", mask="<mask>")
    assert rendered == "A man sleeps ? <mask> , A man rests"


def test_unknown_label_name_is_reported():
    with pytest.raises(ValueError, match="unknown label 'positiv' for SST-2"):
        get_task("SST-2").label_index("positiv")


def test_spec_fields_are_the_contract_and_frozen():
    names = [f.name for f in dataclasses.fields(TaskSpec)]
    assert names == [
        "name", "label_names", "label_meanings", "verbalizers",
        "template", "label_sentence", "is_pair", "numbers_are_names", "metric", "positive",
    ]  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_task("SST-2").name = "x"  # type: ignore[misc]


def test_spec_rejects_mismatched_label_lists():
    with pytest.raises(ValueError, match="same"):
        TaskSpec("x", ("0", "1"), ("a",), ("b", "c"), "{text_a} {mask}", "{word}", False)


@pytest.mark.parametrize("name", list_tasks())
def test_each_task_has_its_lmbff_metric(name):
    """LM-BFF's compute_metrics_mapping: F1 for MRPC and QQP, Matthews for CoLA, else acc."""
    expected = {"MRPC": "f1", "QQP": "f1", "CoLA": "mcc"}.get(name, "accuracy")
    spec = get_task(name)
    assert spec.metric == expected and spec.metric in METRICS
    assert (spec.positive_label is None) == (expected != "f1")


@pytest.mark.parametrize(
    ("task", "meaning"), [("MRPC", "equivalent"), ("QQP", "duplicate"), ("qqp", "duplicate")]
)
def test_f1_is_of_the_paraphrase_label_glue_1(task, meaning):
    """The positive class is picked by meaning: the paraphrase / duplicate label, GLUE's 1."""
    spec = get_task(task)
    assert spec.positive == meaning
    assert spec.positive_label == 1 == spec.label_index("1")
    assert spec.label_meanings[spec.positive_label] == meaning
    assert spec.verbalizers[spec.positive_label] == "Yes"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"metric": "auc"}, "metric 'auc' is not one of ('accuracy', 'f1', 'mcc')"),
        ({"metric": "f1"}, "a positive class is named for metric 'f1' and only for it"),
        ({"positive": "b"}, "a positive class is named for metric 'f1' and only for it"),
        ({"metric": "f1", "positive": "yes"}, "'yes' is not one of the label meanings ('a', 'b')"),
        (
            {"metric": "f1", "positive": "a", "label_names": ("0", "1", "2"),
             "label_meanings": ("a", "b", "c"), "verbalizers": ("x", "y", "z")},
            "metric 'f1' needs 2 labels, got 3",
        ),
    ],
)  # fmt: skip
def test_spec_rejects_a_bad_metric(fields, words):
    base = {
        "name": "x",
        "label_names": ("0", "1"),
        "label_meanings": ("a", "b"),
        "verbalizers": ("no", "yes"),
        "template": "{text_a} {mask}",
        "label_sentence": "{word}",
        "is_pair": False,
    }
    with pytest.raises(ValueError) as err:
        TaskSpec(**{**base, **fields})
    assert words in str(err.value)
