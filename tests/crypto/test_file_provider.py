from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature

from registry.crypto.ciphertext import DecryptionError
from registry.crypto.providers import FileKeyProvider, KeyProvider
from registry.crypto.providers.base import public_key_hash, raw_public_key
from registry.errors import ConfigurationError, Unavailable
from tests.crypto.conftest import assert_hidden

DEK = bytes(range(32))
AAD = b"person:p-0001|identity|1"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "keys.json"


@pytest.fixture
def provider(path: Path) -> FileKeyProvider:
    return FileKeyProvider.create(path)


def file_secrets(path: Path) -> list[bytes]:
    doc = json.loads(path.read_bytes())
    return [base64.b64decode(v) for v in doc["keks"].values()] + [base64.b64decode(doc["signing_seed"])]


def test_create_writes_a_0600_file_and_opens(provider: FileKeyProvider, path: Path) -> None:
    assert isinstance(provider, KeyProvider)
    assert provider.name == "file"
    assert provider.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert provider.kek_version == 1
    doc = json.loads(path.read_bytes())
    assert doc["format"] == "registry-keys/1" and doc["current_kek"] == 1
    # No temp file left behind next to the key file.
    assert sorted(p.name for p in path.parent.iterdir()) == ["keys.json"]


def test_create_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        FileKeyProvider.create(tmp_path / "keys.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600


def test_create_refuses_to_overwrite(provider: FileKeyProvider, path: Path) -> None:
    before = path.read_bytes()
    with pytest.raises(ConfigurationError, match="already exists"):
        FileKeyProvider.create(path)
    assert path.read_bytes() == before


def test_reopen_reads_the_same_keys(provider: FileKeyProvider, path: Path) -> None:
    wrapped = provider.wrap(DEK, aad=AAD)
    again = FileKeyProvider(path)
    assert again.unwrap(wrapped, aad=AAD) == DEK
    assert again.key_hash == provider.key_hash


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666, 0o601, 0o610, 0o620])
def test_looser_mode_is_refused(provider: FileKeyProvider, path: Path, mode: int) -> None:
    path.chmod(mode)
    with pytest.raises(ConfigurationError) as info:
        FileKeyProvider(path)
    message = str(info.value)
    assert str(path) in message
    assert f"chmod 600 {path}" in message
    assert f"{mode:04o}" in message


def test_stricter_mode_is_accepted(provider: FileKeyProvider, path: Path) -> None:
    path.chmod(0o400)
    assert FileKeyProvider(path).kek_version == 1


def test_missing_or_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        FileKeyProvider(tmp_path / "absent.json")
    directory = tmp_path / "dir.json"
    directory.mkdir(mode=0o700)
    with pytest.raises(ConfigurationError, match="not a regular file"):
        FileKeyProvider(directory)


