"""Startup refuses insecure settings outside the dev profile; secrets stay private."""

from __future__ import annotations

import secrets
import sqlite3

import pytest

from registry.bootstrap import initialise
from registry.errors import ConfigurationError
from registry.runtime import open_runtime, read_secret_file, write_secret_file
from registry.settings import Settings

RANDOM_SECRET = secrets.token_urlsafe(32)
EVERYWHERE = "0.0.0.0"  # noqa: S104 (what is refused without TLS or a proxy)
# What else the production profile requires, so each test varies one thing.
PRODUCTION = {"profile": "production", "token_secret": RANDOM_SECRET, "checkpoint_sink_dir": "/srv/witness"}


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
    settings = Settings(**PRODUCTION)
    assert settings.mfa_required is True


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"login_max_failures": 2}, "REGISTRY_LOGIN_MAX_FAILURES"),
        ({"login_max_failures": 11}, "REGISTRY_LOGIN_MAX_FAILURES"),
        ({"login_max_failures": 1_000_000}, "REGISTRY_LOGIN_MAX_FAILURES"),
        ({"login_lockout_seconds": 299}, "REGISTRY_LOGIN_LOCKOUT_SECONDS"),
        ({"login_lockout_seconds": 0}, "REGISTRY_LOGIN_LOCKOUT_SECONDS"),
        ({"login_failures_per_username": 61}, "REGISTRY_LOGIN_FAILURES_PER_USERNAME"),
        ({"login_failures_per_client": 601}, "REGISTRY_LOGIN_FAILURES_PER_CLIENT"),
        ({"max_body_bytes": 10 * 1024 * 1024 + 1}, "REGISTRY_MAX_BODY_BYTES"),
        ({"max_body_bytes": 10 * 1024**3}, "REGISTRY_MAX_BODY_BYTES"),
        ({"verifications_per_minute": 601}, "REGISTRY_VERIFICATIONS_PER_MINUTE"),
        ({"host": EVERYWHERE}, "REGISTRY_HOST"),
        ({"host": "10.1.2.3"}, "REGISTRY_HOST"),
        ({"host": "registry.example"}, "REGISTRY_HOST"),
        ({"trusted_proxies": "0.0.0.0/0"}, "REGISTRY_TRUSTED_PROXIES"),
    ],
)
def test_production_bounds_every_security_setting(values, named):
    with pytest.raises(ConfigurationError, match=named):
        Settings(**PRODUCTION | values)
    Settings(profile="dev", **values)  # a workstation may


@pytest.mark.parametrize(
    "values",
    [
        {"login_max_failures": 3, "login_lockout_seconds": 300},
        {"login_max_failures": 10, "max_body_bytes": 10 * 1024 * 1024, "verifications_per_minute": 600},
        {"login_failures_per_username": 60, "login_failures_per_client": 600},
        {"host": "127.0.0.1"},
        {"host": "::1"},
        {"host": "localhost"},
        {"host": EVERYWHERE, "tls_certfile": "/etc/registry/cert.pem", "tls_keyfile": "/etc/registry/key.pem"},
        {"host": EVERYWHERE, "trusted_proxies": "10.0.0.5"},
    ],
)
def test_production_accepts_settings_within_bounds(values):
    Settings(**PRODUCTION | values)


@pytest.mark.parametrize(
    "weak",
    [
        "a" * 64,  # long, one character
        "x7" * 24,  # long, repeated
        "correcthorsebatterystaple-correcthorsebattery",  # long, words
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",  # long, a sequence
        "Password123!Password123!Password123!",  # long, a dictionary word repeated
        secrets.token_urlsafe(16),  # random but short (22 bytes)
    ],
    # Ids fixed at collection: xdist workers must collect the same names.
    ids=["one-char", "repeated", "words", "sequence", "dictionary", "random-short"],
)
def test_production_refuses_low_entropy_token_secrets_without_echoing_them(weak):
    with pytest.raises(ConfigurationError, match="REGISTRY_TOKEN_SECRET") as raised:
        Settings(**PRODUCTION | {"token_secret": weak})
    assert weak not in str(raised.value) and weak[:8] not in str(raised.value)


@pytest.mark.parametrize(
    "strong",
    [secrets.token_urlsafe(32), secrets.token_hex(32), secrets.token_urlsafe(64)],
    ids=["urlsafe-32", "hex-32", "urlsafe-64"],
)
def test_production_accepts_random_token_secrets(strong):
    Settings(**PRODUCTION | {"token_secret": strong})


def test_tls_files_come_in_pairs_in_every_profile():
    with pytest.raises(ConfigurationError, match="REGISTRY_TLS_CERTFILE and REGISTRY_TLS_KEYFILE"):
        Settings(tls_certfile="/etc/registry/cert.pem")


def test_trusted_proxies_from_the_environment(monkeypatch):
    monkeypatch.setenv("REGISTRY_TRUSTED_PROXIES", "10.0.0.5, 192.168.7.0/24")
    assert [str(n) for n in Settings().trusted_proxies] == ["10.0.0.5/32", "192.168.7.0/24"]
    assert Settings(_env_file=None, trusted_proxies=()).trusted_proxies == ()


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


def _production(tmp_path):
    return Settings(**PRODUCTION | {"data_dir": tmp_path / "data", "checkpoint_sink_dir": tmp_path / "witness"})


def test_data_directory_and_database_files_are_created_private(tmp_path):
    settings = _production(tmp_path)
    initialise(settings)
    data = settings.data_dir
    assert data.stat().st_mode & 0o777 == 0o700
    database = data / "registry.db"
    with sqlite3.connect(database) as conn:  # a WAL connection, as the service's
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("SELECT count(*) FROM audit_entry").fetchone()
        for name in ("registry.db", "registry.db-wal", "registry.db-shm"):
            assert (data / name).stat().st_mode & 0o777 == 0o600, name
    assert (data / "keys.json").stat().st_mode & 0o777 == 0o600
    runtime = open_runtime(settings)  # the production start checks pass
    runtime.engine.dispose()


@pytest.mark.parametrize(
    ("loosen", "message"),
    [
        (lambda data: data.chmod(0o755), "chmod 700"),
        (lambda data: (data / "registry.db").chmod(0o644), "chmod 600"),
    ],
    ids=["data-dir", "database-file"],
)
def test_production_start_refuses_loose_file_permissions(tmp_path, loosen, message):
    settings = _production(tmp_path)
    initialise(settings)
    loosen(settings.data_dir)
    with pytest.raises(ConfigurationError, match=message):
        open_runtime(settings)
    dev = Settings(profile="dev", data_dir=settings.data_dir, token_secret=RANDOM_SECRET)
    open_runtime(dev).engine.dispose()  # a workstation is not checked
