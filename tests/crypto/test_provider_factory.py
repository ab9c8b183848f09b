from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.crypto.providers import (
    PROVIDER_KINDS,
    EnvKeyProvider,
    FileKeyProvider,
    Pkcs11KeyProvider,
    create_provider,
    key_file_path,
    open_provider,
    signed_note_key_hash,
)
from registry.crypto.providers.base import public_key_hash, raw_public_key
from registry.errors import ConfigurationError
from tests.crypto.conftest import SoftHsm


def test_kinds() -> None:
    assert PROVIDER_KINDS == ("file", "env", "pkcs11")


def test_file_kind(tmp_path: Path) -> None:
    assert key_file_path(tmp_path) == tmp_path / "keys.json"
    with pytest.raises(ConfigurationError, match="does not exist"):
        open_provider("file", data_dir=tmp_path, environ={})
    created = create_provider("file", data_dir=tmp_path, environ={})
    assert isinstance(created, FileKeyProvider)
    opened = open_provider("file", data_dir=tmp_path, environ={})
    assert opened.key_id == created.key_id
    with pytest.raises(ConfigurationError, match="already exists"):
        create_provider("file", data_dir=tmp_path, environ={})


def test_env_kind(tmp_path: Path) -> None:
    environ = {"REGISTRY_KEK": EnvKeyProvider.generate_value()}
    opened = open_provider("env", data_dir=tmp_path, environ=environ)
    created = create_provider("env", data_dir=tmp_path, environ=environ)
    assert isinstance(opened, EnvKeyProvider) and isinstance(created, EnvKeyProvider)
    assert opened.key_id == created.key_id
    with pytest.raises(ConfigurationError, match="REGISTRY_KEK is not set"):
        create_provider("env", data_dir=tmp_path, environ={})
    assert not list(tmp_path.iterdir())  # env never writes to the data directory


def test_pkcs11_kind_needs_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_provider("pkcs11", data_dir=tmp_path, environ={"REGISTRY_PKCS11_PIN": "1234"})
    assert "REGISTRY_PKCS11_MODULE, REGISTRY_PKCS11_TOKEN" in str(info.value)
    assert "1234" not in str(info.value)


def test_pkcs11_kind(tmp_path: Path, softhsm: SoftHsm) -> None:
    environ = {
        "REGISTRY_PKCS11_MODULE": str(softhsm.module),
        "REGISTRY_PKCS11_TOKEN": softhsm.token,
        "REGISTRY_PKCS11_PIN": softhsm.pin,
    }
    created = create_provider("pkcs11", data_dir=tmp_path, environ=environ)
    assert isinstance(created, Pkcs11KeyProvider)
    key_id = created.key_id
    created.close()
    with open_provider("pkcs11", data_dir=tmp_path, environ=environ) as opened:  # type: ignore[attr-defined]
        assert opened.key_id == key_id
    assert not list(tmp_path.glob("keys.json"))


@pytest.mark.parametrize("kind", ["", "File", "hsm", "vault"])
def test_unknown_kind(tmp_path: Path, kind: str) -> None:
    for factory in (open_provider, create_provider):
        with pytest.raises(ConfigurationError, match="unknown key provider"):
            factory(kind, data_dir=tmp_path, environ={})


def test_key_hashes() -> None:
    public = Ed25519PrivateKey.generate().public_key()
    raw = raw_public_key(public)
    assert public_key_hash(public) == hashlib.sha256(raw).digest()[:4]
    # C2SP signed-note: SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[:4]
    expected = hashlib.sha256(b"registry.example/audit\n\x01" + raw).digest()[:4]
    assert signed_note_key_hash("registry.example/audit", public) == expected
    assert signed_note_key_hash("other", public) != expected
