"""Settings from the `REGISTRY_*` environment (pydantic-settings).

The `dev` profile is for a workstation; anything else is production-like and refuses
insecure settings at startup instead of running with them.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry.errors import ConfigurationError

# Secrets that appear in tutorials and sample configs; refused outside dev.
_KNOWN_WEAK_SECRETS = {"secret", "changeme", "change-me", "password", "registry", "dev"}
MIN_SECRET_BYTES = 32


class Profile(StrEnum):
    DEV = "dev"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore", frozen=True)

    profile: Profile = Profile.DEV
    data_dir: Path = Path("data")
    # Empty means the embedded default: SQLite in the data directory.
    database_url: str = ""
    # PostgreSQL only: the role the service acts as (INSERT and SELECT only on the audit log).
    database_role: str = Field(default="registry_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    audit_origin: str = Field(default="registry/audit", pattern=r"^[^\s+]+$")
    audit_sequencer_interval_s: float = Field(default=0.2, gt=0)
    audit_checkpoint_interval_s: float = Field(default=5.0, ge=0)
    alert_denial_burst: int = Field(default=10, ge=2)
    alert_heavy_reader_factor: float = Field(default=5.0, gt=1)
    alert_office_hours: tuple[int, int] = (7, 20)
    alert_timezone: str = "Asia/Shanghai"
    registration_report_days: int = Field(default=3, ge=1, le=30)
    move_report_days: int = Field(default=10, ge=1, le=60)
    permit_issue_days: int = Field(default=15, ge=1, le=30)  # 居住证暂行条例 Art. 9: at most 30
    verifications_per_minute: int = Field(default=30, ge=1)
    # Retention (DOMAIN.md table; PIPL Art. 19, 47), checked again by casefiles.retention.
    retention_registration_erase_years: int = 5
    retention_permit_erase_years: int = 5
    retention_casefile_seal_years: int = 5
    retention_casefile_erase_years: int = 30
    retention_minor_seal_days: int = Field(default=3, ge=0, le=3)
    retention_drug_relapse_free_years: int = 3
    key_provider: str = "file"
    # Empty means: use the token secret generated at `registry init` in the data directory.
    token_secret: SecretStr = SecretStr("")
    token_lifetime_seconds: int = Field(default=900, ge=60, le=86_400)
    # None means: on in production, off in dev.
    require_mfa: bool | None = None
    max_body_bytes: int = 1024 * 1024
    login_max_failures: int = 5
    login_lockout_seconds: int = 15 * 60
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _no_insecure_production(self) -> Settings:
        if self.profile is Profile.DEV:
            return self
        problems = []
        secret = self.token_secret.get_secret_value()
        if secret and (secret.lower() in _KNOWN_WEAK_SECRETS or len(secret.encode()) < MIN_SECRET_BYTES):
            problems.append(f"REGISTRY_TOKEN_SECRET must be a random value of at least {MIN_SECRET_BYTES} bytes")
        if self.require_mfa is False:
            problems.append("REGISTRY_REQUIRE_MFA cannot be turned off in the production profile")
        if self.token_lifetime_seconds > 3600:
            problems.append("REGISTRY_TOKEN_LIFETIME_SECONDS must be at most 3600 in the production profile")
        if problems:
            raise ConfigurationError("insecure settings for the production profile: " + "; ".join(problems))
        return self

    @property
    def mfa_required(self) -> bool:
        return self.profile is Profile.PRODUCTION if self.require_mfa is None else self.require_mfa

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'registry.db').resolve()}"

    @property
    def token_secret_file(self) -> Path:
        return self.data_dir / "token.secret"
