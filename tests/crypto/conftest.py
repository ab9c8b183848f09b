from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest

SOFTHSM_MODULE = Path(os.environ.get("REGISTRY_TEST_SOFTHSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so"))


def secret_spellings(secret: bytes) -> list[str]:
    """Ways a leaked key would show up in text: hex, base64 variants, bytes repr."""
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        repr(secret)[2:-1],
    ]


def assert_hidden(text: str, *secrets: bytes) -> None:
    for secret in secrets:
        for spelling in secret_spellings(secret):
            assert spelling not in text


@dataclass(frozen=True)
class SoftHsm:
    module: Path
    token: str
    pin: str
    so_pin: str


@pytest.fixture
def softhsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SoftHsm]:
    """A fresh SoftHSM2 token in `tmp_path`, labelled `test`, user PIN 1234."""
    util = shutil.which("softhsm2-util")
    if util is None or not SOFTHSM_MODULE.exists():
        pytest.skip("softhsm2 not installed: run scripts/system-deps as root (Debian package softhsm2)")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(
        [util, "--init-token", "--free", "--label", "test", "--pin", "1234", "--so-pin", "5678"],
        check=True,
        capture_output=True,
    )
    # python-pkcs11 keeps one initialised library per process and SoftHSM reads
    # SOFTHSM2_CONF only in C_Initialize: re-initialise so this test's token dir is seen.
    pkcs11.lib(str(SOFTHSM_MODULE)).reinitialize()
    yield SoftHsm(module=SOFTHSM_MODULE, token="test", pin="1234", so_pin="5678")
