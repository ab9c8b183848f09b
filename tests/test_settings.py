"""Startup refuses insecure settings outside the dev profile; secrets stay private."""

from __future__ import annotations

import pytest

from registry.errors import ConfigurationError
from registry.runtime import read_secret_file, write_secret_file
from registry.settings import Settings


def test_dev_profile_defaults():
    settings = Settings(_env_file=None)
    assert settings.profile == "dev" and settings.mfa_required is False
    assert settings.resolved_database_url.startswith("sqlite:///")


@pytest.mark.parametrize(
    "values",
    [
        {"token_secret": "changeme"},
        {"token_secret": "short-but-random-3f9a"},
        {"require_mfa": False},
        {"token_lifetime_seconds": 7200},
    ],
)
def test_production_refuses_insecure_settings(values):
    with pytest.raises(ConfigurationError, match="insecure settings"):
        Settings(profile="production", **values)


def test_production_requires_mfa_by_default():
    settings = Settings(profile="production", token_secret="x7" * 24)
    assert settings.mfa_required is True


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("REGISTRY_PROFILE", "production")
    monkeypatch.setenv("REGISTRY_REQUIRE_MFA", "false")
    with pytest.raises(ConfigurationError):
        Settings()


def test_secret_file_is_private_and_checked(tmp_path):
    path = tmp_path / "token.secret"
    write_secret_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(read_secret_file(path)) >= 32
    with pytest.raises(FileExistsError):
        write_secret_file(path)
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        read_secret_file(path)


def test_token_secret_is_hidden_in_repr():
    settings = Settings(token_secret="a-very-private-value-of-enough-length!")
    assert "a-very-private" not in repr(settings)
