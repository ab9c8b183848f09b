"""`registry audit verify` against what an attacker holding the database can do beyond
editing entries: wiping the signed state, leaving holes, tampering with tree nodes only,
and against witnesses (the checkpoint sink, a saved note) that disagree. Both engines."""

from __future__ import annotations

import base64
import sqlite3
from contextlib import closing

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, select
from typer.testing import CliRunner

from registry.audit.checkpoints import Checkpoint, parse_signed_note, sign_checkpoint, verifier_key
from registry.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from registry.audit.sink import CheckpointSink, WitnessConflict
from registry.audit.verify import Timeliness, Witness, verify_log
from registry.cli import app
from registry.db import create_engine
from registry.errors import ConfigurationError
from registry.settings import Settings
from tests.api_helpers import STRONG_PASSWORD, as_user, create_user
from tests.audit.test_log import _rewrite_with_forged_entry
from tests.support.audit import append, disable_triggers

GRACE_S = 300.0


@pytest.fixture
def owner(database_url):
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def log(runtime):
    """40 entries (plus those of init), sequenced, with a checkpoint at the end (also in the sink)."""
    append(runtime, 40)
    runtime.sequencer.drain()
    assert runtime.sequencer.checkpoint() is not None
    return runtime


def verify(runtime, *, witnesses=(), judged=True, **kwargs):
    timeliness = Timeliness(now=runtime.clock.now(), grace_s=GRACE_S, checkpoint_interval_s=5.0) if judged else None
    return verify_log(
        runtime.engine,
        runtime.provider.public_key(),
        runtime.settings.audit_origin,
        witnesses=witnesses,
        timeliness=timeliness,
        **kwargs,
    )


def problems(report) -> str:
    return "\n".join(report.problems)


def sink_of(runtime) -> CheckpointSink:
    return runtime.sequencer.sink


def count(runtime, model) -> int:
    with Session(runtime.engine) as session:
        return session.exec(select(sa.func.count()).select_from(model)).one()


def raw_sqlite(owner, *statements: str) -> None:
    """Statements with foreign keys off (only possible outside a transaction on SQLite)."""
    with closing(sqlite3.connect(owner.url.database)) as raw:
        raw.execute("PRAGMA foreign_keys = OFF")
        for statement in statements:
            raw.execute(statement)
        raw.commit()


def run_sql(owner, *statements: str) -> None:
    if owner.dialect.name == "sqlite":
        raw_sqlite(owner, *statements)
        return
    with owner.begin() as conn:
        conn.exec_driver_sql("SET session_replication_role = replica")  # foreign keys off
        for statement in statements:
            conn.exec_driver_sql(statement)


def entry_ids(runtime) -> list[int]:
    with Session(runtime.engine) as session:
        return list(session.exec(select(AuditEntry.id).order_by(AuditEntry.id)))


# -- the reported case ---------------------------------------------------------------------


def test_wiping_leaves_nodes_and_checkpoints_and_deleting_entries_fails(log, owner, clock):
    """Drop the triggers, wipe the leaf, node and checkpoint tables, delete entries: before,
    verify said "0 entries, 0 checkpoints, N pending" and passed."""
    held = sink_of(log).newest()
    assert held is not None and held.size == count(log, AuditLeaf)
    ids = entry_ids(log)
    disable_triggers(owner)
    run_sql(
        owner,
        "DELETE FROM audit_leaf",
        "DELETE FROM audit_node",
        "DELETE FROM audit_checkpoint",
        f"DELETE FROM audit_entry WHERE id IN ({ids[10]}, {ids[11]})",
    )
    # Right away, the sink's checkpoint is the witness: the log is shorter than it.
    report = verify(log, witnesses=[Witness("the checkpoint sink", held)])
    assert not report.ok and "truncated" in problems(report)
    assert report.size == 0 and report.pending == len(ids) - 2
    # Without any witness, once the grace period is over: entries nothing covers.
    clock.advance(seconds=GRACE_S + 1)
    report = verify(log)
    assert not report.ok
    assert f"{len(ids) - 2} entries written more than 300 s ago were never sequenced" in problems(report)
    if owner.dialect.name == "sqlite":
        assert f"first missing id {ids[10]}" in problems(report)
    # The service then refuses to sign a tree that does not extend the sink's.
    log.sequencer.drain()
    with pytest.raises(WitnessConflict, match="does not extend|holds a tree of"):
        log.sequencer.checkpoint()
    assert count(log, AuditCheckpoint) == 0
    assert sink_of(log).newest() == held  # the evidence stays


