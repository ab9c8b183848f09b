"""Killing the sequencer mid-batch loses no committed entry, and the log verifies after restart."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from sqlmodel import Session, select

from registry.audit.models import AuditEntry, AuditLeaf
from registry.audit.verify import verify_log
from tests.support.audit import append

WORKER = [sys.executable, "-m", "tests.support.sequencer_worker"]


def _start(settings) -> subprocess.Popen[str]:
    env = {**os.environ, "REGISTRY_DATA_DIR": str(settings.data_dir), "REGISTRY_DATABASE_URL": settings.database_url}
    worker = subprocess.Popen(WORKER, env=env, stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    return worker


def test_sigkill_mid_batch_loses_nothing_and_the_log_verifies(runtime, settings):
    rng = random.Random(4)
    append(runtime, 400)
    for _ in range(4):
        worker = _start(settings)
        append(runtime, 50)  # entries keep arriving while the sequencer runs
        time.sleep(rng.uniform(0.05, 0.4))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    runtime.sequencer.drain()
    runtime.sequencer.checkpoint()
    with Session(runtime.engine) as session:
        entries = session.exec(select(AuditEntry.id)).all()
        seqs = session.exec(select(AuditLeaf.seq).order_by(AuditLeaf.seq)).all()
    assert len(seqs) == len(entries) and seqs == list(range(len(entries)))
    report = verify_log(runtime.engine, runtime.provider.public_key(), runtime.settings.audit_origin)
    assert report.ok, report.problems
    assert report.checkpoints_checked >= 1
