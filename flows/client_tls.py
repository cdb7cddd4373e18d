"""One TLS context per process for Prefect's API clients, not one per client.

Prefect 3.8 builds a fresh ``ssl.SSLContext`` in every ``PrefectClient`` and
``SyncPrefectClient`` it constructs, loading the whole CA bundle each time (about 40 ms).
A flow run opens one client, and a stage subflow another (the async client that records
its task run in the parent), so every pipeline run paid for two or more bundle loads, even
against an ``http://`` API that never uses them. :func:`install` hands each new client a
context built once per set of TLS settings instead: the same verification as Prefect's
(``PREFECT_API_TLS_INSECURE_SKIP_VERIFY``, ``PREFECT_API_SSL_CERT_FILE``, else certifi's
bundle). A client given its own ``verify`` or ``cert`` in ``httpx_settings`` builds its own
context, as before (httpx loads a client certificate into the context it is handed).
"""

from __future__ import annotations

import functools
import ssl
import threading

_LOCK = threading.Lock()
_CONTEXTS: dict[tuple[bool, str], ssl.SSLContext] = {}


def shared_context() -> ssl.SSLContext:
    """The context Prefect would build for the current settings, built once per settings."""
    import certifi
    from prefect.settings import PREFECT_API_SSL_CERT_FILE, PREFECT_API_TLS_INSECURE_SKIP_VERIFY

    insecure = bool(PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value())
    cert_file = "" if insecure else (PREFECT_API_SSL_CERT_FILE.value() or certifi.where())
    key = (insecure, cert_file)
    with _LOCK:
        context = _CONTEXTS.get(key)
        if context is None:
            if insecure:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                context = ssl.create_default_context(cafile=cert_file)
            _CONTEXTS[key] = context
        return context


def _with_shared_context(init):
    @functools.wraps(init)
    def __init__(self, *args, httpx_settings=None, **kwargs):
        if not {"verify", "cert"} & set(httpx_settings or {}):  # a caller's own TLS is kept
            httpx_settings = {**(httpx_settings or {}), "verify": shared_context()}
        init(self, *args, httpx_settings=httpx_settings, **kwargs)

    __init__._synprompt_shared_tls = True
    return __init__


def install() -> bool:
    """Give every Prefect API client of this process the shared context; idempotent.

    Left alone (returns False) on a Prefect whose clients take no ``httpx_settings``.
    """
    import inspect

    from prefect.client.orchestration import PrefectClient, SyncPrefectClient

    for cls in (PrefectClient, SyncPrefectClient):
        init = cls.__init__
        if getattr(init, "_synprompt_shared_tls", False):
            continue
        if "httpx_settings" not in inspect.signature(init).parameters:
            return False
        cls.__init__ = _with_shared_context(init)
    return True