def test_the_cli_names_the_cause_and_exits_non_zero(log, owner, settings, monkeypatch):
    monkeypatch.setenv("REGISTRY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("REGISTRY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    good = runner.invoke(app, ["audit", "verify", "--workers", "1"])
    assert good.exit_code == 0, good.output
    assert "witness used: the checkpoint sink" in good.output and "not independent" in good.output
    disable_triggers(owner)
    run_sql(owner, "DELETE FROM audit_leaf", "DELETE FROM audit_node", "DELETE FROM audit_checkpoint")
    bad = runner.invoke(app, ["audit", "verify", "--workers", "1"])
    assert bad.exit_code == 1, bad.output
    assert "NOT verified" in bad.output and "truncated" in bad.output
    # The entries were written by the test clock, long before the real now.
    assert "were never sequenced" in bad.output
    # A log behind its witness: no command but the recovery ones starts on it, and the
    # operator's `audit checkpoint` signs nothing.
    run_sql(owner, f"DELETE FROM audit_entry WHERE id = {entry_ids(log)[4]}")
    refused = runner.invoke(app, ["audit", "checkpoint", "--out", str(settings.data_dir / "saved")])
    assert refused.exit_code == 2 and "does not extend the checkpoint" in refused.output, refused.output
    assert count(log, AuditCheckpoint) == 0


# -- coverage in time ------------------------------------------------------------------------


def test_entries_left_unsequenced_past_the_grace_period_fail(log, clock):
    append(log, 3)  # no sequencer runs
    fresh = verify(log)
    assert fresh.ok, fresh.problems
    assert fresh.pending == 3
    clock.advance(seconds=GRACE_S - 1)
    assert verify(log).ok
    clock.advance(seconds=2)
    report = verify(log)
    assert not report.ok and "3 entries written more than 300 s ago were never sequenced" in problems(report)
    assert verify(log, judged=False).ok  # only a clock can tell


def test_a_checkpoint_older_than_its_interval_with_entries_after_it_fails(log, clock):
    covered = count(log, AuditLeaf)
    append(log, 5)
    log.sequencer.drain()  # sequenced, never signed
    assert verify(log).ok
    clock.advance(seconds=GRACE_S + 1)
    report = verify(log)
    assert not report.ok
    assert f"the newest checkpoint (size {covered}, signed 301 s ago) is older than its interval" in problems(report)
    assert f"5 entries older than 300 s follow it (from seq {covered})" in problems(report)
    log.sequencer.checkpoint()
    assert verify(log).ok


def test_sequenced_entries_without_any_checkpoint_fail(log, owner, clock):
    disable_triggers(owner)
    run_sql(owner, "DELETE FROM audit_checkpoint")
    assert verify(log).ok  # within the grace period the signer may simply not have run yet
    clock.advance(seconds=GRACE_S + 1)
    report = verify(log)
    assert not report.ok and "no signed checkpoint covers the log" in problems(report)


# -- counts and ids ---------------------------------------------------------------------------


def test_a_deleted_unsequenced_entry_leaves_a_hole_in_the_ids(log, owner):
    append(log, 3)
    victim = entry_ids(log)[-2]
    disable_triggers(owner)
    run_sql(owner, f"DELETE FROM audit_entry WHERE id = {victim}")
    report = verify(log)
    if owner.dialect.name == "postgresql":
        # Rolled-back requests burn sequence values there: a hole proves nothing, and an
        # entry deleted before sequencing is beyond the log's reach (the witness keeps the rest).
        assert report.ok
        return
    assert not report.ok and f"first missing id {victim}" in problems(report)


def test_a_gap_in_the_sequence_numbers_is_named(log, owner):
    disable_triggers(owner)
    run_sql(owner, "DELETE FROM audit_leaf WHERE seq = 7")
    report = verify(log)
    assert not report.ok and "sequence gap: expected 7, found 8" in problems(report)
    assert report.first_bad_seq == 7


def test_a_leaf_counted_twice_does_not_add_up(log, owner):
    if owner.dialect.name == "sqlite":
        pytest.skip("dropping a UNIQUE constraint means rebuilding the table on SQLite; the check is engine-neutral")
    with owner.begin() as conn:
        constraint = conn.exec_driver_sql(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'audit_leaf'::regclass AND contype = 'u'"
        ).scalar_one()
        conn.exec_driver_sql(f"ALTER TABLE audit_leaf DROP CONSTRAINT {constraint}")
    disable_triggers(owner)
    size = count(log, AuditLeaf)
    duplicate = (
        f"INSERT INTO audit_leaf (seq, entry_id, leaf_hash) SELECT {size}, entry_id, leaf_hash FROM audit_leaf "
        "WHERE seq = 3"
    )
    run_sql(owner, duplicate)
    report = verify(log)
    assert not report.ok and "do not add up" in problems(report)


# -- tree nodes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "index"), [(0, 5), (1, 0), (3, 1)])
def test_a_tampered_tree_node_alone_is_found(log, owner, level, index):
    """Nodes inside the tree (not on its right edge): proofs through them would fail, yet
    the entries, leaves and checkpoint are intact."""
    disable_triggers(owner)
    with owner.begin() as conn:
        conn.execute(
            sa.text('UPDATE audit_node SET hash = :h WHERE level = :l AND "index" = :i'),
            {"h": bytes(32), "l": level, "i": index},
        )
    report = verify(log)
    assert not report.ok
    assert f"stored tree node (level {level}, index {index}) differs from the entries" in problems(report)
    assert len(report.problems) == 1  # the entries themselves are fine


def test_a_deleted_tree_node_is_found(log, owner):
    disable_triggers(owner)
    run_sql(owner, 'DELETE FROM audit_node WHERE level = 2 AND "index" = 3')
    report = verify(log, batch=8)
    assert not report.ok and "stored tree node (level 2, index 3) is missing" in problems(report)


# -- witnesses ---------------------------------------------------------------------------------


def forged(runtime, size: int, root: bytes) -> Checkpoint:
    """A note signed with the service's own key over another root: what a rewritten log's
    service would sign, and what a witness holding the old one must contradict."""
    checkpoint = Checkpoint(origin=runtime.settings.audit_origin, size=size, root_hash=root, timestamp=1)
    provider = runtime.provider
    note = sign_checkpoint(checkpoint, sign=provider.sign, public_key=provider.public_key())
    return parse_signed_note(note, public_key=provider.public_key(), origin=runtime.settings.audit_origin)


def test_a_witness_that_agrees_is_reported_as_used(log):
    held = sink_of(log).newest()
    report = verify(log, witnesses=[Witness("the checkpoint sink", held)])
    assert report.ok and report.witnesses == [f"the checkpoint sink (size {held.size})"]
    assert report.checkpoints_checked == 2  # the database's and the witness's
    assert verify(log).witnesses == []


def test_a_witness_that_disagrees_fails(log):
    held = sink_of(log).newest()
    other = forged(log, held.size, bytes(32))
    report = verify(log, witnesses=[Witness("the saved checkpoint", other)])
    assert not report.ok
    assert f"the saved checkpoint at size {held.size} disagrees with the log's checkpoint" in problems(report)
    # At a size the database never signed, the recomputed history is compared with it.
    report = verify(log, witnesses=[Witness("the saved checkpoint", forged(log, 10, bytes(32)))])
    assert not report.ok and "history up to seq 9 differs from the saved checkpoint (size 10)" in problems(report)
    # One that saw more than the log now holds.
    report = verify(log, witnesses=[Witness("the saved checkpoint", forged(log, held.size + 5, bytes(32)))])
    assert not report.ok and "truncated" in problems(report)


def test_the_sink_refuses_a_rewritten_history_and_keeps_its_note(log, owner):
    """A rewrite the database cannot tell (consistent leaves, nodes and checkpoints) meets
    the sink: the service will not sign over it, and verify with the sink fails."""
    held = sink_of(log).newest()
    disable_triggers(owner)
    _rewrite_with_forged_entry(log, owner, at=3)
    run_sql(owner, "DELETE FROM audit_checkpoint")
    with pytest.raises(WitnessConflict, match="does not extend the tree"):
        log.sequencer.checkpoint()
    assert sink_of(log).newest() == held
    assert verify(log).ok  # the database alone is fooled …
    report = verify(log, witnesses=[Witness("the checkpoint sink", held)])
    assert not report.ok and "differs from the checkpoint sink" in problems(report)  # … the witness is not


def test_the_sink_moves_forward_only_along_the_log(log):
    first = sink_of(log).newest()
    append(log, 5)
    log.sequencer.drain()
    log.sequencer.checkpoint()
    second = sink_of(log).newest()
    assert second.size == first.size + 5
    with Session(log.engine) as session:
        assert session.get(AuditCheckpoint, second.size).note == sink_of(log).newest_note()


def test_a_tampered_sink_note_is_refused(log):
    sink = sink_of(log)
    sink.path.write_text(sink.newest_note().replace("\n\n", "\nx\n\n"), encoding="utf-8")
    append(log, 1)
    log.sequencer.drain()
    with pytest.raises(WitnessConflict, match="does not verify"):
        log.sequencer.checkpoint()


def test_require_witness_refuses_to_pass_without_one(log, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("REGISTRY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("REGISTRY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REGISTRY_CHECKPOINT_SINK_DIR", str(tmp_path / "empty-sink"))
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    loose = runner.invoke(app, ["audit", "verify", "--workers", "1"])
    assert loose.exit_code == 0 and "no witness used" in loose.output
    strict = runner.invoke(app, ["audit", "verify", "--workers", "1", "--require-witness"])
    assert strict.exit_code == 1 and "a witness is required" in strict.output
    saved = tmp_path / "saved.checkpoint"
    saved.write_text(sink_of(log).newest_note(), encoding="utf-8")
    witnessed = runner.invoke(app, ["audit", "verify", "--workers", "1", "--require-witness", "--against", str(saved)])
    assert witnessed.exit_code == 0, witnessed.output
    assert "witness used: the saved checkpoint" in witnessed.output


# -- settings ---------------------------------------------------------------------------------


STRONG = "kq3Zt9vX2mLw8RpB4nYc7HsJ1dFgQeAu"


def test_production_refuses_a_sink_inside_the_data_directory_or_none(tmp_path):
    data = tmp_path / "data"
    with pytest.raises(ConfigurationError, match="REGISTRY_CHECKPOINT_SINK_DIR is required"):
        Settings(profile="production", data_dir=data, token_secret=STRONG)
    for inside in (data, data / "sink", data / "a" / ".." / "sink"):
        with pytest.raises(ConfigurationError, match="outside the data directory"):
            Settings(profile="production", data_dir=data, token_secret=STRONG, checkpoint_sink_dir=inside)
    outside = Settings(profile="production", data_dir=data, token_secret=STRONG, checkpoint_sink_dir=tmp_path / "w")
    assert outside.checkpoint_sink == tmp_path / "w" and not outside.checkpoint_sink_in_data_dir
    dev = Settings(profile="dev", data_dir=data)
    assert dev.checkpoint_sink == data / "checkpoint-sink" and dev.checkpoint_sink_in_data_dir


def test_grace_must_exceed_the_checkpoint_interval():
    with pytest.raises(ConfigurationError, match="GRACE"):
        Settings(audit_checkpoint_interval_s=10, audit_checkpoint_grace_s=10)


# -- the verifier key --------------------------------------------------------------------------


def test_vkey_matches_the_go_reference_form():
    """golang.org/x/mod/sumdb/note's documented key, rebuilt from its public key."""
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(vkey.split("+")[2])[1:])
    assert verifier_key("PeterNeumann", public_key) == vkey


def test_vkey_cli_and_api_agree_and_check_the_notes(log, client, bootstrap, settings, monkeypatch):
    admin = as_user(client, *bootstrap)
    create_user(client, admin, "auditor.v", ["auditor"], None)
    auditor = as_user(client, "auditor.v", STRONG_PASSWORD)
    assert client.get("/api/v1/audit/verifier-key").status_code == 401
    assert client.get("/api/v1/audit/verifier-key", headers=admin).status_code == 403
    body = client.get("/api/v1/audit/verifier-key", headers=auditor).json()
    assert body["origin"] == settings.audit_origin
    monkeypatch.setenv("REGISTRY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("REGISTRY_DATABASE_URL", settings.database_url)
    printed = CliRunner().invoke(app, ["audit", "vkey"])
    assert printed.exit_code == 0 and printed.stdout.strip() == body["vkey"]
    name, key_hash, material = body["vkey"].split("+", 2)
    assert name == settings.audit_origin and len(key_hash) == 8
    note = client.get("/api/v1/audit/checkpoint", headers=auditor).json()["note"]
    # The note's signature line carries the same key hash the vkey names.
    assert base64.b64decode(note.rstrip("\n").rsplit(" ", 1)[1])[:4].hex() == key_hash
    assert base64.b64decode(material)[0] == 1
