"""The `registry` command line (Typer + Rich)."""

from __future__ import annotations

import getpass
import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from registry import runlock
from registry.access.models import AccountApproval
from registry.access.policy import Role
from registry.access.principal import Principal, system_principal
from registry.accounts.console_login import Credentials, log_in
from registry.accounts.schemas import UserCreate
from registry.accounts.users_console import (
    approve_from_console,
    create_founding_admin_at_console,
    create_from_console,
    founding_ceremony_open,
    pending_requests,
)
from registry.audit.actions import Action
from registry.audit.checkpoints import CheckpointError, parse_signed_note, verifier_key
from registry.audit.epochs import RestoreError, RestoreReason
from registry.audit.log import Actor, AuditTrail, Event
from registry.audit.proofs import latest_checkpoint
from registry.audit.sink import CheckpointSink, WitnessConflict
from registry.audit.verify import Timeliness, VerifyReport, Witness, sink_witness, verify_log
from registry.audit.verify import record as record_verify
from registry.backups import backup, check_backup, restore_file, sqlite_path
from registry.bootstrap import initialise
from registry.casefiles.notices.formats import NoticeKind
from registry.casefiles.notices.importer import import_file as import_notice_file
from registry.clock import SystemClock
from registry.context import actor_of
from registry.credentials.verify import load_json
from registry.credentials.verify import verify as verify_credential
from registry.crypto.erasure_journal import ErasureJournal
from registry.crypto.keyring import Keyring, configured_suite
from registry.crypto.providers import KeyProvider, open_provider
from registry.crypto.rotation import key_status
from registry.crypto.suites import Suite
from registry.db import create_engine, schema_is_current, transaction
from registry.demo import seed as demo_seed
from registry.erasures import replay as replay_erasures
from registry.errors import ConfigurationError, RegistryError
from registry.importfiles import Progress as ProgressFn
from registry.importfiles import Rejection
from registry.logs import configure_logging
from registry.maintenance import RotationTarget, retention_work, rotation_work
from registry.residence.employer_reports import import_report
from registry.residence.importer import import_file
from registry.restores import declare as declare_restore
from registry.runtime import Runtime, open_runtime
from registry.settings import Profile, Settings

