"""Pkcs11KeyProvider against a real SoftHSM2 token (see the `softhsm` fixture)."""

from __future__ import annotations

import gc
import os
import subprocess
from collections.abc import Iterator

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams

from registry.crypto.ciphertext import DecryptionError
from registry.crypto.providers import KeyProvider, Pkcs11KeyProvider
from registry.crypto.providers.pkcs11 import _ed25519_public_key
from registry.crypto.providers.wrapped import WrappedKey
from registry.errors import ConfigurationError, Unavailable
from tests.crypto.conftest import SoftHsm

DEK = bytes(range(32))
AAD = b"person:p-0001|casefile|1"


@pytest.fixture
def provider(softhsm: SoftHsm) -> Iterator[Pkcs11KeyProvider]:
    p = Pkcs11KeyProvider.initialise(softhsm.module, softhsm.token, softhsm.pin)
    yield p
    p.close()


def side_session(softhsm: SoftHsm) -> pkcs11.Session:
    """A second session in this process: it shares the provider's login."""
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.token)
    return token.open(rw=True)


def labels(session: pkcs11.Session, object_class: ObjectClass) -> list[str]:
    return sorted(o.label for o in session.get_objects({Attribute.CLASS: object_class}))


def test_open_before_initialise_is_refused(softhsm: SoftHsm) -> None:
    with pytest.raises(ConfigurationError, match="initialise it first"):
        Pkcs11KeyProvider(softhsm.module, softhsm.token, softhsm.pin)


def test_initialise_creates_non_extractable_keys(provider: Pkcs11KeyProvider, softhsm: SoftHsm) -> None:
    assert isinstance(provider, KeyProvider)
    assert provider.name == "pkcs11" and provider.kek_version == 1
    session = side_session(softhsm)
    try:
        assert labels(session, ObjectClass.SECRET_KEY) == ["registry-kek-1"]
        assert labels(session, ObjectClass.PRIVATE_KEY) == ["registry-signing"]
        assert labels(session, ObjectClass.PUBLIC_KEY) == ["registry-signing"]
        kek = session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label="registry-kek-1")
        signer = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC_EDWARDS, "registry-signing")
        for key in (kek, signer):
            assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
            assert key[Attribute.NEVER_EXTRACTABLE] and key[Attribute.LOCAL]
            assert key[Attribute.TOKEN] and key[Attribute.PRIVATE]
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                key[Attribute.VALUE]
        assert kek[Attribute.VALUE_LEN] == 32
        assert not kek[Attribute.WRAP] and not kek[Attribute.UNWRAP]
    finally:
        session.close()


def test_initialise_is_idempotent(provider: Pkcs11KeyProvider, softhsm: SoftHsm) -> None:
    wrapped, key_id = provider.wrap(DEK, aad=AAD), provider.key_id
    provider.close()
    with Pkcs11KeyProvider.initialise(softhsm.module, softhsm.token, softhsm.pin) as again:
        assert again.key_id == key_id
        assert again.kek_version == 1
        assert again.unwrap(wrapped, aad=AAD) == DEK


def test_wrap_unwrap_with_aad(provider: Pkcs11KeyProvider) -> None:
    wrapped = provider.wrap(DEK, aad=AAD)
    parsed = WrappedKey.parse(wrapped)
    assert parsed.kek_version == 1 and len(parsed.sealed) == len(DEK) + 16
    assert provider.unwrap(wrapped, aad=AAD) == DEK
    assert provider.wrap(DEK, aad=AAD) != wrapped
    with pytest.raises(DecryptionError):
        provider.unwrap(wrapped, aad=AAD + b"x")
    short = bytes(range(16))  # an SM4 data key
    assert provider.unwrap(provider.wrap(short, aad=b""), aad=b"") == short


@pytest.mark.parametrize("index", [0, 1, 4, 5, 17, -1])
def test_tampered_wrap_fails(provider: Pkcs11KeyProvider, index: int) -> None:
    wrapped = bytearray(provider.wrap(DEK, aad=AAD))
    wrapped[index] ^= 0x80
    with pytest.raises(DecryptionError):
        provider.unwrap(bytes(wrapped), aad=AAD)


