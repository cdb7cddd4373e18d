"""`validate` and `run` refuse label words and input texts the backbone cannot score,
from its tokenizer alone: no weights, no MLflow run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synprompt_core.configs.pipeline import PipelineConfig
from tasks import preflight
from tests.orchestration.conftest import smoke_config
from tests.orchestration.test_cli_bad_input import assert_failed_cleanly, run_cli, write
from tests.tiny_models import build_tiny_bert_tokenizer, build_tiny_t5


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("scoring_models")
    return {"masked": build_tiny_bert_tokenizer(root), "seq2seq": build_tiny_t5(root)}


def own_words(tmp_path: Path, model: Path, *words: str, kind: str = "masked") -> dict:
    """The smoke config on a ``kind`` backbone, SST-2 read as a task of one's own ``words``."""
    config = smoke_config(tmp_path, model)
    config["backbone"]["kind"] = kind
    folder = Path(config["data"].pop("data_root")) / "SST-2" / "16-13"
    gen = Path(config["data"].pop("synthetic_root")) / "SST-2" / "16-13" / "gen-train.json"
    config["data"].update(
        task="my-sst",
        task_spec={
            "labels": ["0", "1"],
            "meanings": ["negative", "positive"],
            "verbalizers": list(words),
            "template": "{text_a} It was {mask} .",
        },
        train={"format": "tsv", "path": str(folder / "train.tsv")},
        test={"format": "tsv", "path": str(folder / "test.tsv")},
        synthetic={"format": "fewgen", "path": str(gen)},
    )
    return config


def out_dir(config: dict) -> Path:
    return Path(config["tracking"]["output_dir"])


def test_a_good_config_validates_with_a_tokenizer_and_no_weights(tmp_path, models):
    assert not list(models["masked"].glob("*.safetensors"))  # nothing a model could load
    config = own_words(tmp_path, models["masked"], "terrible", "greatly")
    result = run_cli("validate", str(write(tmp_path, config)))
    assert result.exit_code == 0, result.output
    assert (
        "  note: task my-sst, label '1' (positive): word 'greatly' becomes "
        "['great', '##l', '##y'] in the tokenizer of "
    ) in result.output
    assert "only its first token 'great' is scored" in result.output
    assert result.output.rstrip().endswith("config OK")


def test_a_word_the_tokenizer_does_not_know_fails_validate(tmp_path, models):
    config = own_words(tmp_path, models["masked"], "terrible", "好")
    result = run_cli("validate", str(write(tmp_path, config)))
    assert_failed_cleanly(
        result,
        "task my-sst, label '1' (positive): word '好' becomes ['[UNK]']",
        f"in the tokenizer of '{models['masked']}'",
        "is the unknown token",
        "choose other data.task_spec.verbalizers",
        out_dir=out_dir(config),
    )


def test_colliding_label_words_fail_run_before_any_mlflow_run(tmp_path, models):
    config = own_words(tmp_path, models["masked"], "great", "greatly")
    result = run_cli("run", str(write(tmp_path, config)))
    assert_failed_cleanly(
        result,
        "word 'greatly' becomes ['great', '##l', '##y']",
        "word 'great' becomes ['great']",
        "share their first token 'great'",
        out_dir=out_dir(config),
    )


def test_the_mask_token_in_an_input_text_is_named_by_file_row_and_field(tmp_path, models):
    config = smoke_config(tmp_path, models["masked"])
    config["backbone"]["kind"] = "masked"
    train = Path(config["data"]["data_root"]) / "SST-2" / "16-13" / "train.tsv"
    lines = train.read_text().splitlines()
    lines[2] = "i loved it , [MASK] acting .\t1"
    train.write_text("\n".join(lines) + "\n")
    result = run_cli("run", str(write(tmp_path, config)))
    assert_failed_cleanly(
        result,
        f"{train} row 2, field 'text_a': the text holds '[MASK]', the mask token of",
        "replace it",
        out_dir=out_dir(config),
    )


def test_the_t5_sentinel_in_a_synthetic_text_is_named(tmp_path, models):
    config = smoke_config(tmp_path, models["seq2seq"])
    config["backbone"]["kind"] = "seq2seq"
    gen = Path(config["data"]["synthetic_root"]) / "SST-2" / "16-13" / "gen-train.json"
    rows = json.loads(gen.read_text())
    rows[3]["text"] = "a <extra_id_0> movie ."
    gen.write_text(json.dumps(rows))
    result = run_cli("validate", str(write(tmp_path, config)))
    assert_failed_cleanly(
        result,
        f"{gen} row 4, field 'text_a': the text holds '<extra_id_0>', the span sentinel of",
        out_dir=out_dir(config),
    )


def test_a_tokenizer_without_the_kinds_mask_token_fails_validate(tmp_path):
    from tests.tiny_models import build_tiny_gpt2

    config = smoke_config(tmp_path, build_tiny_gpt2(tmp_path / "models"))
    config["backbone"]["kind"] = "masked"
    result = run_cli("validate", str(write(tmp_path, config)))
    assert_failed_cleanly(
        result,
        "backbone kind=masked: the tokenizer of",
        "has no mask token",
        out_dir=out_dir(config),
    )


def test_the_tokenizer_is_loaded_once_for_every_check(tmp_path, models, monkeypatch):
    from synprompt_core.backbones import loading

    loads = []
    real = loading.load_tokenizer
    monkeypatch.setattr(loading, "load_tokenizer", lambda *a, **k: loads.append(a) or real(*a, **k))
    preflight._cached_tokenizer.cache_clear()
    config = PipelineConfig.model_validate(own_words(tmp_path, models["masked"], "bad", "great"))
    preflight.check_inputs(config)
    preflight.check_label_words(config)  # as check_environment does, in `run` and the flow
    assert len(loads) == 1


def test_a_mask_token_in_a_hugging_face_split_names_the_dataset_config_and_split(
    tmp_path, models, monkeypatch
):
    """A dataset has no file: the error names it as its reader does (config and split), so
    a text in the test split is not taken for one of train."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    clean = {"sentence": ["fine .", "bad ."], "label": [1, 0]}
    masked = {"sentence": ["fine .", "the [MASK] was great ."], "label": [1, 0]}
    splits = {"train": clean, "validation": masked}
    folder = tmp_path / "sst"
    datasets.DatasetDict(
        {k: datasets.Dataset.from_dict(v) for k, v in splits.items()}
    ).save_to_disk(folder)
    config = smoke_config(tmp_path, models["masked"])
    config["backbone"]["kind"] = "masked"
    config["data"].pop("data_root")
    config["data"].pop("synthetic_root")
    config["prompt_tuning"]["strategy"] = "real_only"
    config["data"].update(
        train={"format": "hf", "path": str(folder), "split": "train"},
        test={"format": "hf", "path": str(folder), "split": "validation"},
        sample_k_shot=False,
    )
    from synprompt_core.data import DataError

    expected = rf"{folder}\[validation\] row 2, field 'text_a': the text holds '\[MASK\]'"
    with pytest.raises(DataError, match=expected):
        preflight.check_inputs(PipelineConfig.model_validate(config))
