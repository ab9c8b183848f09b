"""The console's in-browser audit verifier (registry/console/static/verify.js) run on Node's
WebCrypto against vectors made by the project's own Merkle tree and checkpoint signer, so
the JavaScript and Python verifiers cannot drift apart unnoticed.

Each test batches its calls into one `node` run: a process start costs more than the checks.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import textwrap
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.audit.canonical import record_bytes
from registry.audit.checkpoints import Checkpoint, sign_checkpoint, sign_note, verifier_key
from registry.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    HashSource,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

STATIC = Path(__file__).resolve().parents[2] / "registry" / "console" / "static"
ORIGIN = "registry.example.org/audit"
LEAVES = 64
SIZE = 40  # the checkpoint the entries are proved against
SEQ = 11
PROOF_URL = "/console/audit/events/12/proof.json"

# Go's sumdb/note documentation example, signed by Go's implementation (as in test_checkpoints).
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1"
    + "FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# Calls one exported function per item; {"b64": ...} marks bytes, and bytes come back as {"hex": ...}.
RUN_CALLS = textwrap.dedent(
    """
    import fs from 'node:fs';
    const verify = await import(process.argv[2]);
    const calls = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
    const revive = (v) => {
      if (Array.isArray(v)) return v.map(revive);
      if (v === null || typeof v !== 'object') return v;
      if (typeof v.b64 === 'string') return Uint8Array.from(atob(v.b64), (c) => c.charCodeAt(0));
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
    };
    const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    const out = [];
    for (const [fn, args] of calls) {
      try {
        out.push(await verify[fn](...revive(args)));
      } catch (error) {
        out.push({ error: { name: error.name, reason: error.reason ?? null, message: error.message } });
      }
    }
    console.log(JSON.stringify(out, (k, v) => (v instanceof Uint8Array ? { hex: hex(v) } : v)));
    """
)

# verify-page.js on a stand-in DOM that refuses innerHTML and inline styles: clicks, then
# what the page showed, fetched and kept after each one.
RUN_PAGE = textwrap.dedent(
    """
    import fs from 'node:fs';
    const [moduleDir, stepsPath, proofUrl] = process.argv.slice(2);
    const steps = JSON.parse(fs.readFileSync(stepsPath, 'utf8'));
    const PIN = 'registry.audit.pin';

    class FakeElement {
      constructor(tag) {
        this.tagName = tag.toUpperCase();
        this.nodes = [];
        this.dataset = {};
        this.listeners = {};
        this.disabled = false;
        const names = new Set();
        this.names = names;
        this.classList = {
          add: (...n) => n.forEach((x) => names.add(x)),
          remove: (...n) => n.forEach((x) => names.delete(x)),
          toggle: (n, force) => ((force ?? !names.has(n)) ? names.add(n) : names.delete(n), names.has(n)),
          contains: (n) => names.has(n),
        };
      }
      set textContent(value) { this.nodes = [String(value)]; }
      get textContent() { return this.nodes.map((n) => (typeof n === 'string' ? n : n.textContent)).join(''); }
      append(...nodes) { this.nodes.push(...nodes); }
      replaceChildren(...nodes) { this.nodes = nodes; }
      addEventListener(type, listener) { this.listeners[type] = listener; }
      set innerHTML(value) { throw new Error('innerHTML under a strict CSP'); }
      get style() { throw new Error('inline style under a strict CSP'); }
      tags() { return [this.tagName, ...this.nodes.flatMap((n) => (typeof n === 'string' ? [] : n.tags()))]; }
    }

    const page = {};
    const ids = { verify: 'section', 'verify-button': 'button', 'verify-result': 'output', 'verify-forget': 'button' };
    for (const [id, tag] of Object.entries(ids)) page[id] = new FakeElement(tag);
    page.verify.dataset.proofUrl = proofUrl;
    const stored = new Map();
    globalThis.localStorage = {
      getItem: (k) => (stored.has(k) ? stored.get(k) : null),
      setItem: (k, v) => stored.set(k, String(v)),
      removeItem: (k) => stored.delete(k),
    };
    globalThis.location = { href: 'https://console.example.org/console/audit/events/12' };
    globalThis.document = { createElement: (tag) => new FakeElement(tag), getElementById: (id) => page[id] ?? null };
    let answer = null;
    let fetched = null;
    globalThis.fetch = async (url, options) => {
      fetched = { url, credentials: options.credentials };
      return { ok: answer.status === 200, status: answer.status, json: async () => answer.material };
    };
    await import(`${moduleDir}/verify-page.js`);

    const out = [];
    for (const step of steps) {
      if (step.stored === null) stored.delete(PIN);
      else if (step.stored !== undefined) stored.set(PIN, step.stored);
      answer = step;
      fetched = null;
      await page[step.click].listeners.click();
      const result = page['verify-result'];
      out.push({
        fetched,
        state: result.dataset.state,
        classes: [...result.names].sort(),
        text: result.textContent,
        tags: result.tags(),
        pin: stored.get(PIN) ?? null,
        buttonDisabled: page['verify-button'].disabled,
      });
    }
    console.log(JSON.stringify(out));
    """
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def as_bytes(data: bytes) -> dict[str, str]:
    return {"b64": b64(data)}


def flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def entry_record(entry_id: int) -> dict[str, Any]:
    """An entry's columns with synthetic opaque ids only (a Chinese reason to exercise UTF-8)."""
    return {
        "id": entry_id,
        "at": datetime(2026, 1, 5, 9, tzinfo=UTC) + timedelta(seconds=entry_id),
        "actor_id": str(uuid.UUID(int=entry_id)),
        "actor_roles": ["auditor"],
        "actor_org_unit": "110000",
        "action": "person.read",
        "targets": [str(uuid.UUID(int=10_000 + entry_id))],
        "fields": ["residence"],
        "search_token": None,
        "purpose": "case_review",
        "break_glass_grant": None,
        "outcome": "ok",
        "reason": "例行复核",
        "request_id": f"req-{entry_id:06d}",
        "client_addr": None,
        "client_request_id": None,
    }


