"""Prefect API clients share one TLS context per process (flows/client_tls.py)."""

from __future__ import annotations

import ssl

from prefect.client.orchestration import PrefectClient, SyncPrefectClient

from flows import client_tls

API = "http://127.0.0.1:9/api"


def verify_of(client) -> object:
    return client._client._transport._pool._ssl_context


def test_the_pipeline_modules_install_the_shared_context():
    import flows.pipeline  # noqa: F401 - the import installs it

    assert getattr(SyncPrefectClient.__init__, "_synprompt_shared_tls", False)
    assert getattr(PrefectClient.__init__, "_synprompt_shared_tls", False)
    assert client_tls.install() is True  # and installing again changes nothing


def test_clients_share_one_verifying_context():
    assert client_tls.install()
    first, second = SyncPrefectClient(API), PrefectClient(API)
    shared = client_tls.shared_context()
    assert verify_of(first) is shared and verify_of(second) is shared
    assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname


def test_insecure_setting_gets_its_own_unverified_context():
    from prefect.settings import PREFECT_API_TLS_INSECURE_SKIP_VERIFY, temporary_settings

    assert client_tls.install()
    with temporary_settings(updates={PREFECT_API_TLS_INSECURE_SKIP_VERIFY: True}):
        context = verify_of(SyncPrefectClient(API))
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert verify_of(SyncPrefectClient(API)).verify_mode == ssl.CERT_REQUIRED


def test_a_callers_own_verify_is_kept():
    assert client_tls.install()
    own = ssl.create_default_context()
    client = SyncPrefectClient(API, httpx_settings={"verify": own})
    assert verify_of(client) is own
