"""`env` key provider: the key set in an environment variable, for containers.

`REGISTRY_KEK` holds base64 of the same JSON document as the `file` provider's key
file (all retained KEK versions and the Ed25519 signing seed); `base64 -w0 keys.json`
turns one into the other. One variable, one format: no second way to spell a key.

The process cannot persist anything, so `rotate_kek` refuses: an operator rotates by
deploying a new value made with `EnvKeyProvider.rotated_value(old)`, which keeps the
old KEK versions so existing wrapped keys still open.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping

from registry.crypto.providers.software import KeySet, SoftwareProvider
from registry.errors import ConfigurationError

ENV_VAR = "REGISTRY_KEK"


class EnvKeyProvider(SoftwareProvider):
    name = "env"

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        super().__init__(_decode(environ.get(ENV_VAR)))

    @staticmethod
    def generate_value() -> str:
        """A fresh value for `REGISTRY_KEK` (KEK v1 and a signing seed)."""
        return _encode(KeySet.generate())

    @staticmethod
    def rotated_value(value: str) -> str:
        """`value` plus a new current KEK version, old versions kept."""
        return _encode(_decode(value).with_new_kek())

    def rotate_kek(self) -> int:
        raise ConfigurationError(
            f"the env key provider cannot rotate in place: deploy a new {ENV_VAR} made "
            "with EnvKeyProvider.rotated_value(<current value>), then run the rewrap"
        )

    def __repr__(self) -> str:
        return f"EnvKeyProvider(kek_version={self._keys.current})"


def _encode(keys: KeySet) -> str:
    return base64.b64encode(keys.to_json()).decode("ascii")


def _decode(value: str | None) -> KeySet:
    if not value or not value.strip():
        raise ConfigurationError(f"{ENV_VAR} is not set")
    try:
        raw: bytes | None = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = None
    # Raised outside the `except` so nothing derived from the value is chained.
    if raw is None:
        raise ConfigurationError(f"{ENV_VAR} is not valid base64")
    return KeySet.from_json(raw, source=ENV_VAR)