def tree(hashes: list[bytes]) -> HashSource:
    """The stored aligned subtrees of a tree over `hashes`, as the sequencer keeps them."""
    frontier, store = Frontier(), {}
    for leaf in hashes:
        for level, index, node in frontier.append(leaf):
            store[level, index] = node
    return lambda level, index: store[level, index]


@dataclass
class Log:
    key: Ed25519PrivateKey
    data: list[bytes]
    get: HashSource
    hashes: list[bytes] = field(default_factory=list)

    @property
    def vkey(self) -> str:
        return verifier_key(ORIGIN, self.key.public_key())

    def root(self, size: int) -> bytes:
        return subtree_hash(self.get, 0, size)

    def checkpoint(self, size: int) -> Checkpoint:
        return Checkpoint(origin=ORIGIN, size=size, root_hash=self.root(size), timestamp=1767225600 + size)

    def note(self, size: int, key: Ed25519PrivateKey | None = None) -> str:
        key = key or self.key
        return sign_checkpoint(self.checkpoint(size), sign=key.sign, public_key=key.public_key())

    def pin(self, size: int) -> dict[str, Any]:
        return {"vkey": self.vkey, "size": size, "root": b64(self.root(size))}

    def material(self, seq: int = SEQ, size: int = SIZE, *, pinned: int | None = None) -> dict[str, Any]:
        """Shaped as the console's /console/audit/events/{id}/proof.json."""
        checkpoint = self.checkpoint(size)
        consistency = None
        if pinned is not None and 0 < pinned < size:
            hashes = consistency_proof(self.get, pinned, size)
            consistency = {"from": pinned, "to": size, "hashes": [b64(h) for h in hashes]}
        return {
            "entry": {"id": seq + 1, "seq": seq, "canonical": b64(self.data[seq])},
            "inclusion": {
                "seq": seq,
                "size": size,
                "leaf_hash": b64(self.hashes[seq]),
                "hashes": [b64(h) for h in inclusion_proof(self.get, seq, size)],
            },
            "checkpoint": {
                "origin": ORIGIN,
                "size": size,
                "root_hash": b64(checkpoint.root_hash),
                "timestamp": checkpoint.timestamp,
                "key_id": "audit-ed25519-v1",  # the key provider's name for it, as the API serves
                "note": self.note(size),
            },
            "vkey": self.vkey,
            "consistency": consistency,
        }


