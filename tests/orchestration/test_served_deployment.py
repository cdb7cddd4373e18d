"""A real Prefect server on 127.0.0.1, the smoke parameters served, a run triggered by API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.orchestration.cli_runs import stop_group
from tests.orchestration.conftest import smoke_config

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check, *, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}")
        try:
            value = check()
            if value:
                return value
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "true",
        "PREFECT_UI_ENABLED": "false",
    }
    command = [PY, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-services"]
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home, start_new_session=True
    )
    try:
        _wait(
            lambda: urllib.request.urlopen(f"{url}/health", timeout=2).status == 200,
            timeout=90,
            what="prefect server /api/health",
            proc=proc,
        )
        yield env
    finally:
        stop_group(proc)
        log.close()


@pytest.fixture(scope="module")
def served(server, tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    params = tmp / "smoke-tiny.yaml"
    config = smoke_config(tmp, tiny_encoder, max_steps=2, eval_every=2, checkpoint_every=2)
    config["tracking"]["experiment"] = "served"
    params.write_text(yaml.safe_dump(config))
    log = open(tmp / "serve.log", "w")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [PY, str(ROOT / "deployments" / "serve.py"), "--params", str(params)],
        env=server,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield server, config, proc
    finally:
        stop_group(proc)
        log.close()


def test_served_smoke_deployment_runs_and_is_tracked(served):
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    env, config, proc = served
    name = "synprompt-pipeline/smoke-tiny-served"  # never the pool deployment's name
    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
        with get_client(sync_client=True) as client:
            deployment = _wait(
                lambda: client.read_deployment_by_name(name),
                timeout=90,
                what="served deployment",
                proc=proc,
            )
        assert deployment.parameters["config"]["data"]["task"] == "SST-2"
        flow_run = run_deployment(name, timeout=180, poll_interval=1)
    assert flow_run.state.is_completed(), flow_run.state

    uri = f"sqlite:///{Path(config['tracking']['output_dir']).resolve() / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("served")
    parents = client.search_runs(
        [experiment.experiment_id], f"tags.`prefect.flow_run_id` = '{flow_run.id}'"
    )
    parent = next(r for r in parents if r.data.tags["synprompt.stage"] == "pipeline")
    assert parent.info.status == "FINISHED" and "test_accuracy" in parent.data.metrics
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert "prompt_tuning" in {c.data.tags["synprompt.stage"] for c in children}
    assert all(c.info.status == "FINISHED" for c in children)


def test_deployed_to_the_process_pool_and_run_by_a_worker(server, tiny_encoder, tmp_path):
    """The README's path: a work pool, `synprompt deploy`, a triggered run, a worker."""
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    env = server
    params = tmp_path / "pooled-tiny.yaml"
    config = smoke_config(tmp_path, tiny_encoder, max_steps=2, eval_every=2, checkpoint_every=2)
    config["tracking"]["experiment"] = "pooled"
    params.write_text(yaml.safe_dump(config))
    prefect = [PY, "-m", "prefect"]
    pool = [*prefect, "work-pool", "create", "synprompt-process", "--type", "process"]
    subprocess.run(pool, env=env, cwd=tmp_path, check=True, capture_output=True)
    deploy = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "synprompt"), "deploy", "--params", str(params)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert deploy.returncode == 0, deploy.stderr
    assert "deployed pooled-tiny" in deploy.stdout
    _assert_one_crash_automation(env)
    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
        flow_run = run_deployment("synprompt-pipeline/pooled-tiny", timeout=0)
        worker = [*prefect, "worker", "start", "--pool", "synprompt-process", "--run-once"]
        subprocess.run(worker, env=env, cwd=tmp_path, check=True, capture_output=True, timeout=300)
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(flow_run.id).state
    assert state.is_completed(), state

    uri = f"sqlite:///{Path(config['tracking']['output_dir']).resolve() / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("pooled")
    (parent,) = client.search_runs(
        [experiment.experiment_id],
        f"tags.`prefect.flow_run_id` = '{flow_run.id}' and tags.`synprompt.stage` = 'pipeline'",
    )
    assert parent.info.status == "FINISHED" and "test_accuracy" in parent.data.metrics


def _assert_one_crash_automation(env: dict) -> None:
    """`deploy` left exactly one automation that crashes runs whose heartbeats stop."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli import _deployments_module

    module = _deployments_module()
    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
        again = module.ensure_crash_automation()  # a second deploy adds no duplicate
        with get_client(sync_client=True) as client:
            (automation,) = client.read_automations_by_name(module.CRASH_AUTOMATION)
    assert str(automation.id) == again
    trigger, (action,) = automation.trigger, automation.actions
    assert trigger.posture == "Proactive" and trigger.after == {"prefect.flow-run.heartbeat"}
    assert "prefect.flow-run.Completed" in trigger.expect
    assert trigger.within.total_seconds() == 3 * 180  # three missed default heartbeats
    assert action.type == "change-flow-run-state" and action.state == "CRASHED"
