"""Latent-attribute generation in the pipeline, against a real local OpenAI-compatible server.

No synthetic set is imported: the rows the endpoint writes from the chosen demonstrations
become the synthetic set that prompt tuning trains on. The API key reaches the server but
never MLflow (params, tags, artifacts), the stage folders or the logs.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flows.pipeline import synprompt_pipeline
from synprompt_core.alignment import SynthesisResult
from synprompt_core.alignment.attributes import parse_attributes
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import CONTRACT_COLUMNS, table_digest
from synprompt_core.references import Ref
from tasks.data import join_tables
from tasks.store import read_table
from tasks.synthesis import attribute_frame
from tests.orchestration.conftest import smoke_config

KEY_ENV = "SYNPROMPT_TEST_LLM_KEY"
SEED = 42  # generation.seed: stage A uses 42, 43; stage B 44..47 (2 clusters x 2 calls)


def completion(prompt: str, seed: int) -> str:
    """Stage A: an attribute bullet list. Stage B: two numbered examples of the asked label,
    except for odd seeds, which get prose with no numbered line (a parse failure)."""
    if prompt.startswith("Here are"):
        return "- short sentences\n- plain everyday words"
    meaning = re.search(r'whose label is "([^"]+)"', prompt).group(1)
    if seed % 2:
        return f"Sure! Here are some {meaning} examples for you."
    return f'1. "a {meaning} line number {seed} ."\n2. another {meaning} line {seed} .'


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append((self.path, self.headers.get("Authorization"), body["seed"]))
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        text = completion(body["messages"][0]["content"], body["seed"])
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def llm_server():
    """A chat-completions endpoint on a free port of 127.0.0.1, stopped after the module."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def finished(prefect_server, tiny_encoder, llm_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("synth")
    key = f"sk-test-{uuid.uuid4().hex}"
    raw = smoke_config(tmp, tiny_encoder, max_steps=2, eval_every=2)
    del raw["data"]["synthetic_root"]
    raw["tracking"]["experiment"] = "synthesis"
    raw["alignment"] = {
        "embedding": {"encoder": str(tiny_encoder), "max_length": 32},
        "selection": {"n_clusters": 2, "budget": 2},
        "generation": {
            "enabled": True,
            "backend": "openai",
            "model": "scripted",
            "base_url": f"http://127.0.0.1:{llm_server.server_port}",
            "api_key_env": KEY_ENV,
            "prompts_per_cluster": 2,
            "examples_per_prompt": 2,
            "seed": SEED,
            "timeout_s": 10,
            "max_retries": 0,
        },
        "reweight": {"steps": 200, "use": "loss_weights"},  # weights visible on the rows
    }
    config = PipelineConfig.model_validate(raw)
    mp = pytest.MonkeyPatch()
    mp.setenv(KEY_ENV, key)
    handler, loggers = CaptureAll(), [logging.getLogger(), logging.getLogger("prefect")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        result = synprompt_pipeline(config)
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        mp.undo()
    return config, result, MlflowClient(result["tracking_uri"]), key, handler.lines, tmp


class CaptureAll(logging.Handler):
    """Every log record of the run (Prefect's, MLflow's, urllib's), formatted."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def children(client: MlflowClient, parent_id: str) -> dict:
    parent = client.get_run(parent_id)
    runs = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    stages = [run.data.tags["synprompt.stage"] for run in runs]
    assert len(set(stages)) == len(stages), f"a stage has several runs: {sorted(stages)}"
    return dict(zip(stages, runs, strict=True))


def test_a_strategy_needing_synthetic_data_is_valid_with_generation_alone(finished):
    config, *_ = finished
    assert config.data.synthetic_source() is None and config.generator is None
    assert config.has_synthetic_source()
    raw = config.model_dump(mode="json")
    raw["alignment"]["generation"]["enabled"] = False
    with pytest.raises(ValueError, match="needs synthetic data"):
        PipelineConfig.model_validate(raw)


def test_synthesize_runs_as_a_finished_child_and_counts_parse_failures(
    finished, llm_server, tmp_path
):
    _, result, client, key, _, _ = finished
    runs = children(client, result["run_id"])
    assert {"select_demonstrations", "synthesize", "reweight_synthetic", "prompt_tuning"} <= set(
        runs
    )
    assert all(run.info.status == "FINISHED" for run in runs.values())
    metrics = runs["synthesize"].data.metrics
    assert metrics["outputs"] == 4 and metrics["failed"] == 2 and metrics["examples"] == 4
    assert metrics["attribute_failures"] == 0
    parses = pd.read_csv(
        client.download_artifacts(runs["synthesize"].info.run_id, "parses.csv", str(tmp_path)),
        keep_default_na=False,
    )
    assert parses["ok"].tolist() == [True, False, True, False]
    assert parses.loc[~parses["ok"], "raw_output"].str.startswith("Sure!").all()
    stage_a = pd.read_csv(
        client.download_artifacts(runs["synthesize"].info.run_id, "attributes.csv", str(tmp_path))
    )
    assert stage_a["seed"].tolist() == [SEED, SEED + 1] and stage_a["ok"].all()
    # the server saw every call, with the key from the environment
    assert sorted(seed for _, _, seed in llm_server.seen) == list(range(SEED, SEED + 6))
    assert {(path, auth) for path, auth, _ in llm_server.seen} == {
        ("/v1/chat/completions", f"Bearer {key}")
    }


def test_prompt_tuning_trains_on_the_generated_rows(finished):
    _, result, client, _, _, _ = finished
    runs = children(client, result["run_id"])
    used = {d.dataset.name: d.dataset for d in runs["prompt_tuning"].inputs.dataset_inputs}
    rows = pd.read_parquet(json.loads(used["synthetic"].source)["uri"])
    assert len(rows) == 4 and (rows["source"] == "synalign").all()
    assert sorted(rows["seed"].unique()) == [SEED + 2, SEED + 4]  # the calls that parsed
    assert rows["raw_output"].str.startswith('1. "a ').all()
    assert set(rows["label"]) == {0, 1}
    meanings = {0: "negative", 1: "positive"}
    assert all(meanings[y] in t for t, y in zip(rows["text_a"], rows["label"], strict=True))
    assert not rows["text_a"].str.contains('"').any()  # quotes stripped by the parser
    # MMD weights over the generated rows, as loss weights of mean 1: not all equal
    assert rows["weight"].mean() == pytest.approx(1.0) and rows["weight"].std() > 0


def test_the_api_key_is_never_recorded(finished):
    _, result, client, key, log_lines, tmp = finished
    parent = client.get_run(result["run_id"])
    runs = [parent, *children(client, result["run_id"]).values()]
    for run in runs:
        recorded = json.dumps({"params": run.data.params, "tags": run.data.tags})
        assert key not in recorded
        assert "generation.api_key_env" not in run.data.params or (
            run.data.params["generation.api_key_env"] == KEY_ENV
        )
    assert parent.data.params["alignment.generation.api_key_env"] == KEY_ENV
    # artifacts, stage outputs, the MLflow database: every file the run wrote
    written = [p for p in Path(tmp).rglob("*") if p.is_file()]
    assert any(p.name == "parses.csv" for p in written)
    assert not [p for p in written if key.encode() in p.read_bytes()]
    assert log_lines and not [line for line in log_lines if key in line]


def test_generated_rows_join_an_imported_synthetic_set(finished):
    """join_tables: the imported rows then the generated ones, contract columns only."""
    config, result, client, _, _, tmp = finished
    runs = children(client, result["run_id"])
    generated = runs["synthesize"].inputs.dataset_inputs[0].dataset
    gen_ref = Ref(path=json.loads(generated.source)["uri"], sha256=generated.digest)
    imported = pd.DataFrame({"text_a": ["x ."], "text_b": [""], "label": [1]})
    imp_path = Path(tmp) / "imported.parquet"
    imported.to_parquet(imp_path, index=False)
    ref = join_tables.fn(config, [Ref(str(imp_path), table_digest(imported)), gen_ref], "synthetic")
    joined = read_table(ref)
    assert list(joined.columns) == [c for c in CONTRACT_COLUMNS if c in joined.columns]
    assert "cluster" not in joined.columns and len(joined) == 5
    assert joined["weight"].tolist() == [1.0] * 5 and pd.isna(joined["seed"].iloc[0])
    assert ref.sha256 == table_digest(joined)


def test_a_failed_attribute_parse_keeps_its_raw_output_and_seed():
    """Stage A's answers are audited like stage B's: a failure is kept with its raw text."""
    result = SynthesisResult(
        rows=(),
        attribute_parses=(parse_attributes("- short\n- upbeat"), parse_attributes("no list")),
        example_parses=(),
        counts={},
    )
    frame = attribute_frame(result, seed=SEED)
    assert frame["seed"].tolist() == [SEED, SEED + 1]
    assert frame["ok"].tolist() == [True, False]
    assert frame["attributes"].tolist() == ["short | upbeat", ""]
    assert frame.loc[1, "raw_output"] == "no list" and frame.loc[1, "reason"]


def test_the_api_key_can_come_from_a_prefect_secret_block(prefect_server, llm_server, tmp_path):
    from prefect.blocks.system import Secret

    from tasks.preflight import PreflightError, check_environment
    from tasks.synthesis import load_generator

    key = f"sk-secret-{uuid.uuid4().hex}"
    Secret(value=key).save("synprompt-test-llm-key", overwrite=True)
    raw = smoke_config(tmp_path, tmp_path, max_steps=1)
    raw["backbone"] = {"kind": "sentence", "model": "minilm"}  # no folder read below
    raw["alignment"] = {
        "generation": {
            "enabled": True,
            "backend": "openai",
            "model": "scripted",
            "base_url": f"http://127.0.0.1:{llm_server.server_port}",
            "api_key_env": "SYNPROMPT_TEST_UNSET_KEY",
            "api_key_secret": "synprompt-test-llm-key",
        }
    }
    config = PipelineConfig.model_validate(raw)
    backend = load_generator(config)
    assert key not in repr(backend)
    backend.generate(["Here are two rows"], max_new_tokens=8, temperature=0.0, seed=7)
    assert llm_server.seen[-1][1:] == (f"Bearer {key}", 7)

    raw["alignment"]["generation"]["api_key_secret"] = "no-such-secret"
    missing = PipelineConfig.model_validate(raw)
    with pytest.raises(PreflightError, match="no Prefect Secret block named 'no-such-secret'"):
        check_environment(missing)
