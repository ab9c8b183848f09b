"""What an operator sees (issue 18): `/metrics` carries the sequencer's backlog, checkpoint
age, verify results, login failures and lockouts, jobs and sweeps, read from the database;
the API docs load nothing from an outside host; the alert rules name only metrics the
service exposes (`promtool` checks and tests them)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from registry.api.app import create_app
from registry.scheduler import Scheduler
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus"


def _scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    got = client.get("/metrics")
    assert got.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(got.text)
        for s in family.samples
    }


def _value(samples, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_follow_logins_lockouts_the_log_jobs_and_sweeps(client, runtime, bootstrap, clock):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.m", ["police"], "320571")
    before = _scrape(client)
    failures = _value(before, "registry_login_failures_total")
    assert _value(before, "registry_accounts_locked") == 0
    assert _value(before, "registry_audit_pending_entries") >= 0
    assert _value(before, "registry_audit_sequencer_lag_seconds") >= 0

    for _ in range(runtime.settings.login_max_failures):
        form = {"grant_type": "password", "username": "police.m", "password": "wrong-" + STRONG_PASSWORD}
        assert client.post("/api/v1/auth/token", data=form).status_code == 401
    locked = _scrape(client)
    assert _value(locked, "registry_login_failures_total") == failures + runtime.settings.login_max_failures
    assert _value(locked, "registry_login_lockouts_total") == 1
    assert _value(locked, "registry_accounts_locked") == 1

    while runtime.sequencer.sequence_batch():
        pass
    runtime.sequencer.checkpoint()
    scheduler = Scheduler(runtime)
    try:
        ran = scheduler.tick()
    finally:
        scheduler.leadership.release()
    while runtime.sequencer.sequence_batch():  # what the sweeps wrote
        pass
    after = _scrape(client)
    assert _value(after, "registry_audit_pending_entries") == 0 and _value(after, "registry_audit_tree_size") > 0
    assert _value(after, "registry_audit_checkpoint_age_seconds") >= 0
    # The daily verify ran (a sweep) and is on the record: passed.
    assert _value(after, "registry_audit_verify_runs_total", result="ok") == 1
    assert _value(after, "registry_audit_verify_last_ok") == 1
    assert _value(after, "registry_jobs", kind="sweep", status="done") == len(ran)
    day = _value(after, "registry_sweep_last_run_day_timestamp_seconds", sweep="audit_verify")
    assert day == (clock.now().date().toordinal() - 719_163) * 86_400
    # Nothing of a person, an account or a request is a label.
    text = client.get("/metrics").text
    assert "police.m" not in text and bootstrap[0] + '"' not in text


def test_the_api_docs_load_nothing_from_an_outside_host(client):
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        got = client.get(page)
        assert got.status_code == 200, page
        assert not re.search(r"https?://|//cdn", got.text), page
        for asset in re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', got.text):
            assert asset.startswith("/") and not asset.startswith("//"), (page, asset)
            assert client.get(asset).status_code == 200, asset


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.geteuid() == 0:
            pytest.fail("promtool is missing: scripts/system-deps installs Debian's prometheus")
        pytest.skip("promtool is not installed (as root, scripts/system-deps installs it)")
    return path


def test_the_alert_rules_check_and_pass_their_tests():
    promtool = _promtool()
    subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=RULES, check=True, capture_output=True)
    tested = subprocess.run([promtool, "test", "rules", "alerts.test.yml"], cwd=RULES, capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_alert_rules_name_only_metrics_the_service_exposes(client):
    exposed = {s.name for family in text_string_to_metric_families(client.get("/metrics").text) for s in family.samples}
    exposed |= {f.name for f in text_string_to_metric_families(client.get("/metrics").text)}
    rules = (RULES / "alerts.yml").read_text()
    named = set(re.findall(r"\b(registry_[a-z_]+)", rules))
    assert named and named <= exposed | {"registry"}, named - exposed


def test_a_metrics_token_shuts_metrics_to_everyone_else(runtime):
    guarded = replace(
        runtime, settings=runtime.settings.model_copy(update={"metrics_token": SecretStr("s3cret-token")})
    )
    with TestClient(create_app(guarded), raise_server_exceptions=False) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        got = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert got.status_code == 200 and "registry_audit_tree_size" in got.text
        assert client.get("/healthz").status_code == 200  # only the figures are shut
