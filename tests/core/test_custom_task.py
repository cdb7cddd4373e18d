"""A task of the user's own (data.task_spec): validated early, read like a registry task."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from synprompt_core.backbones.base import fill_template
from synprompt_core.configs.data import DataConfig
from synprompt_core.data import read_real_splits

TOPICS = {
    "labels": ["sports", "politics", "science"],
    "verbalizers": ["game", "vote", "atom"],
    "template": "{text_a} This is about {mask} .",
}


def data_config(tmp_path, spec=TOPICS, task="news-topics", **extra) -> DataConfig:
    files = {}
    for split in ("train", "test"):
        path = tmp_path / f"{split}.csv"
        pd.DataFrame(
            {
                "sentence": ["the match went to extra time", "parliament passed the bill",
                             "the atom was split", "a goal in the last minute"],
                "label": ["sports", "politics", "science", "sports"],
            }
        ).to_csv(path, index=False)  # fmt: skip
        files[split] = {"format": "csv", "path": str(path), "text_a": "sentence"}
    return DataConfig.model_validate({"task": task, "task_spec": spec, **files, **extra})


def test_labels_words_and_template_become_the_task(tmp_path):
    data = data_config(tmp_path)
    spec = data.spec
    assert spec.name == "news-topics" and spec.label_names == ("sports", "politics", "science")
    assert spec.label_meanings == spec.label_names  # meanings default to the names
    assert spec.verbalizers == ("game", "vote", "atom") and not spec.is_pair
    filled = fill_template(spec.template, text_a="a goal", text_b="", mask="<m>")
    assert filled == "a goal This is about <m> ."  # as every backbone fills it
    tables = read_real_splits(data)
    assert tables["train"]["label"].tolist() == [0, 1, 2, 0]  # names -> their positions


def test_integer_labels_index_the_label_list(tmp_path):
    data = data_config(tmp_path)
    path = tmp_path / "ints.csv"
    pd.DataFrame({"sentence": ["a", "b"], "label": [2, 1]}).to_csv(path, index=False)
    source = {"format": "csv", "path": str(path), "text_a": "sentence"}
    with pytest.warns(UserWarning, match=r"news-topics's label order \(0 = sports, 1 = politics"):
        tables = read_real_splits(data.model_copy(update={"train": type(data.train)(**source)}))
    assert tables["train"]["label"].tolist() == [2, 1]


def test_an_unknown_label_in_the_data_names_file_row_and_labels(tmp_path):
    data = data_config(tmp_path)
    path = tmp_path / "train.csv"
    path.write_text("sentence,label\nfine,sports\nodd,weather\n")
    with pytest.raises(ValueError) as err:
        read_real_splits(data)
    message = str(err.value)
    assert "train.csv" in message and "row 2" in message and "'weather'" in message
    assert "'politics'" in message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"verbalizers": ["game", "vote"]}, "3 labels, 2 verbalizers"),
        ({"meanings": ["sport"]}, "3 labels, 3 verbalizers, 1 meanings"),
        ({"labels": ["a", "a", "b"]}, "labels must be non-empty and distinct"),
        ({"labels": ["a", "A", "b"]}, "distinct (ignoring case)"),
        ({"meanings": ["x", "y", "x"]}, "meanings must be non-empty and distinct"),
        ({"template": "{text_a} {mask} {mask} ."}, "{mask} exactly once"),
        ({"template": "{text_a} {text_b} {mask} ."}, "found {text_b}"),
        ({"template": "{text_a} is about it ."}, "must contain {mask}, {text_a}"),
        ({"template": "{text} is about {mask} ."}, "may only use {mask}, {text_a}, found {text}"),
        ({"template": "{text_a} {mask} {topic}"}, "found {topic}"),
        ({"template": "{text_a} {mask"}, "expected '}'"),
        ({"template": "{text_a!r} It was {mask} ."}, "write {text_a} plain"),
        ({"template": "{text_a:.200} It was {mask} ."}, "write {text_a} plain"),
        ({"template": "{{note}} {text_a} {mask}"}, "literal braces are not supported"),
        ({"pair": True}, "must contain {mask}, {text_a}, {text_b}"),
        ({"label_sentence": "It was good ."}, "must contain {word}"),
    ],
)
def test_an_inconsistent_spec_is_one_clear_config_error(tmp_path, change, words):
    with pytest.raises(ValidationError) as err:
        data_config(tmp_path, spec={**TOPICS, **change})
    assert words in str(err.value)


def test_numbers_written_as_label_names_are_names(tmp_path):
    spec = data_config(tmp_path, spec={**TOPICS, "labels": [3, 1, 2]}).spec
    assert spec.label_names == ("3", "1", "2")


def test_labels_that_are_numbers_are_names_in_every_format(tmp_path):
    """labels [1, 2, 3]: a JSON 1 is the label named 1, as a CSV 1 is (never index 1)."""
    data = data_config(tmp_path, spec={**TOPICS, "labels": [1, 2, 3]})
    (tmp_path / "t.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b", "label": 3}\n')
    (tmp_path / "t.csv").write_text("text,label\na,1\nb,3\n")
    for name in ("t.jsonl", "t.csv"):
        source = type(data.train)(format=name.split(".")[1], path=str(tmp_path / name))
        tables = read_real_splits(data.model_copy(update={"train": source, "test": source}))
        assert tables["train"]["label"].tolist() == [0, 2]
    (tmp_path / "t.jsonl").write_text('{"text": "a", "label": 0}\n')
    source = type(data.train)(format="jsonl", path=str(tmp_path / "t.jsonl"))
    with pytest.raises(ValueError, match="unknown label '0'"):
        read_real_splits(data.model_copy(update={"train": source, "test": source}))


def test_a_registry_name_cannot_be_redefined(tmp_path):
    with pytest.raises(ValidationError) as err:
        data_config(tmp_path, task="sst2")
    assert "registry's SST-2" in str(err.value) and "another name" in str(err.value)


def test_an_unknown_task_points_at_task_spec(tmp_path):
    with pytest.raises(ValidationError) as err:
        DataConfig.model_validate({"task": "news-topics", "data_root": str(tmp_path)})
    assert "known tasks: SST-2" in str(err.value) and "data.task_spec" in str(err.value)


def test_registry_tasks_keep_their_name_as_identity(tmp_path):
    """Stage cache keys of registry tasks are unchanged; a custom one carries its spec."""
    assert DataConfig(task="SST-2", data_root=str(tmp_path)).task_identity() == "SST-2"
    identity = data_config(tmp_path).task_identity()
    assert identity["name"] == "news-topics" and identity["verbalizers"] == ["game", "vote", "atom"]
    # stages before the classifier never read its label words or template
    assert set(data_config(tmp_path).task_identity(classifier=False)) == {
        "name",
        "labels",
        "meanings",
        "pair",
    }


REVIEWS = {
    "labels": ["bad", "good"],
    "verbalizers": ["terrible", "great"],
    "template": "{text_a} It was {mask} .",
}


def test_a_task_of_your_own_is_scored_by_accuracy_unless_it_names_a_metric(tmp_path):
    assert data_config(tmp_path).spec.metric == "accuracy"
    assert data_config(tmp_path, spec=REVIEWS).spec.positive_label is None
    spec = data_config(tmp_path, spec={**TOPICS, "metric": "mcc"}).spec
    assert spec.metric == "mcc" and spec.positive_label is None


@pytest.mark.parametrize(
    ("extra", "index", "meaning"),
    [
        ({"positive_label": "good"}, 1, "good"),
        ({"positive_label": "BAD "}, 0, "bad"),  # matched as data labels are: any case
        ({"positive_label": "good", "meanings": ["negative", "positive"]}, 1, "positive"),
        ({"positive_label": 1, "labels": [0, 1]}, 1, "1"),  # a number is a label's name
    ],
)
def test_f1_is_of_the_named_positive_label(tmp_path, extra, index, meaning):
    spec = data_config(tmp_path, spec={**REVIEWS, "metric": "f1", **extra}).spec
    assert spec.metric == "f1" and spec.positive_label == index and spec.positive == meaning


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({**REVIEWS, "metric": "auc"}, "Input should be 'accuracy', 'f1' or 'mcc'"),
        ({**REVIEWS, "metric": "f1"}, "metric f1 needs positive_label, one of the labels"),
        ({**REVIEWS, "metric": "f1", "positive_label": "great"}, "(got 'great')"),
        ({**TOPICS, "metric": "f1", "positive_label": "science"}, "needs two labels, got 3"),
        ({**REVIEWS, "positive_label": "good"}, "positive_label is for metric f1"),
    ],
)
def test_a_bad_metric_is_a_config_error(tmp_path, spec, words):
    with pytest.raises(ValidationError) as err:
        data_config(tmp_path, spec=spec)
    assert words in str(err.value)


def test_the_metric_keys_prompt_tuning_alone(tmp_path):
    """Dev selection reads the metric: it is in the classifier's identity, not generation's."""
    plain, scored = (
        data_config(tmp_path, spec={**REVIEWS, **extra})
        for extra in ({}, {"metric": "f1", "positive_label": "good"})
    )
    assert plain.task_identity() != scored.task_identity()
    assert plain.task_identity(classifier=False) == scored.task_identity(classifier=False)


def test_an_all_zero_weight_column_is_refused(tmp_path):
    path = tmp_path / "syn.jsonl"
    path.write_text('{"text": "a", "label": "sports", "weight": 0}\n' * 2)
    data = data_config(tmp_path, synthetic={"format": "jsonl", "path": str(path)})
    from synprompt_core.data import read_synthetic

    with pytest.raises(ValueError, match=r"syn.jsonl.*every weight is 0"):
        read_synthetic(data)