# No locals in tracebacks: they could hold the personal values being imported or created.
app = typer.Typer(
    help="registry: residence records and special-group casefiles.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
keys_app = typer.Typer(help="Key status and rotation.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
retention_app = typer.Typer(help="Retention: sealing and erasure.", no_args_is_help=True)
app.add_typer(retention_app, name="retention")
demo_app = typer.Typer(help="Obviously synthetic demonstration data.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
credential_app = typer.Typer(help="The permit credential, verified offline.", no_args_is_help=True)
app.add_typer(credential_app, name="credential")
import_app = typer.Typer(help="Bulk imports through the service layer.", no_args_is_help=True)
app.add_typer(import_app, name="import")
erasures_app = typer.Typer(help="The erasure journal (crypto-shreds, replayed after a restore).", no_args_is_help=True)
app.add_typer(erasures_app, name="erasures")
console = Console(stderr=True)
T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings()
    except RegistryError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None


def _open(settings: Settings, *, recovering: bool = False) -> Runtime:
    """The runtime, or the reason it cannot start (a restore not yet declared, a journal
    behind the database) said plainly, exit 2."""
    try:
        return open_runtime(settings, recovering=recovering)
    except RegistryError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None


@app.command()
def init(
    suite: Annotated[Suite, typer.Option(help="cipher suite; fixed once chosen")] = Suite.AES256GCM,
    password_file: Annotated[
        Path | None,
        typer.Option(
            help="write the bootstrap administrator's password to this new file (0600) instead of the "
            "terminal, so that it never lands in a log that captures the service's start",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Create the data directory, keys and schema, and the bootstrap administrator."""
    settings = _settings()
    handle = None
    if password_file is not None:
        # Created now, exclusive and 0600 (never an existing file, never through a link):
        # if it cannot be, nothing is initialised and no password is lost.
        try:
            handle = os.fdopen(os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "w")
        except OSError as exc:
            console.print(f"[red]cannot create {password_file} ({exc.strerror}): it must be a new file[/red]")
            raise typer.Exit(2) from None
    try:
        result = initialise(settings, suite=suite)
    except BaseException as exc:
        if handle is not None and password_file is not None:  # nothing was written to it
            handle.close()
            password_file.unlink(missing_ok=True)
        if isinstance(exc, RegistryError):
            console.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(2) from None
        raise
    console.print(f"registry initialised in {settings.data_dir.resolve()}")
    if handle is not None:
        with handle:
            if result.admin_password is not None:
                try:
                    handle.write(f"{result.admin_username}\n{result.admin_password}\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                except OSError:  # a full disk: the password must not be lost
                    console.print("[red]the password file could not be written: the password follows[/red]")
                    _show_password(result.admin_username, result.admin_password)
                    return
                console.print(
                    f"[bold]Bootstrap administrator[/bold]: username [cyan]{result.admin_username}[/cyan]; "
                    f"password written to {password_file} (0600): read it, then delete the file"
                )
                return
        if password_file is not None:  # an initialised registry: no new password
            password_file.unlink(missing_ok=True)
        return
    if result.admin_password is not None:
        _show_password(result.admin_username, result.admin_password)


def _show_password(username: str | None, password: str) -> None:
    # Printed once, to the terminal only; it is stored nowhere but as a hash.
    console.print(
        f"[bold]Bootstrap administrator[/bold]: username [cyan]{username}[/cyan] "
        f"password [cyan]{password}[/cyan]  (shown once: keep it now)"
    )


def _settings_epilog() -> str:
    """Every setting, from `Settings` itself (README's table says what each does)."""
    named = []
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "secret" if "secret" in type(default).__name__.lower() else default
        named.append(f"REGISTRY_{name.upper()} ({shown})")
    return "Settings, from the environment (README, Settings): " + ", ".join(named) + "."


@app.command(epilog=_settings_epilog())
def serve(
    host: Annotated[str | None, typer.Option(help="bind address [default: REGISTRY_HOST, 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [default: REGISTRY_PORT, 8000]")] = None,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Serve the API (run `registry init` once first)."""
    settings = _settings()
    configure_logging(settings.log_level)
    engine = create_engine(settings.resolved_database_url)
    if not schema_is_current(engine):
        console.print("[red]the database schema is not current: run `registry init`[/red]")
        raise typer.Exit(2)
    engine.dispose()
    bind = host or settings.host
    if (problem := settings.binding_problem(bind)) is not None:
        console.print(f"[red]insecure settings for the production profile: {problem}[/red]")
        raise typer.Exit(2)
    uvicorn.run(
        "registry.api.asgi:app",
        host=bind,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        # The service resolves the client address itself, through REGISTRY_TRUSTED_PROXIES
        # only; uvicorn's default would believe X-Forwarded-For from any local client.
        proxy_headers=False,
        ssl_certfile=settings.tls_certfile,
        ssl_keyfile=settings.tls_keyfile,
    )


def _credentials(who: str, username: str | None) -> Credentials:
    """An administrator's login at the console: prompted on a terminal, else from
    REGISTRY_<WHO>, REGISTRY_<WHO>_PASSWORD and REGISTRY_<WHO>_OTP."""
    env, tty = f"REGISTRY_{who.upper()}", os.isatty(0)
    username = username or (input(f"{who} administrator username: ") if tty else os.environ.get(env, ""))
    password = os.environ.get(f"{env}_PASSWORD") or (getpass.getpass("password: ") if tty else "")
    otp = os.environ.get(f"{env}_OTP") or (input("TOTP code (empty if none): ").strip() if tty else "")
    return Credentials(username, password, otp or None)


def _founding_password(username: str) -> str:
    """Typed by the new administrator's owner, twice; never printed (REGISTRY_FOUNDING_PASSWORD
    when not a terminal)."""
    if not os.isatty(0):
        return os.environ.get("REGISTRY_FOUNDING_PASSWORD", "")
    first = getpass.getpass(f"{username}'s owner: choose a password: ")
    if getpass.getpass("again: ") != first:
        console.print("[red]the two passwords differ[/red]")
        raise typer.Exit(1)
    return first


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option()],
    role: Annotated[list[Role], typer.Option(help="repeat for several roles")],
    org_unit: Annotated[str | None, typer.Option()] = None,
    display_name: Annotated[str | None, typer.Option()] = None,
    requester: Annotated[str | None, typer.Option(help="the requesting administrator (logs in)")] = None,
) -> None:
    """Create an account as a logged-in administrator (REGISTRY_REQUESTER[_PASSWORD|_OTP] when
    not a terminal), with a one-time password; a data role (or a third administrator) records
    a request that another administrator approves. While fewer than two founding
    administrators exist, `--role admin` is the founding ceremony: its owner types its
    password here, and no one else learns it."""
    settings = _settings()
    runtime = _open(settings)
    try:
        data = UserCreate(username=username, display_name=display_name or username, org_unit=org_unit, roles=role)
    except ValueError:
        console.print("[red]invalid username, org unit or roles[/red]")
        raise typer.Exit(2) from None
    try:
        if set(role) == {Role.ADMIN} and founding_ceremony_open(runtime.engine):
            account = create_founding_admin_at_console(
                runtime.engine, runtime.clock, data=data, password=_founding_password(username)
            )
            console.print(f"created founding administrator {account.username} ({account.id})")
            return
        made = create_from_console(
            runtime.engine, runtime.clock, runtime.provider, settings, _credentials("requester", requester), data=data
        )
    except RegistryError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    if isinstance(made, AccountApproval):
        console.print(
            f"request {made.id} recorded: another administrator approves it with "
            f"`registry users approve {made.id}` (or POST /api/v1/account-approvals/{made.id}/approve)"
        )
        return
    console.print(f"created {made.account.username} ({made.account.id})")
    _show_one_time(made.one_time_password)


def _show_one_time(one_time_password: str) -> None:
    # Printed once, to the terminal only; it opens nothing but choosing the owner's password.
    console.print(
        f"one-time password [cyan]{one_time_password}[/cyan]  (shown once: the owner chooses a password "
        "with it at POST /api/v1/auth/password/one-time)"
    )


@users_app.command("pending")
def users_pending() -> None:
    """Account requests waiting for a second administrator (audited)."""
    runtime = _open(_settings())
    with transaction(runtime.engine) as session:
        rows = pending_requests(session, runtime.clock)
    table = Table("request", "action", "org unit", "changes", "requested by", "requested at", "expires at")
    for row in rows:
        table.add_row(
            str(row.id),
            row.action,
            row.org_unit_code or "-",
            ", ".join(sorted(row.payload)),
            str(row.requested_by),
            row.requested_at.isoformat(),
            row.expires_at.isoformat() if row.expires_at else "-",
        )
    Console().print(table)


@users_app.command("approve")
def users_approve(
    request: Annotated[str, typer.Argument(help="the request id (`registry users pending`)")],
    username: Annotated[str | None, typer.Option(help="the approving administrator")] = None,
) -> None:
    """Approve a request as a second administrator: log in with username, password and, if
    enrolled, a TOTP code (REGISTRY_APPROVER_PASSWORD / REGISTRY_APPROVER_OTP when not a terminal)."""
    try:
        approval_id = uuid.UUID(request)
    except ValueError:
        console.print("[red]not a request id[/red]")
        raise typer.Exit(2) from None
    settings = _settings()
    runtime = _open(settings)
    try:
        done = approve_from_console(
            runtime.engine,
            runtime.clock,
            runtime.provider,
            settings,
            _credentials("approver", username),
            approval_id=approval_id,
        )
    except RegistryError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    console.print(f"approved {done.approval.action} {done.approval.id}")
    if done.one_time_password is not None:
        _show_one_time(done.one_time_password)


@keys_app.command("rotate")
def keys_rotate(
    target: Annotated[
        RotationTarget,
        typer.Option(
            help="kek: rewrap DEKs; dek: new data keys + sweep; index: blind indexes; credential: a new issuing key"
        ),
    ],
    resume: Annotated[bool, typer.Option(help="kek only: finish an interrupted rewrap without a new KEK")] = False,
) -> None:
    """Rotate keys online, in batches; safe to re-run after a crash (it resumes)."""
    runtime = _open(_settings())
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task(f"rotating {target}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        count = rotation_work(runtime, target, resume=resume)(progress)
    with transaction(runtime.engine) as session:
        principal = system_principal(Role.SECURITY_ADMIN)
        AuditTrail(runtime.clock, actor_of(principal)).append(
            session, Event(Action.KEY_ROTATE, targets=(str(target),), reason=f"{count} items")
        )
    console.print(f"{target} rotation done: {count} items")


@keys_app.command("status")
def keys_status() -> None:
    """Key versions and states (never key material)."""
    runtime = _open(_settings())
    with transaction(runtime.engine) as session:
        rows = key_status(session, runtime.keyring)
    table = Table("purpose", "version", "status", "count")
    for row in rows:
        table.add_row(row.purpose, str(row.version), row.status, str(row.count))
    Console().print(table)


@audit_app.command("checkpoint")
def audit_checkpoint(out: Annotated[Path, typer.Option(help="where to save the signed checkpoint")]) -> None:
    """Sequence what is pending, sign a fresh checkpoint, and save it (keep it off this machine)."""
    runtime = _open(_settings())
    runtime.sequencer.drain()
    try:
        runtime.sequencer.checkpoint()
    except WitnessConflict as exc:
        console.print(f"[red]not signed: {exc}; run `registry audit verify`[/red]")
        raise typer.Exit(1) from None
    with transaction(runtime.engine) as session:
        note = latest_checkpoint(session).note
    out.write_text(note, encoding="utf-8")
    console.print(f"saved checkpoint to {out}")


@credential_app.command("verify")
def credential_verify(
    presentation: Annotated[Path, typer.Argument(help="the presentation (the QR's text) in a file")],
    issuer_metadata: Annotated[Path, typer.Option(help="a saved copy of /.well-known/jwt-vc-issuer")],
    status_list: Annotated[Path, typer.Option(help="a saved copy of /credentials/status-lists/1")],
    id_number: Annotated[
        str | None, typer.Option(help="the number on the identity card shown, checked against the binding")
    ] = None,
    at: Annotated[datetime | None, typer.Option(help="check as of this moment (UTC); default now")] = None,
) -> None:
    """Check a permit credential offline: signature, disclosures, expiry and status, with
    only the issuer's published keys and status list. Prints what the holder disclosed;
    exits 1 when it does not verify."""
    verdict = verify_credential(
        presentation.read_text().strip(),
        metadata=load_json(issuer_metadata.read_text()),
        status_list=status_list.read_text().strip(),
        at=(at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at) or datetime.now(UTC),
        id_number=id_number,
    )
    typer.echo(
        json.dumps({"valid": verdict.ok, "reason": verdict.reason, "claims": verdict.claims}, ensure_ascii=False)
    )
    raise typer.Exit(0 if verdict.ok else 1)


@audit_app.command("vkey")
def audit_vkey() -> None:
    """Print the checkpoints' verifier key (signed-note form) for witnesses and auditors."""
    settings = _settings()
    runtime = _open(settings)
    typer.echo(verifier_key(settings.audit_origin, runtime.provider.public_key()))


@audit_app.command("verify")
def audit_verify(
    against: Annotated[Path | None, typer.Option(help="a checkpoint saved earlier by `audit checkpoint`")] = None,
    workers: Annotated[int, typer.Option(min=1, help="processes recomputing leaf hashes side by side")] = (
        os.cpu_count() or 1
    ),
    record: Annotated[
        bool,
        typer.Option(
            help="put the result on the record (`audit:verify`, read by /metrics) for a scheduled run; "
            "never when verifying evidence: it writes to the log it checks"
        ),
    ] = False,
    require_witness: Annotated[
        bool | None,
        typer.Option(
            "--require-witness/--no-require-witness",
            help="fail unless a witness (the checkpoint sink or --against) was checked; default: on in production",
        ),
    ] = None,
) -> None:
    """Recompute the whole log; check every signed checkpoint, the checkpoint sink's and, if given, a saved one."""
    settings = _settings()
    runtime = _open(settings, recovering=True)  # evidence is checked as it stands
    public_key = runtime.provider.public_key()
    witnesses = []
    if against is not None:
        try:
            saved = parse_signed_note(
                against.read_text(encoding="utf-8"), public_key=public_key, origin=settings.audit_origin
            )
        except CheckpointError as exc:
            console.print(f"[red]the saved checkpoint does not verify: {exc}[/red]")
            raise typer.Exit(1) from None
        witnesses.append(Witness(f"the saved checkpoint {against}", saved))
    sink = CheckpointSink(settings.checkpoint_sink, origin=settings.audit_origin, public_key=public_key)
    try:
        held = sink_witness(sink, in_data_dir=settings.checkpoint_sink_in_data_dir)
    except (CheckpointError, OSError) as exc:
        console.print(f"[red]the checkpoint sink's note ({sink.path}) cannot be used as a witness: {exc}[/red]")
        raise typer.Exit(1) from None
    if held is not None:
        witnesses.append(held)
    try:  # the notes and statements the sink kept when it crossed a declared restore
        witnesses += [Witness(f"the checkpoint sink's {name}", note) for name, note in sink.superseded()]
        kept_restores = sink.restores()
    except (CheckpointError, RestoreError, OSError) as exc:
        console.print(f"[red]a note the checkpoint sink kept across a restore cannot be used: {exc}[/red]")
        raise typer.Exit(1) from None
    timeliness = Timeliness(
        now=runtime.clock.now(),
        grace_s=settings.audit_checkpoint_grace_s,
        checkpoint_interval_s=settings.audit_checkpoint_interval_s,
    )
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task("verifying", total=None)
        report = verify_log(
            runtime.engine,
            public_key,
            settings.audit_origin,
            witnesses=witnesses,
            timeliness=timeliness,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            workers=workers,
            kept_restores=kept_restores,
        )
    for epoch in report.epochs:
        console.print(f"[yellow]declared restore: {epoch}[/yellow]")
    if report.witnesses:
        console.print("witness used: " + "; ".join(report.witnesses))
    else:
        console.print("no witness used: only the database's own checkpoints were checked")
    required = settings.profile is Profile.PRODUCTION if require_witness is None else require_witness
    if required and not report.witnesses:
        report.fail("a witness is required: the checkpoint sink holds no checkpoint yet and no --against was given")
    if record:
        _record_verify(runtime, report)
    if report.ok:
        console.print(
            f"audit log verified: {report.size} entries, {report.checkpoints_checked} checkpoints, "
            f"{report.pending} pending"
        )
        return
    console.print(
        f"[red]audit log NOT verified: {report.size} sequenced and {report.pending} pending of {report.entries} "
        f"entries, newest checkpoint covers {report.covered}[/red]"
    )
    if report.first_bad_seq is not None:
        console.print(f"[red]first bad entry: seq {report.first_bad_seq} (entry id {report.first_bad_entry_id})[/red]")
    for problem in report.problems[:20]:
        console.print(f"[red]- {problem}[/red]")
    raise typer.Exit(1)


def _record_verify(runtime: Runtime, report: VerifyReport) -> None:
    try:
        with transaction(runtime.engine) as session:
            record_verify(session, AuditTrail(runtime.clock, Actor("system")), report)
    except Exception as exc:  # a read-only login, a standby: the result above still stands
        console.print(f"[yellow]the result could not be recorded ({type(exc).__name__})[/yellow]")


@demo_app.command("seed")
def demo_seed_command(
    persons: Annotated[int, typer.Option(min=1, help="synthetic residents to create")],
    seed: Annotated[int, typer.Option(help="generator seed; the same seed twice adds nothing")] = 0,
    org_unit: Annotated[str | None, typer.Option(help="seed only this org unit's subtree")] = None,
    alongside_real_units: Annotated[
        bool, typer.Option(help="seed even though the registry holds org units of its own (not the demo tree's)")
    ] = False,
) -> None:
    """Create the synthetic 测试市 tree (root 990100, a code no real division has) if absent,
    then N residents with dwellings and registrations. Refused on a registry with units of
    its own unless --alongside-real-units."""
    runtime = _open(_settings())
    try:
        with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=console) as bar:
            task = bar.add_task("seeding", total=persons)
            counts = demo_seed(
                runtime,
                persons=persons,
                seed=seed,
                org_unit=org_unit,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                alongside_real_units=alongside_real_units,
            )
    except RegistryError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    except Exception as exc:
        # No traceback: its frames hold the synthetic rows, and the habit matters.
        console.print(f"[red]seeding stopped by an unexpected {type(exc).__name__}; committed batches stay[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"seeded: {counts.org_units} org units, {counts.persons} persons, {counts.dwellings} dwellings, "
        f"{counts.registrations} registrations ({counts.duplicates} already present, {counts.rejected} rejected)"
    )


OnReject = Callable[[Rejection], None]


def _run_import(run: Callable[[ProgressFn, OnReject | None], T], rejects: Path | None) -> tuple[T, int]:
    """Run an import under a progress bar; the rejections are shown (the first 20) unless
    they go to a rejects file. Returns what the import counted, and the rejections shown."""
    shown: list[Rejection] = []
    try:
        with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=console) as bar:
            task = bar.add_task("importing", total=None)
            counts = run(
                lambda done, total: bar.update(task, completed=done, total=total),
                shown.append if rejects is None else None,
            )
    except RegistryError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None
    except Exception as exc:
        # No traceback: its frames hold the rows being imported (personal values).
        console.print(
            f"[red]import stopped by an unexpected {type(exc).__name__}; the batches committed before it stay, "
            "and running the same file again resumes (rows already in are skipped)[/red]"
        )
        raise typer.Exit(1) from None
    for rejection in shown[:20]:
        console.print(f"row {rejection.row_number}: {rejection.reason}")
    if len(shown) > 20:
        console.print(f"… and {len(shown) - 20} more: pass --rejects FILE to keep them all")
    return counts, len(shown)


ImportFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, help="UTF-8 .csv (header row) or .ndjson/.jsonl")
]
RejectsFile = Annotated[
    Path | None, typer.Option(help="write rejected rows here (CSV: row_number, reason; no personal values)")
]


@import_app.command("residence")
def import_residence(
    file: ImportFile,
    rejects: RejectsFile = None,
    org_unit: Annotated[
        str | None, typer.Option(help="act only within this org unit's subtree; default for an empty dwelling_org_unit")
    ] = None,
) -> None:
    """Import residence registrations (persons, dwellings, registrations); re-running a file adds nothing."""
    runtime = _open(_settings())
    counts, _ = _run_import(
        lambda progress, on_reject: import_file(
            runtime, file, rejects=rejects, org_unit=org_unit, progress=progress, on_reject=on_reject
        ),
        rejects,
    )
    console.print(
        f"rows {counts.rows}, imported {counts.imported}, skipped as duplicates {counts.duplicates}, "
        f"rejected {counts.rejected}" + (f" (see {rejects})" if rejects is not None and counts.rejected else "")
    )
    if counts.rejected:
        raise typer.Exit(1)


@import_app.command("employer-report")
def import_employer_report(
    file: ImportFile,
    username: Annotated[str, typer.Option(help="the importing account: it logs in, and acts as itself")],
    rejects: RejectsFile = None,
) -> None:
    """Import an employer's report of hires and leavers (浙江省流动人口居住登记条例 Art. 8) as the
    account that logs in here (REGISTRY_IMPORTER_PASSWORD / _OTP when not a terminal),
    within its scope: links and unlinks the workers' registrations; re-running changes nothing."""
    settings = _settings()
    runtime = _open(settings)
    principal = _importer(runtime, settings, username)
    counts, _ = _run_import(
        lambda progress, on_reject: import_report(
            runtime, file, principal=principal, rejects=rejects, progress=progress, on_reject=on_reject
        ),
        rejects,
    )
    console.print(
        f"rows {counts.rows}, linked {counts.linked}, unlinked {counts.unlinked}, "
        f"unchanged {counts.duplicates}, reported late {counts.late}, rejected {counts.rejected}"
        + (f" (see {rejects})" if rejects is not None and counts.rejected else "")
    )
    if counts.rejected:
        raise typer.Exit(1)


@import_app.command("notices")
def import_notices(
    file: ImportFile,
    kind: Annotated[
        NoticeKind,
        typer.Option(
            help="prison_release: resettlement files in `notified`; "
            "court_correction: community-correction files in `awaiting_report`"
        ),
    ],
    username: Annotated[str, typer.Option(help="the importing account: it logs in, and opens every file as itself")],
    rejects: RejectsFile = None,
) -> None:
    """Open a casefile for each incoming notice, as the account that logs in here (password
    and, if enrolled, a TOTP code; REGISTRY_IMPORTER_PASSWORD / REGISTRY_IMPORTER_OTP when not
    a terminal), within its roles and scope; re-running a file opens nothing."""
    settings = _settings()
    runtime = _open(settings)
    principal = _importer(runtime, settings, username)
    counts, _ = _run_import(
        lambda progress, on_reject: import_notice_file(
            runtime, file, kind=kind, principal=principal, rejects=rejects, progress=progress, on_reject=on_reject
        ),
        rejects,
    )
    console.print(
        f"rows {counts.rows}, files opened {counts.opened} ({counts.subjects_registered} with a new subject), "
        f"skipped as duplicates {counts.duplicates}, rejected {counts.rejected}"
        + (f" (see {rejects})" if rejects is not None and counts.rejected else "")
    )
    if counts.rejected:
        raise typer.Exit(1)


def _importer(runtime: Runtime, settings: Settings, username: str) -> Principal:
    """The importing account, logged in at the console (REGISTRY_IMPORTER_PASSWORD / _OTP
    when not a terminal); a refusal is said plainly, exit 2."""
    try:
        return log_in(runtime.engine, runtime.clock, runtime.provider, settings, _credentials("importer", username))
    except RegistryError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None


def _replay(settings: Settings) -> None:
    runtime = _open(settings, recovering=True)
    trail = AuditTrail(runtime.clock, actor_of(system_principal(Role.SECURITY_ADMIN)))
    with transaction(runtime.engine) as session:
        done = replay_erasures(session, runtime.keyring.journal, trail)  # type: ignore[arg-type]
    console.print(f"erasures replayed: {done.keys} data keys destroyed again, {done.records} records cleared")
    # Retention clears some records without destroying a key (a registration past its
    # period), so the journal does not hold those: the run catches up before anyone reads.
    count = retention_work(runtime, trail)(lambda done, total: None)
    console.print(f"retention caught up: {count} records sealed or erased")


@erasures_app.command("replay")
def erasures_replay() -> None:
    """Destroy again every data key the erasure journal names that the database still holds
    (after a restore), and clear what they sealed; the service serves again after it."""
    settings = _settings()
    try:
        with runlock.exclusive(settings.data_dir):  # never beside a serving service
            _replay(settings)
    except RegistryError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None


@app.command("backup")
def backup_command(
    out: Annotated[Path, typer.Option(help="the backup file to create (0600; never over an existing file)")],
) -> None:
    """Back up the embedded SQLite database while the service runs (PostgreSQL: pgBackRest).
    Keep the key file and the erasure journal apart from it."""
    settings = _settings()
    try:
        size = backup(create_engine(settings.service_database_url), out)
    except (RegistryError, FileExistsError) as exc:
        console.print(f"[red]{getattr(exc, 'detail', None) or f'{out} exists: name a new file'}[/red]")
        raise typer.Exit(2) from None
    console.print(f"backup written: {out} ({size} bytes)")


ByOption = Annotated[
    str, typer.Option("--by", help="the security administrator declaring it (logs in; REGISTRY_RESTORER_PASSWORD/_OTP)")
]
ReasonOption = Annotated[RestoreReason, typer.Option(help="why the database was restored")]


@app.command("restore")
def restore_command(
    backup_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a file `registry backup` wrote")],
    by: ByOption,
    reason: ReasonOption,
    keep_current: Annotated[
        Path | None,
        typer.Option(help="first copy the database as it is to this new file (0600), kept where backups are"),
    ] = None,
) -> None:
    """Restore the embedded SQLite database from a backup (the service stopped: refused while
    it runs), declare the restore (a new audit log epoch), then replay the erasure journal:
    whoever was erased since the backup stays erased."""
    settings = _settings()
    provider = open_provider(settings.key_provider, data_dir=settings.data_dir, environ=os.environ)

    def keyring_of(engine: Engine) -> Keyring:
        with Session(engine) as session:
            suite, bits = configured_suite(session)
        return Keyring(provider, suite, SystemClock(), index_bits=bits)

    try:
        with runlock.exclusive(settings.data_dir):
            check_backup(backup_file, keyring_of)
            if sqlite_path(settings.service_database_url).exists():
                _journal_current(settings, provider)
            restore_file(backup_file, settings.service_database_url, keep_current=keep_current)
            if keep_current is not None:
                console.print(f"the database as it was is kept in {keep_current} (0600)")
            try:
                _declare(settings, by, reason)
            except RegistryError:
                console.print(
                    "[red]the backup is restored but the restore is not declared: the service will not start "
                    "until `registry audit declare-restore` and `registry erasures replay` have run[/red]"
                )
                raise
            _replay(settings)
    except (RegistryError, FileExistsError) as exc:
        console.print(f"[red]{getattr(exc, 'detail', None) or f'{keep_current} exists: name a new file'}[/red]")
        raise typer.Exit(2) from None


def _journal_current(settings: Settings, provider: KeyProvider) -> None:
    """The database about to be replaced, journaled and checked: erasures it made but did
    not journal yet (a failure after their commit) would be lost with it, and a journal
    that lacks some of its erasures (cut short) would let a restore bring them back."""
    live = create_engine(settings.service_database_url)
    try:
        journal = ErasureJournal(settings.erasure_journal_path, provider)
        with transaction(live) as session:
            journal.flush(session)
        with transaction(live) as session:
            journal.check(session)
    finally:
        live.dispose()


@audit_app.command("declare-restore")
def audit_declare_restore(by: ByOption, reason: ReasonOption) -> None:
    """Start a new audit log epoch on a database put back to an earlier point (pgBackRest
    for PostgreSQL; `registry restore` declares on its own): a signed restore statement,
    so witnesses see a declared restore, not a rewrite. Then `registry erasures replay`."""
    settings = _settings()
    try:
        with runlock.exclusive(settings.data_dir):  # never beside a serving service
            _declare(settings, by, reason)
    except RegistryError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None


def _declare(settings: Settings, by: str, reason: RestoreReason) -> None:
    runtime = _open(settings, recovering=True)
    try:
        statement = declare_restore(runtime, _credentials("restorer", by), reason)
    except RestoreError as exc:
        raise ConfigurationError(str(exc)) from None
    console.print(
        f"restore declared: epoch {statement.epoch} begins at seq {statement.restored_size}"
        + (
            f"; the witnessed tree of {statement.superseded.size} entries is superseded"
            if statement.superseded is not None
            else ""
        )
    )


@retention_app.command("run")
def retention_run() -> None:
    """Seal and erase (crypto-shred) what the retention table says is due; resumable."""
    runtime = _open(_settings())
    principal = system_principal(Role.SECURITY_ADMIN)
    trail = AuditTrail(runtime.clock, actor_of(principal))
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task("retention", total=None)
        count = retention_work(runtime, trail)(lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"retention: {count} records sealed or erased")
