"""load-data skips reading input files unchanged since an earlier run into the same folder,
and reads again whenever a file, the data config or a stored table is not what it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tasks.data
import tasks.preflight
from synprompt_core.configs.pipeline import PipelineConfig
from tasks.data import INPUTS, load_data
from tests.orchestration.conftest import smoke_config


@pytest.fixture
def config(tmp_path, monkeypatch) -> PipelineConfig:
    monkeypatch.setattr(tasks.data, "SETTLED_NS", 0)  # files written just now count as settled
    return PipelineConfig.model_validate(smoke_config(tmp_path, tmp_path / "model"))


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The names of the data configs read through the readers, one per read."""
    seen: list[str] = []
    real = tasks.preflight.read_split_tables

    def counting(data):
        seen.append(data.task)
        return real(data)

    monkeypatch.setattr(tasks.preflight, "read_split_tables", counting)
    return seen


def train_file(tmp_path: Path) -> Path:
    return tmp_path / "lm-bff" / "SST-2" / "16-13" / "train.tsv"


def test_an_unchanged_input_is_not_read_again(config, reads):
    first = load_data.fn(config)
    again = load_data.fn(config)
    assert reads == ["SST-2"]
    assert again == first and list(again) == list(first)  # same tables, same order
    assert (Path(config.tracking.output_dir) / "stages" / INPUTS).is_dir()


