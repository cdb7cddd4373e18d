"""Readers and the table contract: good files load, bad rows are named precisely."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd
import pytest

from synprompt_core.configs.data import SourceConfig
from synprompt_core.data import (
    DataError,
    fewgen_path,
    read_fewgen_json,
    read_hf_dataset,
    read_lmbff_split,
    read_source,
    read_table,
    table_digest,
    validate_examples,
)
from synprompt_core.task_registry import get_task

SST2, MRPC, RTE, MNLI = (get_task(n) for n in ("SST-2", "MRPC", "RTE", "MNLI"))


def lmbff_file(root: Path, task: str, name: str, text: str, *, encoding="utf-8") -> Path:
    path = root / task / "16-13" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


# --- the real shared LM-BFF and FewGen files ------------------------------------------


@pytest.mark.parametrize(
    ("task", "sizes"),
    [("SST-2", (32, 32, 872)), ("MRPC", (32, 32, 408)), ("RTE", (32, 32, 277))],
)
def test_shared_lmbff_splits_load(shared_data, task, sizes):
    spec = get_task(task)
    for split, size in zip(("train", "dev", "test"), sizes, strict=True):
        table = read_lmbff_split(shared_data / "lm-bff", spec, k=16, seed=13, split=split)
        assert len(table) == size
        assert table["label"].dtype == "int64"
        assert (table["text_b"] != "").all() == spec.is_pair
    train = read_lmbff_split(shared_data / "lm-bff", spec)
    assert train["label"].value_counts().to_dict() == {0: 16, 1: 16}


def test_shared_files_keep_label_meaning(shared_data):
    rte = read_lmbff_split(shared_data / "lm-bff", RTE)
    first = (shared_data / "lm-bff/RTE/16-13/train.tsv").read_text().splitlines()[1]
    assert first.endswith("\tentailment") and rte["label"][0] == 0
    mrpc = read_lmbff_split(shared_data / "lm-bff", MRPC, split="test")
    assert mrpc["label"][0] == 1 and mrpc["text_a"][0].startswith("He said the foodservice")
    assert not mrpc["text_a"].str.startswith("\ufeff").any()


@pytest.mark.parametrize("task", ["SST-2", "MRPC", "RTE"])
def test_shared_fewgen_sets_load(shared_data, task):
    spec = get_task(task)
    path = fewgen_path(shared_data / "fewgen", spec, k=16, seed=13)
    assert path == shared_data / "fewgen" / task / "16-13" / "gen-train.json"
    table = read_fewgen_json(path, spec)
    assert len(table) == 10_000
    assert table["label"].value_counts().to_dict() == {0: 5000, 1: 5000}
    assert (table["source"] == "fewgen").all() and (table["weight"] == 1.0).all()
    assert (table["text_b"] != "").all() == spec.is_pair


# --- LM-BFF layouts written by hand ----------------------------------------------------


def test_mrpc_bom_and_quotes(tmp_path):
    text = (
        "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        '1\t1\t2\tHe said " yes .\tHe agreed .\n'
        "0\t3\t4\tPrices rose .\tPrices fell .\n"
    )
    lmbff_file(tmp_path, "MRPC", "train.tsv", text)
    table = read_lmbff_split(tmp_path, MRPC)
    assert table["text_a"].tolist() == ['He said " yes .', "Prices rose ."]
    assert table["text_b"].tolist() == ["He agreed .", "Prices fell ."]
    assert [MRPC.label_meanings[i] for i in table["label"]] == ["equivalent", "not equivalent"]


def test_unquoted_tsv_keeps_stray_quote_chars(tmp_path):
    text = "sentence\tlabel\n\"bad '' is the word\t0\nit 's \"great\t1\n"
    lmbff_file(tmp_path, "SST-2", "train.tsv", text)
    table = read_lmbff_split(tmp_path, SST2)
    assert table["text_a"].tolist() == ["\"bad '' is the word", "it 's \"great"]
    assert table["label"].tolist() == [0, 1]
    assert table["text_b"].tolist() == ["", ""]


def test_cola_headerless_tsv(tmp_path):
    text = "gj04\t1\t\tOur friends won't buy this.\ngj04\t0\t*\tThey drank the pub.\n"
    lmbff_file(tmp_path, "CoLA", "train.tsv", text)
    table = read_lmbff_split(tmp_path, get_task("cola"))
    assert table["text_a"].tolist() == ["Our friends won't buy this.", "They drank the pub."]
    assert table["label"].tolist() == [1, 0]


def test_mnli_dev_is_dev_matched_and_keeps_lmbff_order(tmp_path):
    header = "index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2\t"
    rows = [
        f"{i}\t1\t1\tfic\t(\t(\t(\t(\tP{i}\tH{i}\tx\t{g}" for i, g in enumerate(MNLI.label_names)
    ]
    lmbff_file(
        tmp_path, "MNLI", "dev_matched.tsv", header + "label1\tgold_label\n" + "\n".join(rows)
    )
    table = read_lmbff_split(tmp_path, MNLI, split="dev")
    assert table["label"].tolist() == [0, 1, 2]
    assert [MNLI.verbalizers[i] for i in table["label"]] == ["No", "Yes", "Maybe"]
    assert table["text_a"].tolist() == ["P0", "P1", "P2"]


@pytest.mark.parametrize(
    ("task", "header", "row", "expected"),
    [
        ("QQP", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate", "7\t1\t2\tQ1?\tQ2?\t1", 1),
        ("QNLI", "index\tquestion\tsentence\tlabel", "0\tWho?\tHe did.\tnot_entailment", 1),
        ("RTE", "index\tsentence1\tsentence2\tlabel", "0\tA b.\tA.\tentailment", 0),
        (
            "SNLI",
            "index\tcaptionID\tpairID\tsentence1\tsentence2\tgold_label",
            "0\t1\t2\tA.\tB.\tneutral",
            2,
        ),
    ],
)
def test_glue_headers(tmp_path, task, header, row, expected):
    lmbff_file(tmp_path, get_task(task).name, "test.tsv", f"{header}\n{row}\n")
    table = read_lmbff_split(tmp_path, get_task(task), split="test")
    assert table["label"].tolist() == [expected]
    assert table["text_a"][0] and table["text_b"][0]


def test_qqp_one_means_duplicate(tmp_path):
    lmbff_file(
        tmp_path,
        "QQP",
        "train.tsv",
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
        "1\t1\t2\tHow old?\tWhat age?\t1\n2\t3\t4\tWhy?\tWhere?\t0\n",
    )
    qqp = get_task("qqp")
    table = read_lmbff_split(tmp_path, qqp)
    assert [qqp.label_meanings[i] for i in table["label"]] == ["duplicate", "not duplicate"]


@pytest.mark.parametrize(
    ("task", "text", "texts", "labels"),
    [
        (
            "mr",
            '0,"a movie , ""quoted"" , with comma"\n1,fine .\n',
            ['a movie , "quoted" , with comma', "fine ."],
            [0, 1],
        ),
        (
            "subj",
            "1,the plot moves .\n0,i love it .\n",
            ["the plot moves .", "i love it ."],
            [1, 0],
        ),
        ("trec", "0,How do you do ?\n5,How many ?\n", ["How do you do ?", "How many ?"], [0, 5]),
        ("sst-5", "4,superb\n2,fine\n", ["superb", "fine"], [4, 2]),
        (
            "ag_news",
            '3,"Stocks rise","Wall St. gains"\n1,Summit,"Leaders, meet"\n',
            ["Stocks rise. Wall St. gains", "Summit. Leaders, meet"],
            [2, 0],
        ),
    ],
)
def test_headerless_csv_tasks(tmp_path, task, text, texts, labels):
    spec = get_task(task)
    lmbff_file(tmp_path, spec.name, "train.csv", text)
    table = read_lmbff_split(tmp_path, spec)
    assert table["text_a"].tolist() == texts
    assert table["label"].tolist() == labels


def test_lmbff_unknown_label_names_file_row_field(tmp_path):
    lmbff_file(
        tmp_path, "SST-2", "train.tsv", "sentence\tlabel\n" + "ok .\t1\n" * 6 + "hm .\tpositiv\n"
    )
    with pytest.raises(DataError) as err:
        read_lmbff_split(tmp_path, SST2)
    assert err.value.row == 7 and err.value.field == "label"
    assert err.value.path == tmp_path / "SST-2" / "16-13" / "train.tsv"
    assert str(err.value).endswith(
        "train.tsv row 7, field 'label': "
        "unknown label 'positiv' for SST-2 (expected one of '0' (negative), '1' (positive))"
    )


@pytest.mark.parametrize(
    ("text", "row", "field", "message"),
    [
        ("sentence\tlabel\nok .\t1\n \t0\n", 2, "text_a", "empty text"),
        ("sentence\tscore\nok .\t1\n", None, "label", "missing column"),
        ("sentence\tlabel\nok .\t1\nbad\t0\textra\n", 2, None, "cannot parse"),
        ("sentence\tlabel\n", None, None, "no rows"),
        ("", None, None, "empty file"),
    ],
)
def test_lmbff_bad_files(tmp_path, text, row, field, message):
    lmbff_file(tmp_path, "SST-2", "train.tsv", text)
    with pytest.raises(DataError, match=message) as err:
        read_lmbff_split(tmp_path, SST2)
    assert (err.value.row, err.value.field) == (row, field)
    assert "train.tsv" in str(err.value)


def test_pair_task_with_empty_second_sentence(tmp_path):
    lmbff_file(
        tmp_path, "RTE", "train.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\t\tentailment\n"
    )
    with pytest.raises(DataError, match="row 1, field 'text_b': empty text"):
        read_lmbff_split(tmp_path, RTE)


def test_missing_split_lists_what_is_there(tmp_path):
    lmbff_file(tmp_path, "SST-2", "train.tsv", "sentence\tlabel\nok .\t1\n")
    with pytest.raises(FileNotFoundError, match="train.tsv"):
        read_lmbff_split(tmp_path, SST2, split="dev")


# --- read_table ------------------------------------------------------------------------


def test_read_table_formats_agree(tmp_path):
    frame = pd.DataFrame(
        {
            "sentence1": ["A.", "B."],
            "sentence2": ["C.", "D."],
            "label": ["not_entailment", "entailment"],
            "weight": [0.5, 2.0],
            "seed": [1, 2],
            "other": ["x", "y"],
        }
    )
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    digests = set()
    for suffix in ("jsonl", "parquet", "csv", "tsv"):
        table = read_table(tmp_path / f"t.{suffix}", RTE)
        assert list(table.columns) == ["text_a", "text_b", "label", "weight", "seed"]
        assert table["label"].tolist() == [1, 0] and table["weight"].tolist() == [0.5, 2.0]
        digests.add(table_digest(table))
    assert len(digests) == 1


def test_a_seed_column_with_missing_seeds_reads_as_nullable_integers(tmp_path):
    """Imported rows without a seed beside generated ones with one: the table stores (as
    parquet) and joins like a generated set, seeds as integers, the others missing."""
    (tmp_path / "s.csv").write_text("text,label,seed\na,1,7\nb,0,\n")
    (tmp_path / "s.jsonl").write_text(
        '{"text": "a", "label": 1, "seed": 7}\n{"text": "b", "label": 0, "seed": null}\n'
    )
    for name in ("s.csv", "s.jsonl"):
        table = read_table(tmp_path / name, SST2)
        assert str(table["seed"].dtype) == "Int64"
        assert table["seed"].tolist()[0] == 7 and table["seed"].isna().tolist() == [False, True]
        table.to_parquet(tmp_path / "out.parquet")
        back = pd.read_parquet(tmp_path / "out.parquet")
        assert table_digest(back) == table_digest(table)


def test_read_table_column_overrides_and_label_meanings(tmp_path):
    pd.DataFrame({"review": ["good", "bad"], "y": ["positive", "Negative"]}).to_csv(
        tmp_path / "r.csv", index=False
    )
    table = read_table(tmp_path / "r.csv", SST2, text_a="review", label="y")
    assert table["label"].tolist() == [1, 0]


def test_read_table_text_that_looks_like_a_number_stays_text(tmp_path):
    (tmp_path / "n.csv").write_text("text,label\n42,1\n3.5,0\n")
    assert read_table(tmp_path / "n.csv", SST2)["text_a"].tolist() == ["42", "3.5"]


@pytest.mark.parametrize(
    ("name", "content", "row", "field", "message"),
    [
        ("w.csv", "text_a,label,weight\na,1,0.5\nb,0,1\nc,1,abc\n", 3, "weight", "'abc'"),
        ("w.csv", "text_a,label,weight\na,1,-1\n", 1, "weight", ">= 0"),
        (
            "f.jsonl",
            '{"text": "a", "label": 1}\n{"text": "b", "label": 1.0}\n',
            2,
            "label",
            "float",
        ),
        ("f.csv", "text,label\na,1\nb,0.5\n", 2, "label", "unknown label '0.5'"),
        ("p.parquet", None, 1, "label", "float"),
        ("e.jsonl", '{"text": "a", "label": 1}\n{"text": "", "label": 0}\n', 2, "text_a", "empty"),
        (
            "n.jsonl",
            '{"text": "a", "label": 1}\n{"text": null, "label": 0}\n',
            2,
            "text_a",
            "missing",
        ),
        ("t.jsonl", '{"text": 7, "label": 1}\n', 1, "text_a", "expected a string"),
        ("r.jsonl", '{"text": "a", "label": 2}\n', 1, "label", "out of range"),
        ("b.jsonl", '{"text": "a", "label": true}\n', 1, "label", "bool"),
        ("m.csv", "words,label\na,1\n", None, "text_a", "missing column"),
        ("j.jsonl", '{"text": "a", "label": 1}\n{oops\n', 2, None, "invalid JSON"),
        ("x.xlsx", "", None, None, "unsupported file type"),
        (
            "s.jsonl",
            '{"text": "a", "label": 1, "seed": 3}\n{"text": "b", "label": 0, "seed": "x"}\n',
            2,
            "seed",
            "seed must be an integer",
        ),
        ("s.csv", "text,label,seed\na,1,3\nb,0,2.5\n", 2, "seed", "'2.5'"),
    ],
)
def test_read_table_bad_rows(tmp_path, name, content, row, field, message):
    if content is None:
        pd.DataFrame({"text": ["a", "b"], "label": [1.0, 0.0]}).to_parquet(tmp_path / name)
    else:
        (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message) as err:
        read_table(tmp_path / name, SST2)
    assert (err.value.row, err.value.field) == (row, field)
    assert name in str(err.value)


def test_a_missing_column_lists_the_names_tried_and_a_bad_override_names_its_option(tmp_path):
    (tmp_path / "m.csv").write_text("prem,hyp,gold\na,b,entailment\n")
    with pytest.raises(DataError, match=r"looked for: text_a, sentence1.*premise.*`text_a:`"):
        read_table(tmp_path / "m.csv", get_task("MNLI"))
    with pytest.raises(DataError, match=r"column 'premise' given as `text_a:` is missing") as err:
        read_table(tmp_path / "m.csv", get_task("MNLI"), text_a="premise", text_b="hyp")
    assert err.value.field == "text_a"
    table = read_table(
        tmp_path / "m.csv", get_task("MNLI"), text_a="prem", text_b="hyp", label="gold"
    )
    assert table.loc[0, "text_b"] == "b" and table.loc[0, "label"] == 1


def test_read_table_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_table(tmp_path / "nope.csv", SST2)


# --- FewGen json -----------------------------------------------------------------------


def test_fewgen_pair_and_errors(tmp_path):
    good = [{"text1": "A.", "text2": "B.", "label": "not_entailment"}]
    (tmp_path / "g.json").write_text(json.dumps(good))
    table = read_fewgen_json(tmp_path / "g.json", RTE)
    assert table[["text_a", "text_b", "label"]].values.tolist() == [["A.", "B.", 1]]
    bad = good + [{"text1": "C.", "label": "entailment"}]
    (tmp_path / "b.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match="b.json row 2, field 'text_b': missing text"):
        read_fewgen_json(tmp_path / "b.json", RTE)
    (tmp_path / "d.json").write_text('{"text": "a"}')
    with pytest.raises(DataError, match="JSON list"):
        read_fewgen_json(tmp_path / "d.json", SST2)


# --- Hugging Face datasets (offline: built and saved here) -----------------------------


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    return datasets


def test_hf_saved_dataset_remaps_class_labels_by_name(tmp_path, hf_cache):
    ds = hf_cache
    features = ds.Features(
        {
            "premise": ds.Value("string"),
            "hypothesis": ds.Value("string"),
            "label": ds.ClassLabel(names=["entailment", "neutral", "contradiction"]),
        }
    )
    data = {"premise": ["P0", "P1", "P2"], "hypothesis": ["H0", "H1", "H2"], "label": [0, 1, 2]}
    ds.DatasetDict({"validation": ds.Dataset.from_dict(data, features=features)}).save_to_disk(
        tmp_path / "mnli"
    )
    table = read_hf_dataset(tmp_path / "mnli", MNLI, split="validation")
    assert [MNLI.label_names[i] for i in table["label"]] == [
        "entailment",
        "neutral",
        "contradiction",
    ]
    assert table["text_b"].tolist() == ["H0", "H1", "H2"]
    with pytest.raises(DataError, match="no split 'train'"):
        read_hf_dataset(tmp_path / "mnli", MNLI, split="train")
    with pytest.raises(DataError, match="ClassLabel names .* do not match RTE"):
        read_hf_dataset(tmp_path / "mnli", RTE, split="validation")


def test_hf_glue_columns_and_mismatched_names(tmp_path, hf_cache):
    ds = hf_cache
    features = ds.Features(
        {
            "question1": ds.Value("string"),
            "question2": ds.Value("string"),
            "label": ds.ClassLabel(names=["not_duplicate", "duplicate"]),
        }
    )
    data = {"question1": ["a?", "b?"], "question2": ["c?", "d?"], "label": [1, 0]}
    ds.Dataset.from_dict(data, features=features).save_to_disk(tmp_path / "qqp")
    assert read_hf_dataset(tmp_path / "qqp", get_task("QQP"), split="train")["label"].tolist() == [
        1,
        0,
    ]
    # names the task does not know at all (e.g. imdb's neg/pos): the ints are trusted
    assert read_hf_dataset(tmp_path / "qqp", MRPC, split="train")["label"].tolist() == [1, 0]


def test_hf_local_data_file(tmp_path, hf_cache):
    pd.DataFrame({"sentence": ["good", "bad"], "label": [1, 0]}).to_parquet(tmp_path / "s.parquet")
    table = read_hf_dataset(tmp_path / "s.parquet", SST2, split="train")
    assert table["label"].tolist() == [1, 0] and table["text_a"].tolist() == ["good", "bad"]


# --- read_source -----------------------------------------------------------------------


def test_read_source_dispatch(tmp_path):
    lmbff_file(tmp_path, "SST-2", "dev.tsv", "sentence\tlabel\na .\t0\nb .\t1\nc .\t1\n")
    lm = SourceConfig(format="lmbff", path=str(tmp_path), split="dev", limit=2)
    assert read_source(lm, SST2, k=16, seed=13)["text_a"].tolist() == ["a .", "b ."]
    gen = fewgen_path(tmp_path / "fg", SST2, k=16, seed=13)
    gen.parent.mkdir(parents=True)
    gen.write_text(json.dumps([{"text": "x", "label": "1"}]))
    fg = SourceConfig(format="fewgen", path=str(tmp_path / "fg"))
    assert read_source(fg, SST2, k=16, seed=13)["source"].tolist() == ["fewgen"]
    (tmp_path / "c.txt").write_text("review\tstars\nnice\t1\n")
    tsv = SourceConfig(format="tsv", path=str(tmp_path / "c.txt"), text_a="review", label="stars")
    assert read_source(tsv, SST2, k=16, seed=13)["label"].tolist() == [1]
    with pytest.raises(ValueError, match="overrides"):
        read_source(lm.model_copy(update={"label": "y"}), SST2, k=16, seed=13)


# --- validate_examples and table_digest ------------------------------------------------


def test_validate_returns_clean_copy_without_touching_input():
    df = pd.DataFrame({"text_a": ["a", "b"], "label": ["1", 0], "cluster": [3, 4]}, index=[7, 9])
    before = df.copy()
    out = validate_examples(df, SST2, path="mem")
    pd.testing.assert_frame_equal(df, before)
    assert list(out.columns) == ["text_a", "text_b", "label", "cluster"]
    assert out.index.tolist() == [0, 1] and out["label"].tolist() == [1, 0]


def test_validate_rules():
    pair = pd.DataFrame({"text_a": ["a"], "text_b": [""], "label": [0]})
    assert len(validate_examples(pair, RTE, path="mem", pair=False)) == 1
    single = pd.DataFrame({"text_a": ["a"], "text_b": ["b"], "label": [0]})
    with pytest.raises(DataError, match="field 'text_b': must be empty"):
        validate_examples(single, SST2, path="mem")
    weighted = pd.DataFrame({"text_a": ["a", "b"], "label": [0, 1], "weight": [1.0, float("inf")]})
    with pytest.raises(DataError, match="mem row 2, field 'weight'"):
        validate_examples(weighted, SST2, path="mem")


def test_data_error_attributes_and_pickling():
    err = DataError("bad", path="x.tsv", row=3, field="label")
    assert isinstance(err, ValueError) and str(err) == "x.tsv row 3, field 'label': bad"
    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.row, again.field, str(again)) == ("x.tsv", 3, "label", str(err))


def test_table_digest_is_content_only():
    df = pd.DataFrame({"text_a": ["a", "b"], "text_b": ["", ""], "label": [0, 1]})
    same = df[["label", "text_b", "text_a"]].set_axis([5, 6]).assign(note=["n", "m"])
    assert table_digest(df) == table_digest(same)
    assert table_digest(df) != table_digest(df.assign(label=[1, 1]))
    assert table_digest(df) != table_digest(df.assign(text_a=["a", "c"]))
    assert table_digest(df) != table_digest(df.iloc[::-1])
    assert len(table_digest(df)) == 64


def test_integer_labels_of_a_named_label_task_say_how_they_were_read(tmp_path):
    import warnings

    from synprompt_core.data.validation import IntegerLabelsWarning

    (tmp_path / "ints.csv").write_text("premise,hypothesis,label\na b,c d,0\ne f,g h,2\n")
    with pytest.warns(IntegerLabelsWarning, match=r"0 = contradiction, 1 = entailment"):
        table = read_table(tmp_path / "ints.csv", MNLI)
    assert table["label"].tolist() == [0, 2]
    (tmp_path / "names.csv").write_text("premise,hypothesis,label\na b,c d,entailment\n")
    (tmp_path / "sst.csv").write_text("sentence,label\ngood .,1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", IntegerLabelsWarning)
        read_table(tmp_path / "names.csv", MNLI)  # names: nothing to say
        read_table(tmp_path / "sst.csv", SST2)  # SST-2's labels are named '0' and '1'


def test_trec_numbers_say_the_hugging_face_numbering_differs(tmp_path):
    """trec's names are '0'..'5' (LM-BFF: 2 = abbreviation); Hugging Face's 2 is DESC."""
    (tmp_path / "q.csv").write_text("text,label\nwhat does nasa stand for ?,2\n")
    with pytest.warns(UserWarning, match=r"2 = abbreviation.*Hugging Face trec .* 2 = DESC"):
        assert read_table(tmp_path / "q.csv", get_task("trec"))["label"].tolist() == [2]


def test_ag_news_numbers_in_a_text_file_are_its_label_names_in_every_format(tmp_path):
    """ag_news names its classes '1'..'4' (World, Sports, Business, Sci/Tech): a csv of
    those numbers must not be shifted by one as if they were indices."""
    import warnings

    from synprompt_core.data.validation import IntegerLabelsWarning

    agnews = get_task("ag_news")
    frame = pd.DataFrame({"text": ["summit", "match", "stocks", "chips"], "label": [1, 2, 3, 4]})
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_csv(tmp_path / "a.tsv", index=False, sep="\t")
    frame.astype({"label": str}).to_json(tmp_path / "a.jsonl", orient="records", lines=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IntegerLabelsWarning)
        for suffix in ("csv", "tsv", "jsonl"):
            assert read_table(tmp_path / f"a.{suffix}", agnews)["label"].tolist() == [0, 1, 2, 3]
    # JSON integers are typed indices (the Hugging Face numbering, 0 = World): said aloud,
    # and so is a text file holding a 0, which no ag_news label is named (a HF export)
    frame.assign(label=[0, 1, 2, 3]).to_json(tmp_path / "i.jsonl", orient="records", lines=True)
    frame.assign(label=[0, 1, 2, 3]).to_csv(tmp_path / "hf.csv", index=False)
    for name in ("i.jsonl", "hf.csv"):
        with pytest.warns(IntegerLabelsWarning, match=r"0 = World, 1 = Sports"):
            assert read_table(tmp_path / name, agnews)["label"].tolist() == [0, 1, 2, 3]


def test_a_file_in_another_format_than_configured_says_so(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"text": "a", "label": "1"}\n')
    (tmp_path / "x.csv").write_text("text,label\na,1\n")
    with pytest.raises(DataError, match="looks like JSON lines, not csv: set format: jsonl"):
        read_table(tmp_path / "x.jsonl", SST2, format="csv")
    with pytest.raises(DataError, match=r"x.csv: cannot read as parquet .*is `format` right\?"):
        read_table(tmp_path / "x.csv", SST2, format="parquet")
    (tmp_path / "x.tsv").write_text("text\tlabel\na\t1\n")
    with pytest.raises(
        DataError, match=r"x.csv: one column, whose name holds ',': set format: csv"
    ):
        read_table(tmp_path / "x.csv", SST2, format="tsv")
    with pytest.raises(
        DataError, match=r"x.tsv: one column, whose name holds '\\t': set format: tsv"
    ):
        read_table(tmp_path / "x.tsv", SST2, format="csv")


def test_input_files_are_the_files_the_readers_read(tmp_path):
    from synprompt_core.configs.data import DataConfig
    from synprompt_core.data.splits import input_files

    folder = tmp_path / "lm-bff" / "SST-2" / "16-13"
    folder.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (folder / f"{split}.tsv").write_text("sentence\tlabel\ngood .\t1\nbad .\t0\n")
    own = tmp_path / "syn.jsonl"
    own.write_text('{"text_a": "fine .", "label": 1}\n')
    data = DataConfig.model_validate(
        {
            "task": "SST-2",
            "data_root": str(tmp_path / "lm-bff"),
            "synthetic": {"format": "jsonl", "path": str(own)},
        }
    )
    assert input_files(data) == [folder / f"{s}.tsv" for s in ("train", "dev", "test")] + [own]
    hub = data.model_copy(update={"test": SourceConfig(format="hf", path="glue", split="x")})
    assert input_files(hub) is None  # a Hugging Face dataset is no file of ours


def test_a_column_chosen_among_several_likely_ones_is_said(tmp_path):
    """Two columns that could hold the text (or the label): the one read is named, with
    the option that picks another; one candidate, or a column named in the config, is quiet."""
    import warnings

    from synprompt_core.data.columns import ColumnChoiceWarning

    (tmp_path / "two.csv").write_text("text,sentence,label,gold_label\nraw,clean .,1,0\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ColumnChoiceWarning)
        table = read_table(tmp_path / "two.csv", SST2)
    assert table["text_a"].tolist() == ["clean ."] and table["label"].tolist() == [1]
    notes = [str(w.message) for w in caught]
    assert notes == [
        f"{tmp_path / 'two.csv'}: text_a read from column 'sentence' (also present: 'text'); "
        "name another with the source's `text_a:` option",
        f"{tmp_path / 'two.csv'}: label read from column 'label' (also present: "
        "'gold_label'); name another with the source's `label:` option",
    ]
    (tmp_path / "pairs.csv").write_text(
        "premise,hypothesis,sentence1,sentence2,label\np,h,s1,s2,entailment\n"
    )
    with pytest.warns(ColumnChoiceWarning, match=r"text_a read from column 'sentence1' \(also "):
        assert read_table(tmp_path / "pairs.csv", MNLI)["text_b"].tolist() == ["s2"]
    (tmp_path / "one.csv").write_text("sentence,label\nfine .,1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ColumnChoiceWarning)
        read_table(tmp_path / "one.csv", SST2)
        chosen = read_table(tmp_path / "two.csv", SST2, text_a="text", label="gold_label")
    assert chosen["text_a"].tolist() == ["raw"] and chosen["label"].tolist() == [0]


def test_an_lmbff_source_under_dev_or_test_reads_that_split(tmp_path):
    """``test: {format: lmbff, path: root}`` reads test.tsv, not the source's default
    split (train), which would score the run on its own training rows."""
    from synprompt_core.configs.data import DataConfig
    from synprompt_core.data.splits import read_split_tables

    for split, text in (("train", "seen"), ("dev", "held"), ("test", "unseen")):
        lmbff_file(tmp_path, "SST-2", f"{split}.tsv", f"sentence\tlabel\n{text} .\t1\n")
    lm = {"format": "lmbff", "path": str(tmp_path)}
    data = DataConfig.model_validate({"task": "SST-2", "train": lm, "dev": lm, "test": lm})
    tables = read_split_tables(data)
    assert [tables[s]["text_a"][0] for s in ("train", "dev", "test")] == [
        "seen .",
        "held .",
        "unseen .",
    ]
    assert DataConfig.model_validate(data.model_dump(mode="json")) == data  # as Prefect sends it
    chosen = DataConfig.model_validate(
        {"task": "SST-2", "train": lm, "test": {**lm, "split": "dev"}}
    )
    assert read_split_tables(chosen)["test"]["text_a"][0] == "held ."