@pytest.mark.parametrize("wrapped", [b"", b"\x01" * 20, None])
def test_malformed_wrap_fails(provider: Pkcs11KeyProvider, wrapped: object) -> None:
    with pytest.raises(DecryptionError):
        provider.unwrap(wrapped, aad=AAD)  # type: ignore[arg-type]


def test_rotate_keeps_old_wraps_and_uses_new_version(provider: Pkcs11KeyProvider, softhsm: SoftHsm) -> None:
    old = provider.wrap(DEK, aad=AAD)
    assert provider.rotate_kek() == 2
    assert provider.kek_version == 2
    new = provider.wrap(DEK, aad=AAD)
    assert WrappedKey.parse(new).kek_version == 2
    assert provider.unwrap(old, aad=AAD) == provider.unwrap(new, aad=AAD) == DEK
    relabelled = old[:1] + (2).to_bytes(4, "big") + old[5:]
    with pytest.raises(DecryptionError):
        provider.unwrap(relabelled, aad=AAD)
    with pytest.raises(DecryptionError):
        provider.unwrap(old[:1] + (7).to_bytes(4, "big") + old[5:], aad=AAD)
    provider.close()
    with Pkcs11KeyProvider(softhsm.module, softhsm.token, softhsm.pin) as reopened:
        assert reopened.kek_version == 2
        assert reopened.unwrap(old, aad=AAD) == reopened.unwrap(new, aad=AAD) == DEK
        assert "kek_versions=[1, 2]" in repr(reopened)


def test_rotation_by_another_process_is_found(provider: Pkcs11KeyProvider, softhsm: SoftHsm) -> None:
    # Another process adds KEK v2 and wraps with it: plain CKM_AES_GCM over the same
    # layout, which also pins the wire format.
    session = side_session(softhsm)
    try:
        kek2 = session.generate_key(
            KeyType.AES,
            256,
            label="registry-kek-2",
            store=True,
            template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
        )
        nonce = os.urandom(12)
        header = WrappedKey(2, nonce, b"")
        sealed = kek2.encrypt(
            DEK,
            mechanism=Mechanism.AES_GCM,
            mechanism_param=GCMParams(nonce, header.associated_data(AAD)),
        )
    finally:
        session.close()
    foreign = WrappedKey(2, nonce, bytes(sealed)).to_bytes()
    assert provider.unwrap(foreign, aad=AAD) == DEK  # refreshed on the unknown version
    assert provider.kek_version == 2
    assert provider.rotate_kek() == 3


def test_duplicate_kek_label_is_refused(provider: Pkcs11KeyProvider, softhsm: SoftHsm) -> None:
    session = side_session(softhsm)
    try:
        session.generate_key(KeyType.AES, 256, label="registry-kek-1", store=True)
    finally:
        session.close()
    provider.close()
    with pytest.raises(ConfigurationError, match="ambiguous"):
        Pkcs11KeyProvider(softhsm.module, softhsm.token, softhsm.pin)


def test_sign_and_verify(provider: Pkcs11KeyProvider) -> None:
    signature = provider.sign(b"checkpoint body")
    assert len(signature) == 64
    provider.public_key().verify(signature, b"checkpoint body")
    with pytest.raises(InvalidSignature):
        provider.public_key().verify(signature, b"other body")
    assert len(provider.key_hash) == 4
    assert provider.key_id == provider.key_hash.hex()


def test_custom_labels(softhsm: SoftHsm) -> None:
    with Pkcs11KeyProvider.initialise(
        softhsm.module,
        softhsm.token,
        softhsm.pin,
        kek_label_prefix="tenant-a-kek",
        signing_label="tenant-a-signing",
    ) as p:
        assert p.rotate_kek() == 2
        assert p.unwrap(p.wrap(DEK, aad=AAD), aad=AAD) == DEK
        p.public_key().verify(p.sign(b"m"), b"m")
        session = side_session(softhsm)
        try:
            assert labels(session, ObjectClass.SECRET_KEY) == ["tenant-a-kek-1", "tenant-a-kek-2"]
        finally:
            session.close()
    with pytest.raises(ConfigurationError, match="initialise it first"):
        Pkcs11KeyProvider(softhsm.module, softhsm.token, softhsm.pin)


def test_missing_signing_key_is_refused(provider: Pkcs11KeyProvider, softhsm: SoftHsm) -> None:
    provider.close()
    with pytest.raises(ConfigurationError, match="exactly one Ed25519 key pair"):
        Pkcs11KeyProvider(softhsm.module, softhsm.token, softhsm.pin, signing_label="absent")


