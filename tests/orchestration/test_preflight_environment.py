"""check_environment: a run that cannot write, track or load its model fails in seconds."""

from __future__ import annotations

import socket

import pytest

from synprompt_core.configs.pipeline import PipelineConfig
from tasks.preflight import PreflightError, check_environment
from tests.orchestration.conftest import smoke_config


def _config(tmp_path, model, **tracking) -> PipelineConfig:
    raw = smoke_config(tmp_path, model)
    raw["tracking"].update(tracking)
    return PipelineConfig.model_validate(raw)


def test_a_good_config_passes(tmp_path, tiny_encoder):
    lines = check_environment(_config(tmp_path, tiny_encoder))
    assert any("local folder" in line for line in lines)
    assert (tmp_path / "out" / "mlflow.db").is_file()


def test_unwritable_output_folder_fails(tmp_path, tiny_encoder):
    (tmp_path / "blocked").write_text("a file, not a folder")
    config = _config(tmp_path, tiny_encoder, output_dir=str(tmp_path / "blocked" / "out"))
    with pytest.raises(PreflightError, match="output folder .* is not writable"):
        check_environment(config)


def test_missing_local_model_folder_fails(tmp_path):
    with pytest.raises(PreflightError, match="backbone model folder .*nope does not exist"):
        check_environment(_config(tmp_path, tmp_path / "nope"))


def test_uncached_hub_id_fails_offline_without_touching_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    attempts = []

    def no_network(sock, address):
        attempts.append(address)
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(PreflightError, match="'some-org/not-a-model' is not .* HF_HUB_OFFLINE"):
        check_environment(_config(tmp_path, "some-org/not-a-model"))
    assert attempts == []


def test_unreachable_tracking_store_fails(tmp_path, tiny_encoder):
    config = _config(tmp_path, tiny_encoder, tracking_uri="http://127.0.0.1:9/")
    with pytest.raises(PreflightError, match="tracking store http://127.0.0.1:9/ is not reachable"):
        check_environment(config)


def test_label_words_sharing_a_first_token_fail_before_training(tmp_path):
    """TREC's Entity/Expression are one byte apart in a byte-level tokenizer with few merges."""
    from tests.tiny_models import build_tiny_gpt2

    raw = smoke_config(tmp_path, build_tiny_gpt2(tmp_path / "models"))
    raw["backbone"]["kind"] = "causal"
    raw["data"]["task_spec"] = {
        "labels": ["0", "1"],
        "verbalizers": ["Entity", "Expression"],
        "template": "{text_a} It is {mask} .",
    }
    raw["data"]["task"] = "my-sst"
    with pytest.raises(
        PreflightError,
        match=r"share their first token .*; choose other data\.task_spec\.verbalizers",
    ):
        check_environment(PipelineConfig.model_validate(raw))


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("gpu", r"backbone.device: 'gpu' is not a torch device"),
        ("cuda:9", r"backbone.device: 'cuda:9' but this machine has \d+ CUDA device"),
    ],
)
def test_a_device_the_machine_lacks_fails_before_any_model_loads(tmp_path, device, message):
    raw = smoke_config(tmp_path, tmp_path / "never-loaded")
    raw["backbone"]["device"] = device
    with pytest.raises(PreflightError, match=message):
        check_environment(PipelineConfig.model_validate(raw))