def test_unreadable_file(provider: FileKeyProvider, path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files regardless of mode")
    path.chmod(0o000)
    with pytest.raises(ConfigurationError, match="not readable"):
        FileKeyProvider(path)


def test_wrap_unwrap_with_aad(provider: FileKeyProvider) -> None:
    wrapped = provider.wrap(DEK, aad=AAD)
    assert wrapped[0] == 1 and wrapped[1:5] == (1).to_bytes(4, "big")
    assert provider.unwrap(wrapped, aad=AAD) == DEK
    assert provider.wrap(DEK, aad=AAD) != wrapped  # fresh nonce
    with pytest.raises(DecryptionError):
        provider.unwrap(wrapped, aad=AAD + b"x")
    with pytest.raises(DecryptionError):
        provider.unwrap(wrapped, aad=b"")


@pytest.mark.parametrize("index", [0, 1, 4, 5, 17, -1])
def test_tampered_wrap_fails(provider: FileKeyProvider, index: int) -> None:
    wrapped = bytearray(provider.wrap(DEK, aad=AAD))
    wrapped[index] ^= 0x01
    with pytest.raises(DecryptionError):
        provider.unwrap(bytes(wrapped), aad=AAD)


@pytest.mark.parametrize("wrapped", [b"", b"\x01" * 32, "text", None])
def test_malformed_wrap_fails(provider: FileKeyProvider, wrapped: object) -> None:
    with pytest.raises(DecryptionError):
        provider.unwrap(wrapped, aad=AAD)  # type: ignore[arg-type]


def test_wrap_from_another_key_file_fails(provider: FileKeyProvider, tmp_path: Path) -> None:
    other = FileKeyProvider.create(tmp_path / "other.json")
    with pytest.raises(DecryptionError):
        other.unwrap(provider.wrap(DEK, aad=AAD), aad=AAD)


def test_rotate_keeps_old_wraps_and_uses_new_version(provider: FileKeyProvider, path: Path) -> None:
    old = provider.wrap(DEK, aad=AAD)
    assert provider.rotate_kek() == 2
    assert provider.kek_version == 2
    new = provider.wrap(DEK, aad=AAD)
    assert int.from_bytes(old[1:5], "big") == 1
    assert int.from_bytes(new[1:5], "big") == 2
    assert provider.unwrap(old, aad=AAD) == provider.unwrap(new, aad=AAD) == DEK
    assert provider.rotate_kek() == 3
    # Persisted atomically, still 0600, readable by a fresh process.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reopened = FileKeyProvider(path)
    assert reopened.kek_version == 3
    assert reopened.unwrap(old, aad=AAD) == reopened.unwrap(new, aad=AAD) == DEK
    assert sorted(json.loads(path.read_bytes())["keks"]) == ["1", "2", "3"]
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_relabelled_kek_version_fails(provider: FileKeyProvider) -> None:
    wrapped = provider.wrap(DEK, aad=AAD)
    provider.rotate_kek()
    relabelled = wrapped[:1] + (2).to_bytes(4, "big") + wrapped[5:]
    with pytest.raises(DecryptionError):
        provider.unwrap(relabelled, aad=AAD)
    unknown = wrapped[:1] + (9).to_bytes(4, "big") + wrapped[5:]
    with pytest.raises(DecryptionError):
        provider.unwrap(unknown, aad=AAD)


def test_rotation_by_another_process_is_picked_up(provider: FileKeyProvider, path: Path) -> None:
    cli = FileKeyProvider(path)  # e.g. `registry keys rotate` in another process
    assert cli.rotate_kek() == 2
    from_cli = cli.wrap(DEK, aad=AAD)
    assert provider.unwrap(from_cli, aad=AAD) == DEK
    assert provider.kek_version == 2
    # Concurrent rotations extend the file rather than overwrite each other.
    assert provider.rotate_kek() == 3
    assert FileKeyProvider(path).kek_version == 3


def test_file_turned_bad_after_start_keeps_serving_but_check_fails(provider: FileKeyProvider, path: Path) -> None:
    wrapped = provider.wrap(DEK, aad=AAD)
    path.chmod(0o644)
    os.utime(path, ns=(1, 1))  # make the change visible to the stamp check
    assert provider.unwrap(wrapped, aad=AAD) == DEK
    with pytest.raises(Unavailable, match="chmod 600"):
        provider.check()
    path.chmod(0o600)
    provider.check()
    path.unlink()
    assert provider.unwrap(wrapped, aad=AAD) == DEK
    with pytest.raises(Unavailable, match="does not exist"):
        provider.check()


def test_sign_and_verify(provider: FileKeyProvider) -> None:
    signature = provider.sign(b"checkpoint body")
    assert len(signature) == 64
    public = provider.public_key()
    public.verify(signature, b"checkpoint body")
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"another body")
    assert provider.key_hash == public_key_hash(public)
    assert len(provider.key_hash) == 4
    assert provider.key_id == provider.key_hash.hex()
    assert len(raw_public_key(public)) == 32


def test_signing_key_survives_rotation(provider: FileKeyProvider) -> None:
    before = provider.key_id
    provider.rotate_kek()
    assert provider.key_id == before


def test_check_passes(provider: FileKeyProvider) -> None:
    provider.check()


def test_repr_hides_keys(provider: FileKeyProvider, path: Path) -> None:
    provider.rotate_kek()
    text = repr(provider) + str(provider)
    assert text.startswith("FileKeyProvider(path=")
    assert "kek_version=2" in text
    assert_hidden(text, *file_secrets(path))
    assert_hidden(repr(provider._keys), *file_secrets(path))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: "not json", "not valid JSON"),
        (lambda d: [], "not a key set"),
        (lambda d: {**d, "format": "other"}, "not a key set"),
        (lambda d: {**d, "keks": {}}, "no KEK versions"),
        (lambda d: {**d, "keks": {"0": d["keks"]["1"]}}, "positive integers"),
        (lambda d: {**d, "keks": {"x": d["keks"]["1"]}}, "positive integers"),
        (lambda d: {**d, "keks": {"1": "!!"}}, "KEK version 1"),
        (lambda d: {**d, "keks": {"1": base64.b64encode(b"short").decode()}}, "KEK version 1"),
        (lambda d: {**d, "keks": {"1": 5}}, "KEK version 1"),
        (lambda d: {**d, "current_kek": 2}, "current_kek"),
        (lambda d: {**d, "current_kek": True}, "current_kek"),
        (lambda d: {**d, "signing_seed": base64.b64encode(b"x" * 31).decode()}, "signing_seed"),
        (lambda d: {k: v for k, v in d.items() if k != "signing_seed"}, "signing_seed"),
    ],
)
def test_malformed_key_file(path: Path, provider: FileKeyProvider, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    secrets = file_secrets(path)
    doc = json.loads(path.read_bytes())
    bad = mutate(doc)
    path.write_text(bad if isinstance(bad, str) else json.dumps(bad))
    with pytest.raises(ConfigurationError, match=message) as info:
        FileKeyProvider(path)
    assert str(path) in str(info.value)
    assert_hidden(str(info.value), *secrets)
    # Nothing chained: a JSONDecodeError would carry the whole document.
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_invalid_utf8_key_file(path: Path, provider: FileKeyProvider) -> None:
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        FileKeyProvider(path)
