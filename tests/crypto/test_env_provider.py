from __future__ import annotations

import base64
import json

import pytest

from registry.crypto.ciphertext import DecryptionError
from registry.crypto.providers import EnvKeyProvider, KeyProvider
from registry.crypto.providers.env import ENV_VAR
from registry.errors import ConfigurationError
from tests.crypto.conftest import assert_hidden

DEK = bytes(range(16))
AAD = b"person:p-0001|residence|1"


def secrets_of(value: str) -> list[bytes]:
    doc = json.loads(base64.b64decode(value))
    keks = [base64.b64decode(v) for v in doc["keks"].values()]
    return [*keks, base64.b64decode(doc["signing_seed"])]


def test_round_trip_and_sign() -> None:
    value = EnvKeyProvider.generate_value()
    provider = EnvKeyProvider({ENV_VAR: value})
    assert isinstance(provider, KeyProvider)
    assert provider.name == "env" and provider.kek_version == 1
    wrapped = provider.wrap(DEK, aad=AAD)
    assert provider.unwrap(wrapped, aad=AAD) == DEK
    with pytest.raises(DecryptionError):
        provider.unwrap(wrapped, aad=b"other")
    # Same variable in another process (or replica) opens the same wraps and key.
    replica = EnvKeyProvider({ENV_VAR: value})
    assert replica.unwrap(wrapped, aad=AAD) == DEK
    replica.public_key().verify(provider.sign(b"m"), b"m")
    assert replica.key_id == provider.key_id
    provider.check()


def test_value_is_base64_of_the_key_file_format() -> None:
    doc = json.loads(base64.b64decode(EnvKeyProvider.generate_value()))
    assert doc["format"] == "registry-keys/1"
    assert doc["current_kek"] == 1


def test_surrounding_whitespace_is_tolerated() -> None:
    value = EnvKeyProvider.generate_value()
    assert EnvKeyProvider({ENV_VAR: f"  {value}\n"}).kek_version == 1


def test_rotation_is_by_deploying_a_new_value() -> None:
    value = EnvKeyProvider.generate_value()
    provider = EnvKeyProvider({ENV_VAR: value})
    old = provider.wrap(DEK, aad=AAD)
    with pytest.raises(ConfigurationError, match="deploy a new REGISTRY_KEK"):
        provider.rotate_kek()
    rotated = EnvKeyProvider.rotated_value(value)
    deployed = EnvKeyProvider({ENV_VAR: rotated})
    assert deployed.kek_version == 2
    new = deployed.wrap(DEK, aad=AAD)
    assert int.from_bytes(new[1:5], "big") == 2
    assert deployed.unwrap(old, aad=AAD) == deployed.unwrap(new, aad=AAD) == DEK
    assert deployed.key_id == provider.key_id  # signing key unchanged
    with pytest.raises(DecryptionError):
        provider.unwrap(new, aad=AAD)  # the old deployment does not know KEK v2


def test_default_environ_is_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, EnvKeyProvider.generate_value())
    assert EnvKeyProvider().kek_version == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("   ", "is not set"),
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"{}").decode(), "not a key set"),
        (base64.b64encode(b"\x00" * 32).decode(), "not valid JSON"),
    ],
)
def test_bad_values(value: str | None, message: str) -> None:
    environ = {} if value is None else {ENV_VAR: value}
    with pytest.raises(ConfigurationError, match=message) as info:
        EnvKeyProvider(environ)
    assert ENV_VAR in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_error_does_not_echo_key_material() -> None:
    value = EnvKeyProvider.generate_value()
    doc = json.loads(base64.b64decode(value))
    doc["signing_seed"] = base64.b64encode(b"short").decode()
    bad = base64.b64encode(json.dumps(doc).encode()).decode()
    with pytest.raises(ConfigurationError, match="signing_seed") as info:
        EnvKeyProvider({ENV_VAR: bad})
    assert_hidden(str(info.value), *secrets_of(value))
    assert value not in str(info.value)


def test_repr_hides_keys() -> None:
    value = EnvKeyProvider.generate_value()
    provider = EnvKeyProvider({ENV_VAR: value})
    text = repr(provider) + str(provider)
    assert text.startswith("EnvKeyProvider(kek_version=1)")
    assert value not in text
    assert_hidden(text, *secrets_of(value))
