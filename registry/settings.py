"""Settings from the `REGISTRY_*` environment (pydantic-settings).

The `dev` profile is for a workstation; anything else is production-like and refuses
insecure settings at startup instead of running with them.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from zxcvbn import zxcvbn

from registry.errors import ConfigurationError

# Secrets that appear in tutorials and sample configs; refused outside dev.
_KNOWN_WEAK_SECRETS = {"secret", "changeme", "change-me", "password", "registry", "dev"}
MIN_SECRET_BYTES = 32
# zxcvbn's estimate of the guesses a secret takes, as log10: repeats, sequences, keyboard
# walks and dictionary words score low whatever their length. 30 is about 100 bits; a
# 32-byte `secrets.token_urlsafe` scores about 43. zxcvbn reads at most 72 characters.
MIN_SECRET_GUESSES_LOG10 = 30
_ZXCVBN_MAX = 72
# Production bounds (issue 13): a setting outside them turns a control off in all but name.
PRODUCTION_LOGIN_MAX_FAILURES = (3, 10)
PRODUCTION_MIN_LOCKOUT_SECONDS = 5 * 60
PRODUCTION_MAX_BODY_BYTES = 10 * 1024 * 1024
PRODUCTION_MAX_VERIFICATIONS_PER_MINUTE = 600
PRODUCTION_MAX_LOGIN_FAILURES_PER_USERNAME = 60
PRODUCTION_MAX_LOGIN_FAILURES_PER_CLIENT = 600
PRODUCTION_MAX_APPROVAL_TTL_HOURS = 7 * 24


class Profile(StrEnum):
    DEV = "dev"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore", frozen=True)

    profile: Profile = Profile.DEV
    data_dir: Path = Path("data")
    # Empty means the embedded default: SQLite in the data directory.
    database_url: str = ""
    # PostgreSQL only: the role the service logs in as (REGISTRY_DATABASE_URL's user). It
    # owns nothing; `registry init` grants it INSERT and SELECT only on the audit log.
    # (registry.db.DEFAULT_SERVICE_ROLE is the same default.)
    database_role: str = Field(default="registry_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # PostgreSQL only: the owner's connection, used by `registry init` alone (migrations,
    # grants). Empty (dev only): the owner is REGISTRY_DATABASE_URL's user, and the service
    # logs in to the same server as REGISTRY_DATABASE_ROLE without a password (a trusted
    # local server). Required in the production profile.
    migration_database_url: SecretStr = SecretStr("")
    audit_origin: str = Field(default="registry/audit", pattern=r"^[^\s+]+$")
    audit_sequencer_interval_s: float = Field(default=0.2, gt=0)
    audit_checkpoint_interval_s: float = Field(default=5.0, ge=0)
    # `registry serve`: how often each process asks whether a sweep is due (one process
    # leads); a leader that stops renewing is replaced after the lease (SQLite).
    scheduler_interval_s: float = Field(default=60.0, ge=1, le=3600)
    scheduler_lease_s: float = Field(default=600.0, ge=10)
    # `audit verify` fails when an entry older than this is covered by no signed checkpoint.
    audit_checkpoint_grace_s: float = Field(default=300.0, gt=0)
    # Every checkpoint is also written here, a witness outside the database. Unset: the data
    # directory's checkpoint-sink/ in dev; production requires one outside the data directory.
    checkpoint_sink_dir: Path | None = None
    # Every crypto-shred is also written here (signed), to shred a restored backup again.
    # Unset: `erasure-journal.jsonl` beside the key file, in the data directory. Keep it out
    # of the database's backups and back it up with the key material.
    erasure_journal: Path | None = None
    alert_denial_burst: int = Field(default=10, ge=2)
    alert_heavy_reader_factor: float = Field(default=5.0, gt=1)
    alert_office_hours: tuple[int, int] = (7, 20)
    alert_timezone: str = "Asia/Shanghai"
    # When set, `/metrics` answers only `Authorization: Bearer <this>` (Prometheus:
    # `authorization.credentials_file`): its figures (lockouts) are for the monitoring host.
    metrics_token: SecretStr = SecretStr("")
    # Printed documents (`registry.documents`): a TrueType-outline CJK font, embedded in
    # every PDF (Debian's fonts-wqy-microhei, installed by scripts/system-deps).
    document_font: Path = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    # How long after a file closes its closing papers (a discharge certificate, the notices)
    # still print its subject as to the file's holder (the full ID number for corrections).
    document_closing_days: int = Field(default=30, ge=0, le=365)
    # The permit credential's issuer (`iss`): the public base URL where verifiers fetch its
    # keys (`/.well-known/jwt-vc-issuer`) and status list (`/credentials/status-lists/1`).
    credential_issuer: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    # An account created, re-roled or reset that reads personal data within this many hours
    # raises an alert (issue 13: an administrator turning into a data user).
    alert_account_change_hours: int = Field(default=24, ge=1, le=24 * 30)
    # A dual-control request not approved within this many hours expires (issue 13).
    approval_ttl_hours: int = Field(default=72, ge=1, le=24 * 30)
    registration_report_days: int = Field(default=3, ge=1, le=30)
    move_report_days: int = Field(default=10, ge=1, le=60)
    permit_issue_days: int = Field(default=15, ge=1, le=30)  # 居住证暂行条例 Art. 9: at most 30
    # 居住证暂行条例 Art. 10: permits are issued by county-level public security. The deepest
    # org unit (1 = the tree's root city, 2 = its districts/counties) whose police issue.
    permit_issue_max_depth: int = Field(default=2, ge=1, le=5)
    verifications_per_minute: int = Field(default=30, ge=1)
    # Days a request to take over a person waits for its holder before it escalates to the
    # nearest common parent unit's worklist (issue 13).
    # KPI release_handover_rate: handed over or assisting within this many days of release.
    kpi_handover_days: int = Field(default=30, ge=1, le=365)
    person_transfer_escalation_days: int = Field(default=15, ge=1, le=90)
    # How far a casefile transition may be back-dated (issue 13: a back-dated closure must
    # not start a retention clock that has already run out).
    casefile_backdate_days: int = Field(default=30, ge=0, le=365)
    # Retention (DOMAIN.md table; PIPL Art. 19, 47), checked again by casefiles.retention.
    retention_registration_erase_years: int = 5
    retention_permit_erase_years: int = 5
    retention_casefile_seal_years: int = 5
    retention_casefile_erase_years: int = 30
    retention_minor_seal_days: int = Field(default=3, ge=0, le=3)
    retention_drug_relapse_free_years: int = 3
    retention_person_unlinked_days: int = Field(default=30, ge=1)
    key_provider: str = "file"
    # Empty means: use the token secret generated at `registry init` in the data directory.
    token_secret: SecretStr = SecretStr("")
    token_lifetime_seconds: int = Field(default=900, ge=60, le=86_400)
    # None means: on in production, off in dev.
    require_mfa: bool | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=15 * 60, ge=0)
    # Failed logins (and wrong current passwords) in a moving minute, per username and per
    # client address, before the next attempt is answered 429 without hashing anything.
    login_failures_per_username: int = Field(default=10, ge=1)
    login_failures_per_client: int = Field(default=30, ge=1)
    # argon2 verifications running at once (each ~0.15 s of CPU and 64 MiB): more wait their
    # turn, so bad logins cannot take every core from the rest of the service.
    login_concurrent_verifications: int = Field(default=1, ge=1, le=64)
    # Proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated).
    # None by default: the client address is the peer's, and X-Forwarded-For is ignored.
    trusted_proxies: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = ()
    # TLS served by the service itself (both or neither).
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _no_insecure_production(self) -> Settings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ConfigurationError("REGISTRY_TLS_CERTFILE and REGISTRY_TLS_KEYFILE are set together or not at all")
        if self.profile is Profile.DEV:
            return self
        problems = []
        secret = self.token_secret.get_secret_value()
        if secret and not secret_is_strong(secret):
            problems.append(
                f"REGISTRY_TOKEN_SECRET must be a random value of at least {MIN_SECRET_BYTES} bytes"
                " (it is short, repetitive or word-like)"
            )
        if self.require_mfa is False:
            problems.append("REGISTRY_REQUIRE_MFA cannot be turned off in the production profile")
        if self.token_lifetime_seconds > 3600:
            problems.append("REGISTRY_TOKEN_LIFETIME_SECONDS must be at most 3600 in the production profile")
        low, high = PRODUCTION_LOGIN_MAX_FAILURES
        if not low <= self.login_max_failures <= high:
            problems.append(f"REGISTRY_LOGIN_MAX_FAILURES must be between {low} and {high} in the production profile")
        if self.login_lockout_seconds < PRODUCTION_MIN_LOCKOUT_SECONDS:
            problems.append(
                f"REGISTRY_LOGIN_LOCKOUT_SECONDS must be at least {PRODUCTION_MIN_LOCKOUT_SECONDS}"
                " in the production profile"
            )
        if self.login_failures_per_username > PRODUCTION_MAX_LOGIN_FAILURES_PER_USERNAME:
            problems.append(
                f"REGISTRY_LOGIN_FAILURES_PER_USERNAME must be at most {PRODUCTION_MAX_LOGIN_FAILURES_PER_USERNAME}"
                " in the production profile"
            )
        if self.login_failures_per_client > PRODUCTION_MAX_LOGIN_FAILURES_PER_CLIENT:
            problems.append(
                f"REGISTRY_LOGIN_FAILURES_PER_CLIENT must be at most {PRODUCTION_MAX_LOGIN_FAILURES_PER_CLIENT}"
                " in the production profile"
            )
        if self.max_body_bytes > PRODUCTION_MAX_BODY_BYTES:
            problems.append(
                f"REGISTRY_MAX_BODY_BYTES must be at most {PRODUCTION_MAX_BODY_BYTES} in the production profile"
            )
        if self.verifications_per_minute > PRODUCTION_MAX_VERIFICATIONS_PER_MINUTE:
            problems.append(
                f"REGISTRY_VERIFICATIONS_PER_MINUTE must be at most {PRODUCTION_MAX_VERIFICATIONS_PER_MINUTE}"
                " in the production profile"
            )
        if self.approval_ttl_hours > PRODUCTION_MAX_APPROVAL_TTL_HOURS:
            problems.append(
                f"REGISTRY_APPROVAL_TTL_HOURS must be at most {PRODUCTION_MAX_APPROVAL_TTL_HOURS}"
                " in the production profile"
            )
        if any(network.prefixlen == 0 for network in self.trusted_proxies):
            problems.append("REGISTRY_TRUSTED_PROXIES must name proxies, not every address")
        binding = self.binding_problem(self.host)
        if binding is not None:
            problems.append(binding)
        if problems:
            raise ConfigurationError("insecure settings for the production profile: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _checkpoint_witness(self) -> Settings:
        if self.profile is Profile.PRODUCTION and self.audit_checkpoint_grace_s > 3600:
            # A long grace would let verify overlook a wiped or unsigned tail for that long.
            raise ConfigurationError("REGISTRY_AUDIT_CHECKPOINT_GRACE_S must be at most 3600 in production")
        if self.audit_checkpoint_grace_s <= self.audit_checkpoint_interval_s:
            raise ConfigurationError(
                "REGISTRY_AUDIT_CHECKPOINT_GRACE_S must exceed REGISTRY_AUDIT_CHECKPOINT_INTERVAL_S"
            )
        if self.profile is Profile.DEV:
            return self
        if self.key_provider != "file" and self.erasure_journal is None:
            # Beside the key file for the file provider; the others have none to stand beside.
            needed = "REGISTRY_ERASURE_JOURNAL is required in production with the env or pkcs11 provider"
            raise ConfigurationError(needed)
        # Whoever can rewrite the data directory could rewrite a witness kept inside it.
        if self.checkpoint_sink_dir is None:
            raise ConfigurationError("REGISTRY_CHECKPOINT_SINK_DIR is required in the production profile")
        if self.checkpoint_sink_in_data_dir:
            raise ConfigurationError("REGISTRY_CHECKPOINT_SINK_DIR must be outside the data directory in production")
        return self

    @model_validator(mode="after")
    def _database_boundary(self) -> Settings:
        """The service and the migrations log in as different roles (PostgreSQL): the
        service's login must not be able to rewrite the audit log or the schema."""
        migration = self.migration_database_url.get_secret_value()
        if not self.database_url or self.database_url.startswith("sqlite"):
            if migration:
                raise ConfigurationError("REGISTRY_MIGRATION_DATABASE_URL is for PostgreSQL only")
            return self
        service_user = _login(self.database_url, "REGISTRY_DATABASE_URL")
        if not migration:
            if self.profile is not Profile.DEV:
                raise ConfigurationError(
                    "REGISTRY_MIGRATION_DATABASE_URL (the owner's login) is required in the production profile:"
                    " the service logs in as REGISTRY_DATABASE_ROLE, which owns nothing"
                )
            if service_user == self.database_role:
                raise ConfigurationError(
                    "REGISTRY_DATABASE_URL logs in as the service role: set REGISTRY_MIGRATION_DATABASE_URL"
                    " to the owner's login for `registry init`"
                )
            return self
        owner_user = _login(migration, "REGISTRY_MIGRATION_DATABASE_URL")
        if service_user is not None and service_user != self.database_role:
            raise ConfigurationError(
                f"REGISTRY_DATABASE_URL logs in as {service_user}, not REGISTRY_DATABASE_ROLE ({self.database_role})"
            )
        if owner_user == self.database_role or (owner_user is not None and owner_user == service_user):
            raise ConfigurationError("REGISTRY_MIGRATION_DATABASE_URL must log in as the owner, not the service role")
        return self

    @cached_property
    def service_database_url(self) -> str:
        """The service's connection. PostgreSQL with no separate migration login (dev):
        REGISTRY_DATABASE_URL's server as REGISTRY_DATABASE_ROLE, without a password."""
        url = self.resolved_database_url
        if url.startswith("sqlite") or self.migration_database_url.get_secret_value():
            return url
        given = make_url(url)  # `URL.set(password=None)` would keep the password
        service = URL.create(
            given.drivername,
            username=self.database_role,
            host=given.host,
            port=given.port,
            database=given.database,
            query=given.query,
        )
        return service.render_as_string(hide_password=False)

    @property
    def owner_database_url(self) -> str:
        """The connection `registry init` migrates and grants through."""
        return self.migration_database_url.get_secret_value() or self.resolved_database_url

    @property
    def checkpoint_sink(self) -> Path:
        return self.checkpoint_sink_dir or self.data_dir / "checkpoint-sink"

    @property
    def erasure_journal_path(self) -> Path:
        return self.erasure_journal or self.data_dir / "erasure-journal.jsonl"

    @property
    def checkpoint_sink_in_data_dir(self) -> bool:
        sink, data = self.checkpoint_sink.resolve(), self.data_dir.resolve()
        return sink == data or data in sink.parents

    def binding_problem(self, host: str) -> str | None:
        """Why serving on `host` is refused in the production profile, or None. Beyond
        loopback, bearer tokens and personal data would cross the network in clear unless
        the service speaks TLS itself or sits behind a declared proxy that does."""
        if self.profile is Profile.DEV or _is_loopback(host):
            return None
        if self.tls_certfile is not None or self.trusted_proxies:
            return None
        return (
            "REGISTRY_HOST beyond loopback needs REGISTRY_TLS_CERTFILE and REGISTRY_TLS_KEYFILE,"
            " or REGISTRY_TRUSTED_PROXIES naming the TLS proxy in front"
        )

    @property
    def mfa_required(self) -> bool:
        return self.profile is Profile.PRODUCTION if self.require_mfa is None else self.require_mfa

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'registry.db').resolve()}"

    @property
    def token_secret_file(self) -> Path:
        return self.data_dir / "token.secret"


def secret_is_strong(secret: str) -> bool:
    """At least MIN_SECRET_BYTES bytes, not a sample value, and hard to guess by zxcvbn's
    estimate (length alone passes `aaaa…` or a repeated phrase)."""
    if len(secret.encode()) < MIN_SECRET_BYTES or secret.lower() in _KNOWN_WEAK_SECRETS:
        return False
    return zxcvbn(secret[:_ZXCVBN_MAX])["guesses_log10"] >= MIN_SECRET_GUESSES_LOG10


def _login(url: str, setting: str) -> str | None:
    try:
        return make_url(url).username or None
    except ArgumentError:
        raise ConfigurationError(f"{setting} is not a database URL") from None  # the URL may hold a password


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False
