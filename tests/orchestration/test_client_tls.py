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
    installed = (SyncPrefectClient.__init__, PrefectClient.__init__)
    assert client_tls.install() is True  # and installing again changes nothing
    assert (SyncPrefectClient.__init__, PrefectClient.__init__) == installed


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


def self_signed(folder) -> tuple[str, str]:
    """A throwaway certificate and key (cryptography, a dependency of mlflow)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "synprompt-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "client.pem", folder / "client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_a_client_certificate_never_reaches_the_shared_context(tmp_path):
    """httpx loads a client certificate into the context it is given: handed the shared
    one, every later client of the process would present that certificate."""
    assert client_tls.install()
    with_cert = SyncPrefectClient(API, httpx_settings={"cert": self_signed(tmp_path)})
    shared = client_tls.shared_context()
    assert verify_of(with_cert) is not shared
    assert verify_of(SyncPrefectClient(API)) is shared