@pytest.fixture(scope="module")
def log() -> Log:
    data = [record_bytes(entry_record(seq + 1)) for seq in range(LEAVES)]
    hashes = [leaf_hash(d) for d in data]
    return Log(key=Ed25519PrivateKey.generate(), data=data, get=tree(hashes), hashes=hashes)


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two modules as served, beside a package.json that makes Node load them as ES modules."""
    folder = tmp_path_factory.mktemp("static")
    for name in ("verify.js", "verify-page.js"):
        shutil.copy(STATIC / name, folder / name)
    (folder / "package.json").write_text('{"type": "module"}')
    (folder / "run.mjs").write_text(RUN_CALLS)
    (folder / "page.mjs").write_text(RUN_PAGE)
    return folder


def node(modules: Path, runner: str, *args: str) -> Any:
    run = subprocess.run(["node", str(modules / runner), *args], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def call_all(modules: Path, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    (modules / "calls.json").write_text(json.dumps(calls))
    return node(modules, "run.mjs", str(modules / "verify.js"), str(modules / "calls.json"))  # type: ignore[no-any-return]


def test_merkle_verifiers_agree_with_python(modules: Path) -> None:
    """Every index and old size of every tree up to 17 leaves, with right and wrong proofs,
    roots, indices and sizes: JavaScript answers exactly as merkle.py does."""
    hashes = [leaf_hash(b"leaf %d" % i) for i in range(18)]
    get = tree(hashes)
    roots = [subtree_hash(get, 0, n) for n in range(19)]  # roots[18] is never a real tree's
    roots[18] = flip(roots[17])
    inclusion: list[tuple[bytes, Any, Any, list[bytes], bytes]] = []
    consistency: list[tuple[Any, Any, bytes, bytes, list[bytes]]] = []
    for size in range(1, 18):
        for index in range(size):
            proof = inclusion_proof(get, index, size)
            leaf, root = hashes[index], roots[size]
            inclusion += [
                (leaf, index, size, proof, root),
                (leaf, index + 1, size, proof, root),
                (leaf, index ^ 1, size, proof, root),
                (leaf, index, size + 1, proof, roots[size + 1]),
                (leaf, index, size - 1, proof, roots[size - 1]),
                (leaf, index, size, proof[:-1], root),
                (leaf, index, size, [*proof, leaf], root),
                (leaf, index, size, proof[:-1] + [flip(h) for h in proof[-1:]], root),
                (flip(leaf), index, size, proof, root),
                (leaf, index, size, proof, roots[size - 1]),
            ]
        for old in range(size + 1):
            proof = consistency_proof(get, old, size)
            consistency += [
                (old, size, roots[old], roots[size], proof),
                (old, size + 1, roots[old], roots[size + 1], proof),
                (old + 1, size, roots[old + 1], roots[size], proof),
                (old - 1, size, roots[max(old - 1, 0)], roots[size], proof)
                if old
                else (0, size, EMPTY_ROOT, roots[size], [hashes[0]]),
                (old, size, flip(roots[old]), roots[size], proof),
                (old, size, roots[old], flip(roots[size]), proof),
                (old, size, roots[old], roots[size], proof[:-1]),
                (old, size, roots[old], roots[size], [*proof, roots[old]]),
                (old, size, roots[old], roots[size], [flip(h) for h in proof[:1]] + proof[1:]),
                (size, old, roots[size], roots[old], proof),
            ]
    # Edge cases and inputs a page could be handed; Python gets the same values.
    inclusion += [
        (hashes[0], 0, 0, [], hashes[0]),
        (hashes[0], -1, 3, inclusion_proof(get, 0, 3), roots[3]),
        (hashes[0], 0, 1.5, [], roots[1]),
        (hashes[0][:31], 0, 1, [], hashes[0][:31]),
        (hashes[0], 0, 1, [], hashes[0]),
    ]
    consistency += [
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, []),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (0, 5, EMPTY_ROOT, roots[5], []),
        (0, 5, roots[1], roots[5], []),
        (3, 3, roots[3], roots[3], [roots[3]]),
        (-1, 3, roots[1], roots[3], []),
        (2, 5, roots[2][:31], roots[5], consistency_proof(get, 2, 5)),
    ]
    expected = [verify_inclusion(*case) for case in inclusion] + [verify_consistency(*case) for case in consistency]
    assert 0 < sum(expected) < len(expected)  # both answers are exercised

    def js_args(case: tuple[Any, ...]) -> list[Any]:
        return [
            as_bytes(a) if isinstance(a, bytes) else [as_bytes(h) for h in a] if isinstance(a, list) else a
            for a in case
        ]

    calls = [("verifyInclusion", js_args(c)) for c in inclusion] + [
        ("verifyConsistency", js_args(c)) for c in consistency
    ]
    got = call_all(modules, calls)
    disagreements = [
        (name, args, want) for (name, args), want, have in zip(calls, expected, got, strict=True) if want != have
    ]
    assert not disagreements, disagreements[:5]


def test_keys_notes_and_leaves_as_python_and_go_make_them(modules: Path, log: Log) -> None:
    note = log.note(SIZE)
    key_hash = log.vkey.split("+")[1]
    go_key = {"name": "PeterNeumann", "keyHash": {"b64": b64(bytes.fromhex("c74f20a3"))}}
    go_key["publicKey"] = {"b64": b64(base64.b64decode(GO_VKEY.split("+")[2])[1:])}
    altered = GO_NOTE.replace("cryptography", "cryptographY")
    extended = sign_note(
        log.checkpoint(SIZE).body() + "extra line\n", name=ORIGIN, sign=log.key.sign, public_key=log.key.public_key()
    )
    calls: list[tuple[str, list[Any]]] = [
        ("parseVerifierKey", [log.vkey]),
        ("parseVerifierKey", [GO_VKEY]),
        ("parseVerifierKey", [GO_VKEY.replace("c74f20a3", "c74f20a4")]),
        ("parseVerifierKey", [GO_VKEY + "+more"]),
        ("openNoteText", [GO_NOTE, go_key]),
        ("openNoteText", [altered, go_key]),
        ("openNote", [note, log.vkey]),
        ("openNote", [note.replace(f"\n{SIZE}\n", f"\n{SIZE + 1}\n"), log.vkey]),
        ("openNote", [note, verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())]),
        ("openNote", [extended, log.vkey]),
        ("openNote", [note.replace("\n\n", "\n"), log.vkey]),
        ("leafHash", [as_bytes(log.data[SEQ])]),
    ]
    vkey, go, go_altered_hash, go_extra, go_text, go_altered, opened, edited, other_key, extra_line, unsigned, leaf = (
        call_all(modules, calls)
    )
    public = log.key.public_key().public_bytes_raw()
    assert vkey == {"name": ORIGIN, "keyHash": {"hex": key_hash}, "publicKey": {"hex": public.hex()}}
    assert go["name"] == "PeterNeumann" and go["keyHash"] == {"hex": "c74f20a3"}
    assert go_altered_hash["error"]["reason"] == go_extra["error"]["reason"] == "malformed_key"
    assert go_text == GO_TEXT and go_altered["error"]["reason"] == "signature"
    root = log.root(SIZE)
    assert opened == {"origin": ORIGIN, "size": SIZE, "root": {"hex": root.hex()}, "timestamp": 1767225600 + SIZE}
    assert edited["error"]["reason"] == other_key["error"]["reason"] == "signature"
    assert extra_line["error"]["reason"] == unsigned["error"]["reason"] == "malformed_note"
    assert leaf == {"hex": log.hashes[SEQ].hex()}


def test_entries_verify_and_every_refusal_has_its_reason(modules: Path, log: Log) -> None:
    other = Ed25519PrivateKey.generate()
    other_vkey = verifier_key(ORIGIN, other.public_key())

    def material(**changes: Any) -> dict[str, Any]:
        served = log.material(pinned=changes.pop("pinned", None))
        for path, value in changes.items():
            *parents, name = path.split("__")
            target = served
            for parent in parents:
                target = target[parent]
            if value is None:
                target.pop(name)
            else:
                target[name] = value
        return served

    tampered = log.data[SEQ].replace(b"person.read", b"person.reae")
    proof = log.material()["inclusion"]["hashes"]
    witness = Ed25519PrivateKey.generate()
    cosignature = sign_note(
        log.checkpoint(SIZE).body(), name="witness.example.org", sign=witness.sign, public_key=witness.public_key()
    ).splitlines(keepends=True)[-1]
    wrong_origin = Checkpoint(origin="elsewhere.example.org/log", size=SIZE, root_hash=log.root(SIZE), timestamp=1)
    pinned_elsewhere = {**log.pin(30), "root": b64(log.root(29))}
    cases: dict[str, tuple[dict[str, Any], Any]] = {
        "first use": (material(), None),
        "pinned smaller": (material(pinned=30), log.pin(30)),
        "pinned same size": (material(), log.pin(SIZE)),
        "pin without a key": (material(pinned=30), {"size": 30, "root": b64(log.root(30))}),
        "cosigned by a witness": (material(checkpoint__note=log.note(SIZE) + cosignature), log.pin(SIZE)),
        "tampered entry": (material(entry__canonical=b64(tampered)), None),
        "tampered entry, no leaf hash served": (
            material(entry__canonical=b64(tampered), inclusion__leaf_hash=None),
            None,
        ),
        "tampered proof": (material(inclusion__hashes=[b64(flip(base64.b64decode(proof[0]))), *proof[1:]]), None),
        "proof for another size": (material(inclusion__size=30), None),
        "other entry's seq": (material(entry__seq=SEQ + 1), None),
        "other entry's id": (material(entry__id=SEQ + 5), None),
        "key changed": (material(checkpoint__note=log.note(SIZE, other), vkey=other_vkey, pinned=30), log.pin(30)),
        "signed by another key": (material(checkpoint__note=log.note(SIZE, other)), None),
        "signed by another key, pinned": (material(checkpoint__note=log.note(SIZE, other)), log.pin(SIZE)),
        "size edited in the note": (
            material(
                checkpoint__note=log.note(SIZE).replace(f"\n{SIZE}\n", f"\n{SIZE + 1}\n"), checkpoint__size=SIZE + 1
            ),
            None,
        ),
        "size served beside the note differs": (material(checkpoint__size=SIZE + 1), None),
        "root served beside the note differs": (material(checkpoint__root_hash=b64(log.root(30))), None),
        "note for another origin": (
            material(
                checkpoint__note=sign_note(
                    wrong_origin.body(), name=ORIGIN, sign=log.key.sign, public_key=log.key.public_key()
                )
            ),
            None,
        ),
        "pin's root differs": (material(pinned=30), pinned_elsewhere),
        "no consistency proof from the pin": (material(), log.pin(30)),
        "pin larger than the note": (material(), log.pin(50)),
        "unreadable pin": (material(), {"size": "30", "root": "x"}),
        "no material": ({}, None),
    }
    results = dict(zip(cases, call_all(modules, [("verifyEntry", list(c)) for c in cases.values()]), strict=True))
    reasons = {name: r["reason"] for name, r in results.items()}
    assert reasons == {
        "first use": None,
        "pinned smaller": None,
        "pinned same size": None,
        "pin without a key": None,
        "cosigned by a witness": None,
        "tampered entry": "leaf_mismatch",
        "tampered entry, no leaf hash served": "inclusion",
        "tampered proof": "inclusion",
        "proof for another size": "inclusion",
        "other entry's seq": "entry_mismatch",
        "other entry's id": "entry_mismatch",
        "key changed": "key_changed",
        "signed by another key": "signature",
        "signed by another key, pinned": "signature",
        "size edited in the note": "signature",
        "size served beside the note differs": "checkpoint_mismatch",
        "root served beside the note differs": "checkpoint_mismatch",
        "note for another origin": "checkpoint_mismatch",
        "pin's root differs": "history_differs",
        "no consistency proof from the pin": "history_differs",
        "pin larger than the note": "history_shrank",
        "unreadable pin": "bad_pin",
        "no material": "malformed",
    }
    for name, result in results.items():
        assert result["ok"] == (reasons[name] is None), name
        assert (result["newPin"] is not None) == result["ok"], name

    first = results["first use"]
    assert first["warnings"] == ["first_use"] and first["checkedFrom"] is None
    assert first["leafHash"] == b64(log.hashes[SEQ]) and first["root"] == b64(log.root(SIZE))
    assert first["size"] == SIZE and first["keyName"] == ORIGIN and first["vkey"] == log.vkey
    assert first["entry"] == json.loads(log.data[SEQ]) and first["entry"]["reason"] == "例行复核"
    assert (first["entryId"], first["seq"]) == (SEQ + 1, SEQ)
    assert first["newPin"] == log.pin(SIZE)
    smaller = results["pinned smaller"]
    assert smaller["warnings"] == [] and smaller["checkedFrom"] == 30 and smaller["newPin"] == log.pin(SIZE)
    assert results["pin without a key"]["warnings"] == ["first_use"]
    changed = results["key changed"]
    assert changed["servedVkey"] == other_vkey and changed["vkey"] is None and changed["newPin"] is None
    # The leaf hash shown on a refusal is still the one computed here, not the served one.
    assert results["tampered entry"]["leafHash"] == b64(leaf_hash(tampered))


def test_the_page_pins_only_what_verified(modules: Path, log: Log) -> None:
    source = (STATIC / "verify-page.js").read_text()
    for forbidden in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        ".style",
        "eval(",
        "new Function",
        "document.write",
    ):
        assert forbidden not in source, forbidden
    other = Ed25519PrivateKey.generate()
    switched = log.material(pinned=SIZE)
    switched["checkpoint"]["note"] = log.note(SIZE, other)
    switched["vkey"] = verifier_key(ORIGIN, other.public_key())
    pin_30 = json.dumps(log.pin(30))
    steps = [
        {"click": "verify-button", "stored": None, "status": 200, "material": log.material()},
        {"click": "verify-button", "stored": pin_30, "status": 200, "material": log.material(pinned=30)},
        {"click": "verify-button", "status": 200, "material": switched},
        {"click": "verify-button", "status": 503, "material": {}},
        {"click": "verify-forget"},
        {"click": "verify-button", "stored": "not json", "status": 200, "material": log.material()},
    ]
    (modules / "steps.json").write_text(json.dumps(steps))
    first, pinned, changed, unavailable, forgotten, unreadable = node(
        modules, "page.mjs", str(modules), str(modules / "steps.json"), PROOF_URL
    )

    page = "https://console.example.org"
    assert first["fetched"] == {"url": page + PROOF_URL, "credentials": "same-origin"}
    assert first["state"] == "verified" and first["classes"] == ["verified"] and "已验证 Verified" in first["text"]
    assert log.vkey in first["text"] and "out of band" in first["text"]  # trust on first use: compare the key
    assert b64(log.hashes[SEQ]) in first["text"] and "person.read" in first["text"] and "DL" in first["tags"]
    assert json.loads(first["pin"]) == log.pin(SIZE) and not first["buttonDisabled"]

    assert pinned["fetched"]["url"] == f"{page}{PROOF_URL}?from=30"
    assert (
        pinned["state"] == "verified" and log.vkey not in pinned["text"] and json.loads(pinned["pin"]) == log.pin(SIZE)
    )

    assert changed["fetched"]["url"] == f"{page}{PROOF_URL}?from={SIZE}"
    assert changed["state"] == "failed" and changed["classes"] == ["failed"]
    assert "验证失败 Verification failed: key_changed" in changed["text"] and switched["vkey"] in changed["text"]
    assert json.loads(changed["pin"]) == log.pin(SIZE)  # never re-pinned to the key the server switched to

    assert (
        unavailable["state"] == "failed"
        and "fetch" in unavailable["text"]
        and "HTTP 503" in unavailable["text"]
        and json.loads(unavailable["pin"]) == log.pin(SIZE)
    )
    assert forgotten["state"] == "cleared" and forgotten["pin"] is None and forgotten["fetched"] is None
    assert unreadable["fetched"]["url"] == page + PROOF_URL
    assert unreadable["state"] == "failed" and "bad_pin" in unreadable["text"] and unreadable["pin"] == "not json"