def test_a_rewritten_file_of_the_same_size_and_mtime_is_read_again(config, reads, tmp_path):
    first = load_data.fn(config)
    train = train_file(tmp_path)
    before = train.stat()
    text = train.read_text()
    swapped = text.replace("\t1\n", "\tX\n").replace("\t0\n", "\t1\n").replace("\tX\n", "\t0\n")
    assert swapped != text and len(swapped) == len(text)
    train.write_text(swapped)
    os.utime(train, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back: ctime moved
    again = load_data.fn(config)
    assert reads == ["SST-2", "SST-2"]
    assert again["train"].sha256 != first["train"].sha256
    assert again["dev"] == first["dev"]


def test_a_stored_table_gone_or_changed_is_made_again(config, reads):
    first = load_data.fn(config)
    Path(first["test"].path).unlink()
    again = load_data.fn(config)
    assert reads == ["SST-2", "SST-2"] and again == first
    assert Path(again["test"].path).is_file()
    stored = Path(first["dev"].path)
    os.utime(stored, ns=(stored.stat().st_atime_ns, stored.stat().st_mtime_ns + 10**9))
    assert load_data.fn(config) == first
    assert reads == ["SST-2"] * 3


def test_stored_tables_on_a_linked_folder_are_found(config, reads, tmp_path):
    """``stages/`` linked to another disk (big outputs): the record still hits."""
    elsewhere = tmp_path / "big-disk"
    elsewhere.mkdir()
    out = Path(config.tracking.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stages").symlink_to(elsewhere, target_is_directory=True)
    first = load_data.fn(config)
    assert load_data.fn(config) == first
    assert reads == ["SST-2"]


def test_a_file_edited_while_it_is_read_is_not_recorded(config, monkeypatch, tmp_path):
    real, seen = tasks.preflight.read_split_tables, []

    def editing(data):
        seen.append(data.task)
        tables = real(data)
        train = train_file(tmp_path)
        train.write_text(train.read_text())  # same bytes; its mtime and ctime move on
        return tables

    monkeypatch.setattr(tasks.preflight, "read_split_tables", editing)
    load_data.fn(config)
    load_data.fn(config)
    assert seen == ["SST-2", "SST-2"]


def test_each_data_config_has_its_own_record(config, reads, tmp_path):
    first = load_data.fn(config)
    raw = config.model_dump(mode="json")  # the same files, not written again
    raw["data"]["synthetic"] = {"format": "fewgen", "path": raw["data"]["synthetic_root"]}
    raw["data"]["synthetic"]["limit"] = 2
    cut = PipelineConfig.model_validate(raw)
    assert load_data.fn(cut)["synthetic"].sha256 != first["synthetic"].sha256
    assert load_data.fn(config) == first and load_data.fn(cut) != first
    assert reads == ["SST-2", "SST-2"]  # each config read once


def test_files_changed_too_recently_are_not_recorded(config, reads, monkeypatch):
    monkeypatch.setattr(tasks.data, "SETTLED_NS", 10**18)
    load_data.fn(config)
    load_data.fn(config)
    assert reads == ["SST-2", "SST-2"]
    assert not (Path(config.tracking.output_dir) / "stages" / INPUTS).exists()


def warn_while_reading(monkeypatch, *warned: Warning) -> list[str]:
    """Make reading the synthetic set raise ``warned`` (in order); returns the list that
    collects what load-data logs."""
    import warnings

    real, logged = tasks.preflight.read_synthetic, []

    def noting(data):
        for warning in warned:
            warnings.warn(warning, stacklevel=1)
        return real(data)

    class Logger:
        def info(self, message, *args):
            logged.append(message % args)

    monkeypatch.setattr(tasks.preflight, "read_synthetic", noting)
    monkeypatch.setattr(tasks.data, "get_run_logger", Logger)
    return logged


def test_the_notes_of_the_first_read_are_logged_again(config, reads, monkeypatch):
    from synprompt_core.data.validation import IntegerLabelsWarning

    logged = warn_while_reading(monkeypatch, IntegerLabelsWarning("labels read as indices"))
    load_data.fn(config)
    load_data.fn(config)
    assert reads == ["SST-2"]
    assert logged == ["note: labels read as indices"] * 2


def test_a_copied_output_folder_uses_its_own_stored_tables(config, reads, tmp_path):
    import shutil

    first = load_data.fn(config)
    copy = tmp_path / "copy"
    shutil.copytree(config.tracking.output_dir, copy)  # mtimes kept: the record looks intact
    tracking = config.tracking.model_copy(update={"output_dir": str(copy)})
    again = load_data.fn(config.model_copy(update={"tracking": tracking}))
    assert reads == ["SST-2"]  # the record names its tables relative to its own folder
    assert all(Path(ref.path).is_relative_to(copy.resolve()) for ref in again.values())
    assert {k: r.sha256 for k, r in again.items()} == {k: r.sha256 for k, r in first.items()}


def masked(config: PipelineConfig, model: Path) -> PipelineConfig:
    backbone = config.backbone.model_copy(update={"kind": "masked", "model": str(model)})
    return config.model_copy(update={"backbone": backbone})


@pytest.fixture(scope="module")
def bert_tokenizer(tmp_path_factory) -> Path:
    from tests.tiny_models import build_tiny_bert_tokenizer

    return build_tiny_bert_tokenizer(tmp_path_factory.mktemp("record_models"))


def test_the_record_key_holds_the_backbone_the_texts_were_checked_for(config, tmp_path):
    from tasks.data import inputs_key

    def key(kind: str, model: str = "a") -> str:
        backbone = config.backbone.model_copy(update={"kind": kind, "model": model})
        return inputs_key(config.data, backbone)

    assert key("sentence") == key("causal") == key("sentence", "b")  # nothing was checked
    keys = {key("masked"), key("masked", "b"), key("seq2seq"), key("sentence")}
    assert len(keys) == 4


def test_a_sentence_runs_record_is_not_taken_for_a_masked_backbones_check(
    config, reads, tmp_path, bert_tokenizer
):
    from synprompt_core.data import DataError

    train = train_file(tmp_path)
    lines = train.read_text().splitlines()
    lines[2] = "i loved it , [MASK] acting .\t1"
    train.write_text("\n".join(lines) + "\n")
    load_data.fn(config)  # the sentence kind writes no mask token: the text is fine
    assert load_data.fn(config) and reads == ["SST-2"]  # recorded, and the record hits
    with pytest.raises(DataError, match=rf"{train} row 2, field 'text_a': .* '\[MASK\]'"):
        load_data.fn(masked(config, bert_tokenizer))
    assert reads == ["SST-2", "SST-2"]


def test_a_record_hit_skips_the_text_check(config, reads, monkeypatch, bert_tokenizer):
    checks = []
    real = tasks.data.check_input_texts
    monkeypatch.setattr(
        tasks.data, "check_input_texts", lambda *a: checks.append(a[1].keys()) or real(*a)
    )
    bert = masked(config, bert_tokenizer)
    first = load_data.fn(bert)
    assert load_data.fn(bert) == first
    assert reads == ["SST-2"] and len(checks) == 1
    assert list(checks[0]) == ["train", "dev", "test", "synthetic"]


def test_only_notes_about_the_data_are_logged_and_recorded(config, reads, monkeypatch):
    """A library's own warning while the files are read is shown as a warning, never
    logged (and replayed from the record) as a note about the user's data."""
    from synprompt_core.data.validation import IntegerLabelsWarning

    logged = warn_while_reading(
        monkeypatch,
        FutureWarning("a reader library's deprecation"),
        IntegerLabelsWarning("labels read as indices"),
    )
    with pytest.warns(FutureWarning, match="a reader library's deprecation"):
        load_data.fn(config)
    load_data.fn(config)
    assert reads == ["SST-2"]
    assert logged == ["note: labels read as indices"] * 2
