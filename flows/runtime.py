"""The CLI's process: offline defaults, signals that stop a run, a Prefect API that outlives them.

A Ctrl-C reaches the whole foreground process group. Prefect's temporary server is a child
in that group, so it used to die with the run, and every state the engine then reported
was retried against a closed port for minutes. Here the run owns a server in its own
session, stopped when the process exits (after Prefect has sent its last logs and events),
and SIGINT/SIGTERM become an :class:`Interrupted` raised in the main thread.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULTS = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
DATABASE_MODULES = ("sqlite3", "sqlalchemy", "alembic", "mlflow.store")
RECHECK_SECONDS = 0.02
MAX_DEFER_SECONDS = 5.0


def apply_defaults() -> None:
    """Set each default unless the user already chose a value."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread; Prefect records it as a crash."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def in_database_call(frame) -> bool:
    """Whether the stack holds SQLite/SQLAlchemy code (an MLflow write, say).

    An exception raised there leaves the write's transaction open for as long as its
    traceback lives, so the run's own cleanup (ending its MLflow runs FAILED) would wait
    on that lock and time out.
    """
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(DATABASE_MODULES):
            return True
        frame = frame.f_back
    return False


class _StopHandler:
    """Raise :class:`Interrupted` at the next point outside a database call."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.since = 0.0
        self.recheck = False
        self.raised = False
        self.closed = False
        self.timer: threading.Timer | None = None

    def __call__(self, signum: int, frame) -> None:
        if self.recheck:  # our own re-delivery: keep the signal that was sent
            self.recheck = False
        else:
            self.signum, self.since = signum, time.monotonic()
        deferred = time.monotonic() - self.since < MAX_DEFER_SECONDS
        if deferred and in_database_call(frame):
            self._recheck_later()
            return
        self.raised = True
        raise Interrupted(self.signum)

    def _recheck_later(self) -> None:
        self.timer = threading.Timer(RECHECK_SECONDS, self._redeliver)
        self.timer.daemon = True
        self.timer.start()

    def _redeliver(self) -> None:
        # a real signal, not _thread.interrupt_main: it also breaks a blocking wait (a
        # stage lock, a device slot) that the main thread entered after the write
        if self.closed or self.raised:
            return
        self.recheck = True
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        # A signal that lands just before the main thread enters a blocking wait is not
        # seen until the wait ends (hours, for a stage lock): send it again until the
        # handler has taken it (it clears ``recheck``).
        time.sleep(RECHECK_SECONDS)
        if self.recheck and not self.closed:
            self._recheck_later()

    def pending(self) -> int | None:
        """A signal still waiting for its re-delivery (none once raised); cancels it."""
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        return None if self.raised else self.signum


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread while inside.

    Installed even where the process inherited SIGINT as ignored (a job started with
    ``&`` from a script): whoever sends SIGINT to a run means to stop it. Prefect swaps SIGTERM
    for its own handler while a flow runs and re-sends the signal to this one once the
    flow has recorded the crash; a ``TerminationSignal`` that still escapes is converted.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return
    handler = _StopHandler()
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    except BaseException as err:
        prefect_exceptions = sys.modules.get("prefect.exceptions")
        if prefect_exceptions and isinstance(err, prefect_exceptions.TerminationSignal):
            raise Interrupted(err.signal) from err
        raise
    finally:
        unhandled = handler.pending()
        for signum, old in previous.items():
            signal.signal(signum, old)
    if unhandled is not None:  # it came during the block's last write: stop all the same
        raise Interrupted(unhandled)


class PrefectServerError(RuntimeError):
    """The temporary Prefect server did not start."""


def _die_with_parent():
    """A ``preexec_fn`` asking Linux to SIGTERM the child when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the call
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryServer:
    """``prefect server start`` (API only) on a free port, in a session of its own."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        command = [sys.executable, "-m", "prefect", "server", "start", "--no-services"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "WARNING"]
        env = {**os.environ, "PREFECT_UI_ENABLED": "false"}
        env.pop("PREFECT_API_URL", None)
        self.process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C to the run's process group misses it
            preexec_fn=_die_with_parent(),
        )

    def wait_until_healthy(self, timeout: float) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrefectServerError(f"exited with {self.process.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise PrefectServerError(f"not healthy after {timeout:.0f}s: {self.tail()}")

    def tail(self) -> str:
        self.log.seek(0)
        return self.log.read()[-2000:].decode(errors="replace").strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@contextmanager
def prefect_api() -> Iterator[str]:
    """The configured Prefect API, or a temporary local one that a Ctrl-C cannot kill.

    With no ``PREFECT_API_URL`` Prefect would start its own temporary server as a child in
    this process group. This one runs in its own session and is stopped at exit, after
    Prefect's exit hooks have drained the logs and events still queued for it.
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        PREFECT_UI_URL,
        temporary_settings,
    )

    configured = PREFECT_API_URL.value()
    if configured or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        yield configured  # with neither, Prefect says how to start a server
        return
    server = TemporaryServer()
    print(f"starting a temporary Prefect server on {server.api_url} (pid {server.process.pid})")
    try:
        server.wait_until_healthy(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    except BaseException:
        server.stop()
        raise
    atexit.register(server.stop)
    # PREFECT_UI_URL empty: no "View at" links to a dashboard this server does not serve
    with temporary_settings(updates={PREFECT_API_URL: server.api_url, PREFECT_UI_URL: ""}):
        yield server.api_url
