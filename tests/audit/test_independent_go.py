"""Checkpoints and proofs, as served over HTTP, checked by an independent implementation:
Go's golang.org/x/mod/sumdb/note (signed notes) and sumdb/tlog (RFC 6962 proofs), from
Debian's golang-golang-x-mod-dev, built offline (tests/audit/go/tlogcheck.go).

Only the published verifier key and the notes are trusted by the Go side: roots come from
notes that verify, never from the test. A tampered note or a wrong leaf must fail there.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, select

from registry.audit.canonical import entry_bytes
from registry.audit.checkpoints import verifier_key
from registry.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from tests.api_helpers import STRONG_PASSWORD, as_user, create_user
from tests.support.audit import append

SOURCE = Path(__file__).parent / "go" / "tlogcheck.go"
GOPATH = "/usr/share/gocode"  # where Debian's golang-*-dev packages put their sources


@pytest.fixture(scope="session")
def tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed (Debian: golang-go golang-golang-x-mod-dev, see scripts/system-deps)")
    work = tmp_path_factory.mktemp("go")
    binary = work / "tlogcheck"
    # GOPATH mode over the Debian sources, no module proxy: the build never touches the network.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(work),
        "GO111MODULE": "off",
        "GOPATH": GOPATH,
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOCACHE": str(work / "cache"),
        "CGO_ENABLED": "0",
    }
    built = subprocess.run(
        [go, "build", "-o", str(binary), str(SOURCE)], env=env, capture_output=True, text=True, timeout=300
    )
    # With Go present, a missing golang.org/x/mod is a failure, not a reason to skip.
    assert built.returncode == 0, f"go build failed (is golang-golang-x-mod-dev installed?):\n{built.stderr}"
    return binary


def check(binary: Path, request: dict) -> dict:
    done = subprocess.run([str(binary)], input=json.dumps(request), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def served(client, bootstrap, runtime):
    """Two checkpoints served over HTTP, the proofs between them, and the entries' bytes."""
    admin = as_user(client, *bootstrap)
    create_user(client, admin, "auditor.go", ["auditor"], None)
    auditor = as_user(client, "auditor.go", STRONG_PASSWORD)

    def get(path: str) -> dict:
        response = client.get(path, headers=auditor)
        assert response.status_code == 200, response.text
        return response.json()

    def signed_after(n: int) -> dict:
        """Append n entries and wait until a checkpoint covers them. The app's own sequencer
        thread runs too, and on PostgreSQL a drain here yields while it leads."""
        append(runtime, n)
        with Session(runtime.engine) as session:
            target = session.exec(select(sa.func.count()).select_from(AuditEntry)).one()
        deadline = time.monotonic() + 30
        while True:
            runtime.sequencer.drain()
            runtime.sequencer.checkpoint()
            with Session(runtime.engine) as session:
                size = session.exec(select(sa.func.max(AuditCheckpoint.size))).one() or 0
            if size >= target:
                return get("/api/v1/audit/checkpoint")
            assert time.monotonic() < deadline, "no checkpoint covered the entries"
            time.sleep(0.05)

    old = signed_after(13)
    new = signed_after(29)
    assert new["size"] > old["size"] > 1
    seqs = sorted({0, 1, old["size"] - 1, old["size"], new["size"] // 2, new["size"] - 1})
    inclusion = [
        {"index": seq, "size": size, **get(f"/api/v1/audit/proofs/inclusion?seq={seq}&size={size}")}
        for size in (old["size"], new["size"])
        for seq in seqs
        if seq < size
    ]
    # Read after the requests: on SQLite an open session would hold up their audit writes.
    with Session(runtime.engine) as session:
        for item in inclusion:
            entry = session.get(AuditEntry, session.get(AuditLeaf, item["index"]).entry_id)
            item |= {"leaf": item.pop("leaf_hash"), "proof": item.pop("hashes")}
            item["data"] = base64.b64encode(entry_bytes(entry)).decode()
            del item["seq"]
    consistency = get(f"/api/v1/audit/proofs/consistency?from={old['size']}&to={new['size']}")
    return {
        "vkey": get("/api/v1/audit/verifier-key")["vkey"],
        "origin": new["origin"],
        "notes": [old["note"], new["note"]],
        "sizes": (old["size"], new["size"]),
        "inclusion": inclusion,
        "consistency": [{"old": old["size"], "new": new["size"], "proof": consistency["hashes"]}],
    }


def request_of(served: dict, **changes) -> dict:
    keys = ("vkey", "notes", "inclusion", "consistency")
    return {key: served[key] for key in keys} | changes


def test_go_verifies_notes_inclusion_and_consistency(tlogcheck, served):
    result = check(tlogcheck, request_of(served))
    assert result["key_name"] == served["origin"]
    assert [n["ok"] for n in result["notes"]] == [True, True], result["notes"]
    assert [n["size"] for n in result["notes"]] == list(served["sizes"])
    assert all(n["timestamp"] > 0 for n in result["notes"])
    assert len(result["inclusion"]) == len(served["inclusion"]) >= 8
    assert all(r["ok"] for r in result["inclusion"]), result["inclusion"]
    assert result["consistency"] == [{"ok": True, "size": served["sizes"][1]}]


def flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    return base64.b64encode(raw).decode()


def test_go_rejects_a_tampered_note(tlogcheck, served):
    old, new = served["notes"]
    size = str(served["sizes"][1])
    tampered = new.replace(f"\n{size}\n", f"\n{int(size) + 1}\n", 1)
    assert tampered != new
    result = check(tlogcheck, request_of(served, notes=[old, tampered]))
    assert result["notes"][0]["ok"] and not result["notes"][1]["ok"]
    # Without a verified note of that size, nothing is proved against it.
    assert not any(r["ok"] for r in result["inclusion"] if r.get("size") == served["sizes"][1])
    assert not result["consistency"][0]["ok"]


def test_go_rejects_a_note_under_another_key(tlogcheck, served):
    impostor = verifier_key(served["origin"], Ed25519PrivateKey.generate().public_key())
    result = check(tlogcheck, request_of(served, vkey=impostor))
    assert not any(n["ok"] for n in result["notes"])
    # Go recomputes the key hash: a vkey whose hash does not match its key is refused outright.
    name, key_hash, material = served["vkey"].split("+", 2)
    mismatched = f"{name}+{key_hash}+{impostor.split('+', 2)[2]}"
    refused = subprocess.run(
        [str(tlogcheck)], input=json.dumps(request_of(served, vkey=mismatched)), capture_output=True, text=True
    )
    assert refused.returncode == 2 and "invalid verifier hash" in refused.stderr


def test_go_rejects_a_wrong_leaf_or_proof(tlogcheck, served):
    first = served["inclusion"][0]
    other = served["inclusion"][1]
    wrong = [
        first | {"leaf": flip(first["leaf"])},  # leaf hash of nothing in the log
        first | {"leaf": other["leaf"], "data": other["data"]},  # another entry's leaf at this index
        first | {"data": other["data"]},  # bytes that do not hash to the leaf
        other | {"proof": [flip(other["proof"][0]), *other["proof"][1:]]},
    ]
    result = check(tlogcheck, request_of(served, inclusion=wrong))
    assert [r["ok"] for r in result["inclusion"]] == [False] * len(wrong), result["inclusion"]
    bad = served["consistency"][0]
    result = check(
        tlogcheck, request_of(served, consistency=[bad | {"proof": [flip(bad["proof"][0]), *bad["proof"][1:]]}])
    )
    assert not result["consistency"][0]["ok"]
