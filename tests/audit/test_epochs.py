"""Restore epochs (issue 19, Deliver 5; PRIVACY.md §5), on both engines. A database put back
to an earlier point holds a shorter log than the checkpoint sink witnessed: undeclared, the
service refuses to start and verify calls it a truncation; declared by a logged-in security
administrator, the new epoch begins with the entry naming a signed statement, the sink
crosses to it keeping the superseded note, and verify checks the link. What someone with
the database could do to hide history through a statement is caught."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from registry.accounts.console_login import Credentials
from registry.api.app import create_app
from registry.audit.actions import Action
from registry.audit.checkpoints import Checkpoint, CheckpointError, parse_signed_note
from registry.audit.epochs import RestoreReason, parse_statement
from registry.audit.models import AuditCheckpoint, AuditEntry, AuditEpoch, AuditLeaf
from registry.audit.verify import Witness
from registry.db import create_engine
from registry.errors import ConfigurationError, Forbidden, Unauthenticated
from registry.restores import declare
from registry.runtime import open_runtime
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user
from tests.audit.test_log import _rewrite_with_forged_entry
from tests.audit.test_verify import problems, run_sql, sink_of, verify
from tests.support.audit import append, disable_triggers

SECADMIN = Credentials("secadmin.x", STRONG_PASSWORD, None)


@pytest.fixture
def owner(database_url):
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def staffed(runtime, bootstrap):
    """A security administrator and an officer, then 40 entries sequenced under a checkpoint."""
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        admin = as_user(client, *bootstrap)
        create_tree(client, admin)
        create_user(client, admin, "secadmin.x", ["security_admin"], None)
        create_user(client, admin, "police.a", ["police"], "320571")
    append(runtime, 40)
    runtime.sequencer.drain()
    assert runtime.sequencer.checkpoint() is not None
    return runtime


def _restore_to(owner, size: int) -> None:
    """What a restore does to the log: everything from seq `size` on is gone (entries,
    leaves, the nodes over them, the checkpoints beyond)."""
    disable_triggers(owner)
    run_sql(
        owner,
        f"DELETE FROM audit_entry WHERE id > (SELECT entry_id FROM audit_leaf WHERE seq = {size - 1})",
        f"DELETE FROM audit_leaf WHERE seq >= {size}",
        f'DELETE FROM audit_node WHERE ("index" + 1) * (1 << level) > {size}',
        f"DELETE FROM audit_checkpoint WHERE size > {size}",
        f"DELETE FROM audit_epoch WHERE start_seq >= {size}",
    )


def _grow(runtime, n: int) -> Checkpoint:
    runtime.clock.advance(seconds=30)
    append(runtime, n)
    runtime.sequencer.drain()
    row = runtime.sequencer.checkpoint()
    assert row is not None
    return sink_of(runtime).newest()


def _reopen(runtime, **kwargs):
    runtime.engine.dispose()
    return open_runtime(runtime.settings, clock=runtime.clock, engine=runtime.engine, **kwargs)


def test_a_declared_restore_starts_an_epoch_that_verify_and_the_sink_accept(staffed, owner):
    restore_point = sink_of(staffed).newest().size
    witnessed = _grow(staffed, 25)  # written after the backup, witnessed, then lost
    _restore_to(owner, restore_point)

    with pytest.raises(ConfigurationError, match="does not extend the checkpoint"):
        _reopen(staffed)  # undeclared: no serving
    before = verify(staffed, witnesses=[Witness("the checkpoint sink", witnessed)])
    assert not before.ok and "truncated" in problems(before)

    recovering = _reopen(staffed, recovering=True)
    recovering.clock.advance(seconds=60)
    statement = declare(recovering, SECADMIN, RestoreReason.DRILL)
    assert statement.epoch == 1 and statement.restored_size == restore_point
    assert statement.superseded == witnessed

    served = _reopen(recovering)  # declared: the service starts
    sink = sink_of(served)
    assert sink.newest().size > restore_point  # crossed with the first checkpoint of the epoch
    assert [note for _, note in sink.superseded()] == [witnessed]
    with Session(served.engine) as session:
        first = session.exec(
            select(AuditEntry)
            .join(AuditLeaf, AuditLeaf.entry_id == AuditEntry.id)
            .where(AuditLeaf.seq == restore_point)
        ).one()
    assert first.action == Action.AUDIT_RESTORE and first.reason == "drill"
    assert first.actor_roles == ["security_admin"]

    _grow(served, 5)  # the new epoch goes on; the sink moves along it
    report = verify(
        served, witnesses=[Witness("the checkpoint sink", sink.newest()), Witness("the superseded note", witnessed)]
    )
    assert report.ok, report.problems
    assert any("epoch 1 from seq" in line and f"{witnessed.size} entries" in line for line in report.epochs)
    assert any("the superseded note is of the epoch before 1" in line for line in report.epochs)


def test_only_a_logged_in_security_administrator_declares(staffed, owner):
    restore_point = sink_of(staffed).newest().size
    _grow(staffed, 5)
    _restore_to(owner, restore_point)
    recovering = _reopen(staffed, recovering=True)
    with pytest.raises(Forbidden):
        declare(recovering, Credentials("police.a", STRONG_PASSWORD, None), RestoreReason.DISASTER)
    with pytest.raises(Unauthenticated):
        declare(recovering, Credentials("secadmin.x", "wrong password", None), RestoreReason.DISASTER)
    with Session(recovering.engine) as session:
        assert session.exec(select(AuditEpoch)).all() == []
        failed = session.exec(select(AuditEntry).where(AuditEntry.action == Action.AUTH_LOGIN)).all()
        refused = session.exec(select(AuditEntry).where(AuditEntry.action == Action.ACCESS_DENIED)).all()
    assert any(entry.outcome == "denied" for entry in failed)  # the refused login is on the record
    assert any("restore:declare" in (entry.reason or "") for entry in refused)  # and the refused officer


def test_a_statement_altered_or_removed_in_the_database_fails_verify(staffed, owner):
    restore_point = sink_of(staffed).newest().size
    witnessed = _grow(staffed, 10)
    _restore_to(owner, restore_point)
    recovering = _reopen(staffed, recovering=True)
    recovering.clock.advance(seconds=60)
    declare(recovering, SECADMIN, RestoreReason.DISASTER)
    witnesses = [Witness("the superseded note", witnessed)]
    assert verify(recovering, witnesses=witnesses).ok

    with Session(recovering.engine) as session:
        note = session.exec(select(AuditEpoch)).one().statement
    # Someone with the database claims a bigger superseded tree: the signature breaks.
    changed = note.replace("reason disaster", "reason drill")
    run_sql(owner, f"UPDATE audit_epoch SET statement = '{changed}'")
    report = verify(recovering, witnesses=witnesses)
    assert not report.ok and "restore statement of epoch 1" in problems(report)
    # … or removes it: the restore entry stands alone, and the old witness is a truncation again.
    run_sql(owner, "DELETE FROM audit_epoch")
    report = verify(recovering, witnesses=witnesses)
    assert not report.ok
    assert "has no restore statement" in problems(report) and "truncated" in problems(report)


def test_a_witness_beyond_what_the_restore_declared_is_a_finding(staffed, owner):
    """The sink lagged (or was swapped for an older note) while an auditor kept a newer
    checkpoint: the statement supersedes less than was witnessed, and verify says so."""
    restore_point = sink_of(staffed).newest().size
    older = _grow(staffed, 5)
    newer = _grow(staffed, 5)
    sink_of(staffed).path.write_text(_note_of(staffed, older), encoding="utf-8")  # the sink set back
    _restore_to(owner, restore_point)
    recovering = _reopen(staffed, recovering=True)
    recovering.clock.advance(seconds=60)
    assert declare(recovering, SECADMIN, RestoreReason.DISASTER).superseded == older
    report = verify(recovering, witnesses=[Witness("the auditor's note", newer)])
    assert not report.ok and "the restore statement hides history" in problems(report)


def test_a_statement_never_passes_for_a_checkpoint(staffed, owner):
    restore_point = sink_of(staffed).newest().size
    _grow(staffed, 3)
    _restore_to(owner, restore_point)
    recovering = _reopen(staffed, recovering=True)
    declare(recovering, SECADMIN, RestoreReason.DRILL)
    with Session(recovering.engine) as session:
        note = session.exec(select(AuditEpoch)).one().statement
    public_key, origin = recovering.provider.public_key(), recovering.settings.audit_origin
    assert parse_statement(note, public_key=public_key, origin=origin).epoch == 1
    with pytest.raises(CheckpointError):
        parse_signed_note(note, public_key=public_key, origin=origin)


def _note_of(runtime, checkpoint: Checkpoint) -> str:
    with Session(runtime.engine) as session:
        return session.get(AuditCheckpoint, checkpoint.size).note


def test_a_rewrite_of_the_history_a_restore_keeps_is_not_declared(staffed, owner):
    """Someone with the database rewrites an entry below the restore point, rebuilds the
    tree and drops the checkpoints: the restored log no longer verifies as of its restore
    point, so no statement is signed over it."""
    restore_point = sink_of(staffed).newest().size
    _grow(staffed, 10)
    _restore_to(owner, restore_point)
    _rewrite_with_forged_entry(staffed, owner, at=5)
    run_sql(owner, "DELETE FROM audit_checkpoint")
    staffed.clock.advance(seconds=3600)  # the restore point is long past the signing interval
    append(staffed, 1)
    recovering = _reopen(staffed, recovering=True)
    with pytest.raises(ConfigurationError, match="does not verify, so no restore is declared"):
        declare(recovering, SECADMIN, RestoreReason.DISASTER)
    with Session(recovering.engine) as session:
        assert session.exec(select(AuditEpoch)).all() == []


def test_a_second_restore_to_before_the_first_is_numbered_past_it(staffed, owner):
    """Restore, declare, then restore again from a backup older than the first restore
    (an operator error undone): the sink remembers epoch 1, so this one is epoch 2, and
    the log verifies against everything the sink kept."""
    first_point = sink_of(staffed).newest().size
    _grow(staffed, 10)
    _restore_to(owner, first_point)
    recovering = _reopen(staffed, recovering=True)
    recovering.clock.advance(seconds=60)
    assert declare(recovering, SECADMIN, RestoreReason.OPERATOR_ERROR).epoch == 1
    _grow(recovering, 5)
    _restore_to(owner, first_point - 3)  # the backup before it: no epoch row, fewer entries
    again = _reopen(recovering, recovering=True)
    again.clock.advance(seconds=60)
    second = declare(again, SECADMIN, RestoreReason.OPERATOR_ERROR)
    assert second.epoch == 2
    sink = sink_of(again)
    kept = [Witness(name, note) for name, note in sink.superseded()]
    report = verify(again, witnesses=[Witness("the sink", sink.newest()), *kept], kept_restores=sink.restores())
    assert report.ok, report.problems
    assert len(kept) == 2 and [s.epoch for s in sink.restores()] == [1, 2]
    # Without the statement the sink kept, the first epoch's witness is unaccounted for.
    assert not verify(again, witnesses=kept).ok


def test_a_cached_frontier_is_not_trusted_across_a_restore(staffed, owner):
    """A sequencer still running while its database is put back (what the run lock now
    prevents) must not extend the restored tree from the frontier it cached."""
    size = sink_of(staffed).newest().size
    _restore_to(owner, size - 4)
    append(staffed, 4)  # the restored tree grows back to the cached size, with other entries
    staffed.sequencer.drain()
    append(staffed, 3)
    staffed.sequencer.drain()
    assert verify(staffed, judged=False).ok
