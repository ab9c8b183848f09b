"""Key providers and the factory that picks one from settings.

`open_provider` is for normal startup (the keys must already exist); `create_provider`
is for `init` (create what is missing, never overwrite what exists).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from registry.crypto.providers.base import KeyProvider, signed_note_key_hash
from registry.crypto.providers.env import EnvKeyProvider
from registry.crypto.providers.file import FileKeyProvider
from registry.crypto.providers.pkcs11 import Pkcs11KeyProvider
from registry.errors import ConfigurationError

__all__ = [
    "PROVIDER_KINDS",
    "EnvKeyProvider",
    "FileKeyProvider",
    "KeyProvider",
    "Pkcs11KeyProvider",
    "create_provider",
    "key_file_path",
    "open_provider",
    "signed_note_key_hash",
]

PROVIDER_KINDS = ("file", "env", "pkcs11")
KEY_FILE_NAME = "keys.json"
_PKCS11_SETTINGS = (
    "REGISTRY_PKCS11_MODULE",
    "REGISTRY_PKCS11_TOKEN",
    "REGISTRY_PKCS11_PIN",
)


def key_file_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEY_FILE_NAME


def open_provider(kind: str, *, data_dir: Path, environ: Mapping[str, str]) -> KeyProvider:
    """Open an existing provider; `ConfigurationError` if its keys are missing or unsafe."""
    if kind == "file":
        return FileKeyProvider(key_file_path(data_dir))
    if kind == "env":
        return EnvKeyProvider(environ)
    if kind == "pkcs11":
        return Pkcs11KeyProvider(*_pkcs11_settings(environ))
    raise _unknown(kind)


def create_provider(kind: str, *, data_dir: Path, environ: Mapping[str, str]) -> KeyProvider:
    """Create the provider's keys at init.

    `file` writes a new key file (refusing to overwrite one); `pkcs11` generates the
    KEK and signing key in the token where absent; `env` cannot create anything, so
    the variable must already be set (make one with `EnvKeyProvider.generate_value()`).
    """
    if kind == "file":
        return FileKeyProvider.create(key_file_path(data_dir))
    if kind == "env":
        return EnvKeyProvider(environ)
    if kind == "pkcs11":
        return Pkcs11KeyProvider.initialise(*_pkcs11_settings(environ))
    raise _unknown(kind)


def _pkcs11_settings(environ: Mapping[str, str]) -> tuple[str, str, str]:
    missing = [name for name in _PKCS11_SETTINGS if not environ.get(name)]
    if missing:
        raise ConfigurationError(f"the pkcs11 key provider needs {', '.join(missing)}")
    module, token, pin = (environ[name] for name in _PKCS11_SETTINGS)
    return module, token, pin


def _unknown(kind: str) -> ConfigurationError:
    return ConfigurationError(f"unknown key provider {kind!r}; expected one of {', '.join(PROVIDER_KINDS)}")
