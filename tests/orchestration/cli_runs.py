"""Run ``synprompt run`` in child processes (own process group, own Prefect home)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SYNPROMPT = REPO / ".venv" / "bin" / "synprompt"
QUIET = {
    "HF_HUB_OFFLINE": "1",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def cli_env(prefect_home: Path, **extra: str) -> dict[str, str]:
    """This process's environment, offline and quiet, with its own Prefect home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(QUIET, PREFECT_HOME=str(prefect_home), **extra)
    return env


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def start_run(
    config: Path, env: dict[str, str], log: Path, *, verb: str = "run"
) -> subprocess.Popen:
    """``synprompt run CONFIG`` (or another ``verb``) in a new session, so its whole group
    can be killed."""
    command = [str(SYNPROMPT), verb, str(config)] if SYNPROMPT.exists() else None
    if command is None:  # not installed as a script: call the Typer app directly
        command = [sys.executable, "-c", "from flows.cli import app; app()", verb, str(config)]
    handle = open(log, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    proc.log_handle = handle  # type: ignore[attr-defined]
    return proc


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started (Prefect's server, workers)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=30)
    finally:
        proc.log_handle.close()  # type: ignore[attr-defined]


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM a server's process group, SIGKILL it if it is still there after 15 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def finish(proc: subprocess.Popen, log: Path, *, timeout: float) -> str:
    """Wait for a run to end (killing its group past ``timeout``); its output, checked."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired as err:
        kill_group(proc)
        message = f"run timed out after {timeout}s:\n{log.read_text()[-4000:]}"
        raise AssertionError(message) from err
    kill_group(proc)  # reap anything it left behind in its group
    text = log.read_text()
    assert proc.returncode == 0, f"run failed ({proc.returncode}):\n{text[-4000:]}"
    return text


def run_to_end(config: Path, env: dict[str, str], log: Path, *, timeout: float = 100) -> str:
    return finish(start_run(config, env, log), log, timeout=timeout)


def run_id_of(output: str) -> tuple[str, str]:
    """(run id, tracking uri) from ``synprompt run``'s last lines."""
    found = re.search(r"MLflow run: (\w+)\s+\(store: (\S+)\)", output)
    assert found, f"no MLflow run line in output:\n{output[-2000:]}"
    return found.group(1), found.group(2)


def wait_for(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_prefect_server(home: Path) -> tuple[subprocess.Popen, str]:
    """``prefect server start`` on 127.0.0.1 in ``home`` (no UI, no services); (proc, api url).

    Call :func:`wait_for_server` before use and :func:`kill_group` when done.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = cli_env(home, PREFECT_API_URL=url, PREFECT_UI_ENABLED="false")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-services"]
    handle = open(home / "server.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        command, cwd=home, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    proc.log_handle = handle  # type: ignore[attr-defined]
    return proc, url


def wait_for_server(proc: subprocess.Popen, url: str, *, timeout: float = 90) -> None:
    import urllib.request

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"prefect server exited with {proc.returncode}")
        try:
            return urllib.request.urlopen(f"{url}/health", timeout=2).status == 200
        except OSError:
            return False

    wait_for(healthy, timeout=timeout, interval=0.5, what="the prefect server")
