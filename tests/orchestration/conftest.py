"""Fixtures for flow tests: a real (temporary) Prefect server, tiny models, tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tiny_models import build_tiny_sentence_encoder

POSITIVE = ["a great and moving film .", "i loved it , great acting .", "wonderful , good fun ."]
NEGATIVE = ["a terrible , boring movie .", "i hated it , bad plot .", "awful and bad ."]


@pytest.fixture(scope="session")
def prefect_server():
    """A real Prefect API on a temporary SQLite database for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    return build_tiny_sentence_encoder(tmp_path_factory.mktemp("models"))


def write_lmbff_sst2(root: Path, *, seed: int = 13) -> Path:
    """A miniature LM-BFF SST-2 folder (train/dev/test tsv) under ``root``."""
    folder = root / "SST-2" / f"16-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(s, 1) for s in POSITIVE] + [(s, 0) for s in NEGATIVE]
    body = "sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in rows)
    for split in ("train", "dev", "test"):
        (folder / f"{split}.tsv").write_text(body)
    return root


def write_fewgen_sst2(root: Path, *, seed: int = 13) -> Path:
    folder = root / "SST-2" / f"16-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"text": f"{s} really", "label": "1"} for s in POSITIVE]
    rows += [{"text": f"{s} really", "label": "0"} for s in NEGATIVE]
    (folder / "gen-train.json").write_text(json.dumps(rows))
    return root


def smoke_config(tmp_path: Path, model: Path, **tuning) -> dict:
    """A pipeline config (as a dict) that trains a few steps on the tiny model."""
    return {
        "name": "smoke",
        "data": {
            "task": "SST-2",
            "data_root": str(write_lmbff_sst2(tmp_path / "lm-bff")),
            "synthetic_root": str(write_fewgen_sst2(tmp_path / "fewgen")),
        },
        "backbone": {"kind": "sentence", "model": str(model)},
        "prompt_tuning": {
            "strategy": "paired",
            "surgery": True,
            "max_steps": 6,
            "eval_every": 3,
            "batch_size": 4,
            "checkpoint_every": 2,
            "prompt": {"length": 4},
            **tuning,
        },
        "tracking": {"experiment": "smoke", "output_dir": str(tmp_path / "out")},
    }


def with_new_eval_batch(config):
    """The same experiment with another evaluation batch size: an operational knob that no
    stage's cache key holds, so the pipeline-level record misses and every stage cache hits."""
    tuning = config.prompt_tuning.model_copy(
        update={"eval_batch_size": config.prompt_tuning.eval_batch_size + 1}
    )
    return config.model_copy(update={"prompt_tuning": tuning})