def test_check_and_close(provider: Pkcs11KeyProvider) -> None:
    provider.check()
    wrapped = provider.wrap(DEK, aad=AAD)
    provider.close()
    provider.close()  # idempotent
    for operation in (
        provider.check,
        lambda: provider.wrap(DEK, aad=AAD),
        lambda: provider.unwrap(wrapped, aad=AAD),
        lambda: provider.sign(b"m"),
        provider.rotate_kek,
    ):
        with pytest.raises(Unavailable):
            operation()


def test_one_logged_in_provider_per_process(provider: Pkcs11KeyProvider, softhsm: SoftHsm) -> None:
    # The token would not even check this PIN while the process is logged in.
    with pytest.raises(ConfigurationError, match="already holds a logged-in session"):
        Pkcs11KeyProvider(softhsm.module, softhsm.token, "wrong")
    provider.check()  # the refused attempt did not log the first provider out


def test_discarded_provider_releases_its_login(softhsm: SoftHsm) -> None:
    p = Pkcs11KeyProvider.initialise(softhsm.module, softhsm.token, softhsm.pin)
    del p
    gc.collect()
    with Pkcs11KeyProvider(softhsm.module, softhsm.token, softhsm.pin) as again:
        again.check()


def test_wrong_pin_unknown_token_bad_module(softhsm: SoftHsm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match="check the PIN") as info:
        Pkcs11KeyProvider(softhsm.module, softhsm.token, "987654")
    assert "987654" not in str(info.value)
    with pytest.raises(ConfigurationError, match="no PKCS#11 token labelled 'absent'"):
        Pkcs11KeyProvider(softhsm.module, "absent", softhsm.pin)
    with pytest.raises(ConfigurationError, match="cannot load PKCS#11 module"):
        Pkcs11KeyProvider(tmp_path / "missing.so", softhsm.token, softhsm.pin)


def test_repr_hides_pin(provider: Pkcs11KeyProvider, softhsm: SoftHsm) -> None:
    text = repr(provider) + str(provider)
    assert text.startswith("Pkcs11KeyProvider(token='test', kek_versions=[1])")
    assert softhsm.pin not in text


def test_ec_point_forms() -> None:
    raw = bytes(range(32))
    assert _ed25519_public_key(b"\x04\x20" + raw).public_bytes_raw() == raw
    assert _ed25519_public_key(raw).public_bytes_raw() == raw
    for bad in (b"", raw[:31], b"\x04\x21" + raw + b"\x00", b"\x03\x20" + raw):
        with pytest.raises(ConfigurationError, match="not an Ed25519 key"):
            _ed25519_public_key(bad)


def test_kek_version_space_is_bounded(provider: Pkcs11KeyProvider, softhsm: SoftHsm) -> None:
    session = side_session(softhsm)
    try:
        session.generate_key(KeyType.AES, 256, label="registry-kek-4294967295", store=True)
    finally:
        session.close()
    with pytest.raises(ConfigurationError, match="exhausted"):
        provider.rotate_kek()


def test_out_of_range_kek_label_is_refused(provider: Pkcs11KeyProvider, softhsm: SoftHsm) -> None:
    session = side_session(softhsm)
    try:
        session.generate_key(KeyType.AES, 256, label="registry-kek-4294967296", store=True)
        session.generate_key(KeyType.AES, 256, label="registry-kek-01", store=True)  # ignored
    finally:
        session.close()
    provider.close()
    with pytest.raises(ConfigurationError, match="invalid KEK 'registry-kek-4294967296'"):
        Pkcs11KeyProvider(softhsm.module, softhsm.token, softhsm.pin)


def test_two_tokens_with_one_label_are_refused(softhsm: SoftHsm) -> None:
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            softhsm.token,
            "--pin",
            softhsm.pin,
            "--so-pin",
            softhsm.so_pin,
        ],
        check=True,
        capture_output=True,
    )
    pkcs11.lib(str(softhsm.module)).reinitialize()
    with pytest.raises(ConfigurationError, match="more than one PKCS#11 token"):
        Pkcs11KeyProvider.initialise(softhsm.module, softhsm.token, softhsm.pin)
