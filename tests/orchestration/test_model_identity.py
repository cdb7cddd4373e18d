"""Cache keys name a local model folder by its files, never by the path written."""

from __future__ import annotations

import os
import shutil

from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.references import Ref
from tasks import prompt_tuning, results
from tasks.generator import tune_key
from tasks.store import model_identity
from tests.orchestration.conftest import smoke_config

INPUTS = {"train": Ref(path="/x/train.parquet", sha256="a" * 64)}


def fake_model(folder):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "model.safetensors").write_bytes(b"weights-v1")
    return folder


def config_for(tmp_path, model, *, generator=None) -> PipelineConfig:
    raw = smoke_config(tmp_path, model)
    raw["tracking"]["output_dir"] = str(tmp_path / "out")
    if generator is not None:
        del raw["data"]["synthetic_root"]  # the generator makes the synthetic set
        raw["generator"] = {"model": str(generator)}
        raw["generation"] = {}
    return PipelineConfig.model_validate(raw)


def keys(config: PipelineConfig) -> tuple[str, ...]:
    found = [prompt_tuning.stage_key(config, INPUTS), results.pipeline_key(config, INPUTS)]
    if config.generator is not None:
        found.append(tune_key(config, INPUTS["train"]))
    return tuple(found)


def test_the_same_files_under_another_path_give_the_same_keys(tmp_path, monkeypatch):
    model = fake_model(tmp_path / "models" / "enc")
    copy = tmp_path / "elsewhere" / "enc-copy"
    shutil.copytree(model, copy)
    monkeypatch.chdir(tmp_path)
    absolute = keys(config_for(tmp_path, model, generator=model))
    relative = keys(config_for(tmp_path, "models/enc", generator="models/enc"))
    copied = keys(config_for(tmp_path, copy, generator=copy))
    assert absolute == relative == copied
    assert str(model) not in model_identity(str(model), str(tmp_path / "out"))


def test_a_model_folder_changed_in_place_changes_every_key(tmp_path):
    model = fake_model(tmp_path / "enc")
    before = keys(config_for(tmp_path, model, generator=model))
    weights = model / "model.safetensors"
    weights.write_bytes(b"weights-v2")  # retrained where it was: same path, same size
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # the same clock tick
    after = keys(config_for(tmp_path, model, generator=model))
    assert all(a != b for a, b in zip(before, after, strict=True))


def test_hub_ids_and_aliases_stay_as_written(tmp_path):
    assert model_identity("minilm", str(tmp_path)) == "minilm"
    assert model_identity("google/flan-t5-small", str(tmp_path)) == "google/flan-t5-small"
    assert not (tmp_path / "model-digests").exists()  # nothing to remember for a name
